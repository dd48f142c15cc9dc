// The messaging metrics' cost per handled message over the sampled traced path, measured by
// interleaving: on this shared 2-core machine the ordo rows drift by ±100 ns between runs (the
// machine switches between a fast and a slow mode), more than the difference they are meant to
// show. Here the variants alternate in short rounds and each reports its minimum and median
// round, so drift hits all of them alike. Printed by run.sh after the throughput table.
//   1. the consumer's process span alone (sampled, recording, no exporter: no export thread),
//      on the tracer's own clock — TracedConsumer with no metrics backend;
//   2. the same span with the messaging metrics, timed as TracedConsumer times it (the span takes
//      the metrics' clock readings);
//   3. the metrics alone (what they cost with no tracer, or an unsampled span).
// (2) − (1) is what the metrics add to a traced message.
@_spi(Benchmarks) import KafkaTracing
import Foundation
import Kafka
import Logging
import Metrics
import MetricsSDK
import Tracing
import TracingSDK

let tracer = TracerProvider(
    configuration: .init(serviceName: "benchmarks", sampler: AlwaysOnSampler(), exporters: [], environment: [:]),
    logger: Logger(label: "metrics-cost")
).tracer
let meters = MeterProvider(configuration: .init(exporters: [], environment: [:]))
let consumerProbe = withMetricsFactory(meters) { MessagingMetricsProbe(consumerGroup: "benchmarks")! }
let handled = [
    KafkaConsumerMessage(
        topic: "bench",
        partition: 0,
        offset: 0,
        key: nil,
        value: [UInt8](repeating: UInt8(ascii: "x"), count: 100),
        timestamp: KafkaTimestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000), kind: .createTime)
    )
]

func now() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

let iterations = 200_000
let rounds = Int(ProcessInfo.processInfo.environment["BENCH_METRICS_ROUNDS"] ?? "") ?? 30
// Each variant gets the probe inout (one loop, as one of TracedConsumer's handling loops: it keeps
// the last partition's instruments), so no closure captures a variable the runtime must check.
let variants: [(name: String, run: (inout MessagingMetricsProbe) -> Void)] = [
    ("process span alone (sampled)", { _ in MessagingMetricsProbe.span(of: tracer) }),
    ("process span + messaging metrics", { $0.processed(handled, inSpanOf: tracer) }),
    ("messaging metrics alone", { $0.processed(handled) }),
]
var perRound = [[Double]](repeating: [], count: variants.count)
// BENCH_METRICS_ONLY=n runs variant n alone (1-based), for a profiler.
let only = Int(ProcessInfo.processInfo.environment["BENCH_METRICS_ONLY"] ?? "").map { $0 - 1 }
var probe = consumerProbe
if let only {
    for _ in 0..<rounds { for _ in 0..<iterations { variants[only].run(&probe) } }
    exit(0)
}
for _ in 0..<rounds {
    for (index, variant) in variants.enumerated() {
        let started = now()
        for _ in 0..<iterations { variant.run(&probe) }
        perRound[index].append(Double(now() - started) / Double(iterations))
    }
}
func format(_ value: Double) -> String { String(Int(value.rounded())) }
print("| One handled message (\(rounds) interleaved rounds of \(iterations)) | min ns | median ns |")
print("| --- | ---: | ---: |")
var minimum: [Double] = []
var median: [Double] = []
for (index, variant) in variants.enumerated() {
    let sorted = perRound[index].sorted()
    minimum.append(sorted[0])
    median.append(sorted[sorted.count / 2])
    print("| \(variant.name) | \(format(sorted[0])) | \(format(sorted[sorted.count / 2])) |")
}
print("| **metrics over the traced path** (2 − 1) | \(format(minimum[1] - minimum[0])) | \(format(median[1] - median[0])) |")
