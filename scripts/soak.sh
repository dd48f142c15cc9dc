#!/usr/bin/env bash
# Soak: SOAK_COUNT messages (default 1 000 000) through produce → traced relay (consume and
# produce in its handler) → traced consume, on an embedded broker running as its own process.
# Checks that every message arrives, and samples the relay's resident memory every 5 s: it must
# stay flat (bounded by librdkafka's queues and the span queue), whatever the collector does.
#
#   scripts/soak.sh                      spans go to a collector that refuses connections
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 scripts/soak.sh    …or to yours
#
# SOAK_RATE paces the producer (messages/s, default 1000): the relay waits for each message's
# delivery before committing it (at-least-once), so it runs at about 1–2 k messages/s, and the
# embedded broker keeps only ~5 MB per partition: the relay must not fall too far behind.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${SOAK_COUNT:-1000000}
RATE=${SOAK_RATE:-1000}
export OTEL_EXPORTER_OTLP_ENDPOINT=${OTEL_EXPORTER_OTLP_ENDPOINT:-http://127.0.0.1:9}
export OTEL_TRACES_EXPORTER=${OTEL_TRACES_EXPORTER:-otlp}

swift build -c release --product kafka-tracing-demo >&2
DEMO="$(swift build -c release --show-bin-path)/kafka-tracing-demo"
LOG=$(mktemp -d)
echo "Logs and memory samples in $LOG" >&2

coproc BROKER { exec "$DEMO" broker --topics soak-in,soak-out --partitions 4; }
read -r SERVERS <&"${BROKER[0]}"
trap 'kill "$BROKER_PID" 2>/dev/null || true; wait 2>/dev/null || true' EXIT

"$DEMO" relay --bootstrap-servers "$SERVERS" --from soak-in --to soak-out --group soak-relay --count "$COUNT" \
    --kafka-property linger.ms=0 \
    >"$LOG/relay.out" 2>"$LOG/relay.err" &
RELAY=$!
"$DEMO" consume --bootstrap-servers "$SERVERS" --topic soak-out --group soak-sink --count "$COUNT" \
    >/dev/null 2>"$LOG/consume.err" &
CONSUMER=$!
"$DEMO" produce --bootstrap-servers "$SERVERS" --topic soak-in --count "$COUNT" --rate "$RATE" \
    >"$LOG/produce.out" 2>"$LOG/produce.err" &
PRODUCER=$!

echo "seconds,relay_rss_kb" >"$LOG/memory.csv"
start=$(date +%s)
while kill -0 "$RELAY" 2>/dev/null; do
    echo "$(( $(date +%s) - start )),$(ps -o rss= -p "$RELAY" | tr -d ' ')" >>"$LOG/memory.csv"
    sleep 5
done
wait "$PRODUCER" && wait "$RELAY" && wait "$CONSUMER" || { echo "a stage failed; see $LOG" >&2; exit 1; }

cat "$LOG/produce.out" "$LOG/relay.out"
python3 - "$LOG/memory.csv" <<'PY'
import csv, sys
rows = [(int(r["seconds"]), int(r["relay_rss_kb"])) for r in csv.DictReader(open(sys.argv[1])) if r["relay_rss_kb"]]
if len(rows) < 4:
    sys.exit(f"too few memory samples: {rows}")
settled = rows[len(rows) // 4:]   # after warm-up
low, high = min(r for _, r in settled), max(r for _, r in settled)
print(f"relay memory after warm-up: {low / 1024:.0f}–{high / 1024:.0f} MB over {rows[-1][0]} s ({len(rows)} samples)")
if high > low * 1.5 + 20 * 1024:
    sys.exit("relay memory grew: see the samples")
PY
echo "soak passed: $COUNT messages through produce → relay → consume" >&2
