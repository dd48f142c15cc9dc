#!/usr/bin/env bash
# Every benchmark, side by side with librdkafka driven from C, in one run:
#   1. builds the C baseline (CBaseline/kafka_bench.c) and the Swift benchmarks (release);
#   2. starts an embedded Kafka broker (librdkafka's mock cluster) as its own process, and an
#      OTLP/HTTP sink for the sampled runs;
#   3. runs the C producer and consumer (and the consumer asking for each message's headers, the
#      floor for a client that hands headers on) and the Swift ones (raw, TracedProducer with tracing
#      disabled, unsampled, sampled with every span exported over OTLP, and the user's path: each
#      message under its own root span, unsampled and sampled; the raw consumer and the traced
#      one, unsampled and sampled), and the floor of the user's path (the user's `withSpan` root span
#      around a raw send of a message carrying a constant traceparent header, under the cheapest
#      tracer the API allows and under the built-in one; the raw send with that header alone; the
#      root span through `tracer.withSpan` instead of the global function), and the floor of a
#      traced handler (the raw consumer's loop with each message's traceparent read and a span of
#      that cheapest tracer made current around a handler closure; and without making it current,
#      the task-local binding's share) in alternating rounds
#      with the same message count and size,
#      and prints the median of each as a table: throughput, ratio to C, ns, CPU time (consumers:
#      every thread) and allocations per message, spans exported and dropped, peak memory; the
#      sampled producer also runs against a collector that refuses connections and one that
#      never answers (the Kafka path must keep its pace, memory bounded by the span queue);
#   4. measures the messaging metrics' cost over a traced handled message (MetricsCost,
#      interleaved rounds: the ordo rows drift more than that difference);
#   5. runs the ordo-one benchmarks (time and allocations per operation) against the same broker.
# Environment: BENCH_COUNT (messages per producer run, 1000000), BENCH_SIZE (bytes, 100),
# BENCH_CONSUME_COUNT (messages per consumer run, 100000), BENCH_ROUNDS (3),
# BENCH_SKIP_ORDO=1 to stop after the table.
set -euo pipefail
cd "$(dirname "$0")"

COUNT=${BENCH_COUNT:-1000000}
SIZE=${BENCH_SIZE:-100}
CONSUME_COUNT=${BENCH_CONSUME_COUNT:-100000}
ROUNDS=${BENCH_ROUNDS:-3}

echo "Building the C baseline and the Swift benchmarks (release)…" >&2
mkdir -p .build/cbaseline
# shellcheck disable=SC2046
cc -O2 -Wall -o .build/cbaseline/kafka_bench CBaseline/kafka_bench.c $(pkg-config --cflags --libs rdkafka) -ldl
swift build -c release --product KafkaThroughput >&2
BIN=$(swift build -c release --show-bin-path)
INTERPOSER="$BIN/libMallocInterposerSwift.so"
C="./.build/cbaseline/kafka_bench"
SWIFT="$BIN/KafkaThroughput"

# The broker and the OTLP sink run until their stdin closes (when this script exits).
coproc BROKER { "$C" broker 4 bench consume-source; }
read -r SERVERS <&"${BROKER[0]}"
coproc SINK { "$SWIFT" sink; }
read -r SINK_PORT <&"${SINK[0]}"
OTLP="http://127.0.0.1:$SINK_PORT/v1/traces"
coproc HUNG { "$SWIFT" sink hang; }
read -r HUNG_PORT <&"${HUNG[0]}"
HUNG_OTLP="http://127.0.0.1:$HUNG_PORT/v1/traces"
REFUSING_OTLP="http://127.0.0.1:9/v1/traces" # the discard port: nothing listens there
trap 'exec {BROKER[1]}>&- {SINK[1]}>&- {HUNG[1]}>&-; wait' EXIT
echo "Broker at $SERVERS, OTLP sink at $OTLP; $COUNT messages of $SIZE bytes per producer run, $CONSUME_COUNT per consumer run, $ROUNDS rounds." >&2

# The consumers read a topic filled once, each message carrying a traceparent header of a trace of
# its own, as a traced producer sends them: the traced consumers extract and continue real traces.
"$C" fill "$SERVERS" consume-source "$CONSUME_COUNT" "$SIZE" 4 >/dev/null

RESULTS=$(mktemp)
run() { # name, command...
    local name=$1
    shift
    local line
    line=$("$@" | grep '^result ') || { echo "$name failed" >&2; return 1; }
    echo "$name $line" | tee -a "$RESULTS" >&2
}
for round in $(seq "$ROUNDS"); do
    echo "Round $round" >&2
    run "C-producer" env LD_PRELOAD="$INTERPOSER" "$C" produce "$SERVERS" bench "$COUNT" "$SIZE"
    run "C-producer+traceparent-header" env LD_PRELOAD="$INTERPOSER" "$C" produce-traceparent "$SERVERS" bench "$COUNT" "$SIZE"
    run "Swift-KafkaProducer" "$SWIFT" produce raw "$SERVERS" bench "$COUNT" "$SIZE"
    run "Swift-KafkaProducer,traceparent-header" "$SWIFT" produce raw-header "$SERVERS" bench "$COUNT" "$SIZE"
    run "TracedProducer,tracing-disabled" "$SWIFT" produce traced-disabled "$SERVERS" bench "$COUNT" "$SIZE"
    run "TracedProducer,unsampled" "$SWIFT" produce traced-unsampled "$SERVERS" bench "$COUNT" "$SIZE" "$OTLP"
    run "TracedProducer,sampled+OTLP" "$SWIFT" produce traced-sampled "$SERVERS" bench "$COUNT" "$SIZE" "$OTLP"
    run "root-span+TracedProducer,unsampled" "$SWIFT" produce root-unsampled "$SERVERS" bench "$COUNT" "$SIZE" "$OTLP"
    run "root-span+TracedProducer,sampled+OTLP" "$SWIFT" produce root-sampled "$SERVERS" bench "$COUNT" "$SIZE" "$OTLP"
    run "tracer.withSpan-root-span+TracedProducer,unsampled" "$SWIFT" produce root-direct-unsampled "$SERVERS" bench "$COUNT" "$SIZE" "$OTLP"
    run "floor:withSpan(minimal-tracer)+KafkaProducer,header" "$SWIFT" produce floor-minimal-tracer "$SERVERS" bench "$COUNT" "$SIZE"
    run "floor:withSpan(SDK,unsampled)+KafkaProducer,header" "$SWIFT" produce floor-sdk-root "$SERVERS" bench "$COUNT" "$SIZE" "$OTLP"
    run "TracedProducer,sampled,collector-refusing" "$SWIFT" produce traced-sampled-collector-down "$SERVERS" bench "$COUNT" "$SIZE" "$REFUSING_OTLP"
    run "TracedProducer,sampled,collector-hanging" "$SWIFT" produce traced-sampled-collector-down "$SERVERS" bench "$COUNT" "$SIZE" "$HUNG_OTLP"
    run "C-consumer" env LD_PRELOAD="$INTERPOSER" "$C" consume "$SERVERS" consume-source "$CONSUME_COUNT"
    run "C-consumer+headers-read" env LD_PRELOAD="$INTERPOSER" "$C" consume-headers "$SERVERS" consume-source "$CONSUME_COUNT"
    run "Swift-KafkaConsumer" "$SWIFT" consume raw "$SERVERS" consume-source "$CONSUME_COUNT"
    run "TracedConsumer,unsampled" "$SWIFT" consume traced-unsampled "$SERVERS" consume-source "$CONSUME_COUNT"
    run "TracedConsumer,sampled+OTLP" "$SWIFT" consume traced-sampled "$SERVERS" consume-source "$CONSUME_COUNT" "$OTLP"
    run "floor:handler-span(minimal-tracer)+KafkaConsumer" "$SWIFT" consume floor-minimal-tracer "$SERVERS" consume-source "$CONSUME_COUNT"
    run "floor:handler-span(minimal-tracer),not-made-current+KafkaConsumer" "$SWIFT" consume floor-minimal-tracer-unbound "$SERVERS" consume-source "$CONSUME_COUNT"
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, _, *fields = line.split()
    values = dict(field.split("=", 1) for field in fields)
    rows.setdefault(name, []).append(values)

def median(name, key):
    return statistics.median(float(v[key]) for v in rows[name])

def rate(name):
    return statistics.median(float(v["messages"]) / float(v["seconds"]) for v in rows[name])

print("| Scenario | Messages/s | × C | × C with the same header (producers) or reading headers (consumers) | ns/message | CPU µs/message | Allocations/message | Spans exported / dropped | Peak memory |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
for name in rows:
    baseline = "C-consumer" if "onsumer" in name else "C-producer"
    # Traced messages carry a traceparent header, which costs librdkafka itself: also compare
    # with C sending the same header.
    with_header = (
        "C-producer+traceparent-header"
        if ("TracedProducer," in name and "disabled" not in name) or name.startswith("floor:") or name.endswith("traceparent-header") and name.startswith("Swift")
        else None
    )
    # A consumer that hands headers to its application asks librdkafka for them, which parses
    # (and allocates) even an empty header list: also compare with C doing the same.
    if "onsumer" in name and not name.startswith("C-"):
        with_header = "C-consumer+headers-read"
    messages = median(name, "messages")
    allocations = median(name, "allocations")
    header_ratio = f"{rate(name) / rate(with_header):.2f}" if with_header else ""
    memory = f"{int(median(name, 'peak_rss_mb'))} MB" if "peak_rss_mb" in rows[name][0] else ""
    # CPU time of every thread (the consumers report it), per message.
    cpu = f"{median(name, 'cpu_seconds') / messages * 1e6:.2f}" if "cpu_seconds" in rows[name][0] else ""
    spans = ""
    if "spans_exported" in rows[name][0]:
        spans = f"{int(median(name, 'spans_exported'))} / {int(max(float(v['spans_dropped']) for v in rows[name]))}"
    print(
        f"| {name.replace('-', ' ').replace(',', ', ')} | {rate(name):,.0f} | {rate(name) / rate(baseline):.2f} "
        f"| {header_ratio} "
        f"| {1e9 / rate(name):,.0f} | {cpu} | {allocations / messages if allocations >= 0 else float('nan'):.1f} | {spans} "
        f"| {memory} |"
    )
PY
rm -f "$RESULTS"

echo "The messaging metrics' cost per handled message over the traced path (interleaved rounds):" >&2
swift build -c release --product MetricsCost >&2
"$BIN/MetricsCost"

if [ "${BENCH_SKIP_ORDO:-0}" != 1 ]; then
    echo "ordo-one benchmarks (time and allocations per operation), on the same broker:" >&2
    KAFKA_BOOTSTRAP_SERVERS="$SERVERS" swift package --disable-sandbox benchmark --no-progress --format markdown
fi
