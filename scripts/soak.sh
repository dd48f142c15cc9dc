#!/usr/bin/env bash
# Soak: SOAK_COUNT messages (default 1 000 000) through produce → traced relay (consume and
# produce in its handler) → traced consume, on an embedded broker running as its own process,
# every span sampled and exported over OTLP. Checks that every message arrives, that the relay
# ended every span it started and exported them all, and samples its resident memory every 5 s:
# it must stay flat (bounded by librdkafka's queues and the span queue).
#
#   scripts/soak.sh                      spans go to a local sink that accepts everything
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 scripts/soak.sh    …or to your collector
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 scripts/soak.sh       …or to none (drops counted)
#   KAFKA_BOOTSTRAP_SERVERS=localhost:9092 scripts/soak.sh                on a real cluster: the
#       embedded broker cannot carry a million messages (see the README)
#
# SOAK_RATE paces the producer (messages/s, default 400: the embedded broker's thread saturates near
# 500/s of one-message batches, its fetches walk the partition's log) and SOAK_LANES sets the relay's
# --partition-concurrency (default 4): the relay waits for each message's delivery before
# committing it (at-least-once), and the embedded broker keeps only ~5 MB per partition, so the
# relay must not fall too far behind (messages it has not read yet would be deleted).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${SOAK_COUNT:-1000000}
RATE=${SOAK_RATE:-400}
# The relay handles the four partitions at once (each in order): a message waits for its delivery
# report before its offset is stored, and the lanes let the partitions wait at the same time.
LANES=${SOAK_LANES:-4}
export OTEL_TRACES_EXPORTER=${OTEL_TRACES_EXPORTER:-otlp}
export OTEL_TRACES_SAMPLER=always_on

swift build -c release --product kafka-tracing-demo >&2
DEMO="$(swift build -c release --show-bin-path)/kafka-tracing-demo"
LOG=$(mktemp -d)
echo "Logs and memory samples in $LOG" >&2

BROKER_PID=""
if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    # A real cluster (e.g. the docker-compose Kafka): topics soak-in and soak-out must exist (four
    # partitions each) or be created automatically.
    SERVERS=$KAFKA_BOOTSTRAP_SERVERS
else
    coproc BROKER { exec "$DEMO" broker --topics soak-in,soak-out --partitions 4; }
    read -r SERVERS <&"${BROKER[0]}"
fi
SINK_PID=""
trap 'kill $BROKER_PID $SINK_PID 2>/dev/null || true; wait 2>/dev/null || true' EXIT
if [ -z "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
    # A collector that accepts every export (OTLP/HTTP answers 200 with an empty body).
    python3 - >"$LOG/sink.port" 2>"$LOG/sink.err" <<'PY' &
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
    SINK_PID=$!
    for _ in $(seq 50); do [ -s "$LOG/sink.port" ] && break; sleep 0.1; done
    export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(cat "$LOG/sink.port")"
fi
echo "Spans go to $OTEL_EXPORTER_OTLP_ENDPOINT" >&2

"$DEMO" relay --bootstrap-servers "$SERVERS" --from soak-in --to soak-out --group soak-relay --count "$COUNT" \
    --kafka-property linger.ms=0 --partition-concurrency "$LANES" \
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
python3 - "$LOG/memory.csv" "$LOG/relay.out" "${SINK_PID:+strict}" <<'PY'
import csv, re, sys
rows = [(int(r["seconds"]), int(r["relay_rss_kb"])) for r in csv.DictReader(open(sys.argv[1])) if r["relay_rss_kb"]]
if len(rows) < 4:
    rows = rows + rows[-1:] * (4 - len(rows))  # a short run: too few samples to judge growth
settled = rows[len(rows) // 4:]   # after warm-up
low, high = min(r for _, r in settled), max(r for _, r in settled)
print(f"relay memory: {rows[0][1] / 1024:.0f} MB at start, {low / 1024:.0f}–{high / 1024:.0f} MB after warm-up, "
      f"{rows[-1][1] / 1024:.0f} MB at the end ({rows[-1][0]} s, {len(rows)} samples)")
if high > low * 1.5 + 20 * 1024:
    sys.exit("relay memory grew: see the samples")
spans = re.search(r"Spans: (\d+) started, (\d+) ended, (\d+) exported, (\d+) dropped", open(sys.argv[2]).read())
if not spans:
    sys.exit("the relay did not report its spans")
started, ended, exported, dropped = map(int, spans.groups())
if started != ended:
    sys.exit(f"the relay started {started} spans but ended {ended}")
print(f"relay spans: {started} started, {ended} ended, {exported} exported, {dropped} dropped")
if exported != ended or dropped:
    message = f"{dropped} spans dropped, {exported} of {ended} exported"
    # With the local sink every span must arrive; another collector may be slower.
    sys.exit(message) if sys.argv[3:] == ["strict"] else print(f"warning: {message}")
PY
echo "soak passed: $COUNT messages through produce → relay → consume" >&2
