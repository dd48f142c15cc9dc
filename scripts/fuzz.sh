#!/usr/bin/env bash
# Fuzzes the W3C traceparent, tracestate and baggage parsers with libFuzzer for a fixed time.
#   scripts/fuzz.sh [seconds]   (default 300)
# Every input that crashes is copied into Tests/TracingSDKTests/FuzzCorpus, where the unit tests
# replay it from then on: commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-300}
CORPUS=Tests/TracingSDKTests/FuzzCorpus
WORK=.build-fuzz/corpus
mkdir -p "$WORK" .build-fuzz/crashes
cp "$CORPUS"/* "$WORK"/ 2>/dev/null || true

swift build --scratch-path .build-fuzz/build -c release --product PropagationFuzzer \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING
FUZZER="$(swift build --scratch-path .build-fuzz/build -c release --show-bin-path)/PropagationFuzzer"

status=0
"$FUZZER" -max_total_time="$SECONDS_TO_RUN" -max_len=70000 -artifact_prefix=.build-fuzz/crashes/ "$WORK" || status=$?
for crash in .build-fuzz/crashes/*; do
    [ -e "$crash" ] || continue
    cp "$crash" "$CORPUS/"
    echo "kept $(basename "$crash") in $CORPUS: fix the parser, and commit it as a regression test" >&2
done
exit $status
