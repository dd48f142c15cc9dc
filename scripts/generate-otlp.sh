#!/usr/bin/env bash
# Regenerates Sources/OTLPExporter/Generated from the official OpenTelemetry .proto files in
# ../shared/opentelemetry-proto (v1.11.0). Run by hand when the protos change; CI never runs it.
#
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-swift from swift-protobuf 1.39.0,
# which this script builds (about ten minutes the first time) unless PROTOC_GEN_SWIFT is set.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
protos="${OTEL_PROTO_DIR:-$root/../shared/opentelemetry-proto}"
out="$root/Sources/OTLPExporter/Generated"

command -v protoc >/dev/null || { echo "protoc is missing: apt-get install protobuf-compiler" >&2; exit 1; }
if [ -z "${PROTOC_GEN_SWIFT:-}" ]; then
    work="$root/.build-protoc-gen-swift"
    if [ ! -x "$work/swift-protobuf/.build/release/protoc-gen-swift" ]; then
        mkdir -p "$work"
        [ -d "$work/swift-protobuf" ] || git clone -q https://github.com/apple/swift-protobuf.git "$work/swift-protobuf"
        git -C "$work/swift-protobuf" checkout -q 1.39.0
        (cd "$work/swift-protobuf" && swift build -c release --product protoc-gen-swift)
    fi
    PROTOC_GEN_SWIFT="$work/swift-protobuf/.build/release/protoc-gen-swift"
fi

rm -f "$out"/*.pb.swift
protoc \
    --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" \
    --swift_opt=Visibility=Internal \
    --swift_opt=FileNaming=PathToUnderscores \
    --swift_out="$out" \
    -I "$protos" \
    opentelemetry/proto/common/v1/common.proto \
    opentelemetry/proto/resource/v1/resource.proto \
    opentelemetry/proto/trace/v1/trace.proto \
    opentelemetry/proto/collector/trace/v1/trace_service.proto \
    opentelemetry/proto/metrics/v1/metrics.proto \
    opentelemetry/proto/collector/metrics/v1/metrics_service.proto
echo "Generated: $(ls "$out"/*.pb.swift | xargs -n1 basename | tr '\n' ' ')"
