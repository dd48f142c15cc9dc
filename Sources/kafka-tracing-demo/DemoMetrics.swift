import Foundation
import KafkaTracing
import Logging
import MetricsSDK
import OTLPGRPCExporter

/// The demo's metrics: every `OTEL_METRIC*` variable applies; exported over OTLP when an endpoint
/// is set (as for traces), otherwise only summarised at the end.
func makeDemoMeters(otlpEndpoint: String?, logger: Logger) throws -> MeterProvider {
    var (environment, exportsOverOTLP) = demoEnvironment(signal: "METRICS", otlpEndpoint: otlpEndpoint)
    if (environment["OTEL_METRICS_EXPORTER"] ?? "").isEmpty {
        environment["OTEL_METRICS_EXPORTER"] = exportsOverOTLP ? "otlp" : "none"
    }
    let meters = MeterProvider(configuration: MeterProvider.Configuration(environment: environment).withOTLP(defaultProtocol: .httpProtobuf), logger: logger)
    guard meters.configurationProblems.isEmpty else {
        throw DemoError(description: meters.configurationProblems.joined(separator: "\n"))
    }
    return meters
}

/// Per topic: sent, consumed, process p50/p99, the largest lag last reported, queue time p99.
func metricsSummary(_ batch: MetricBatch) -> String {
    func sum(_ name: String, _ topic: String) -> Int {
        Int(batch.points(name, where: ["messaging.destination.name": topic]).map(\.value).reduce(0, +))
    }
    func quantile(_ name: String, _ topic: String, _ q: Double) -> String {
        guard let metric = batch.metrics.first(where: { $0.name == name }), case .histogram(let bounds) = metric.kind else { return "-" }
        // One point per partition (and outcome): merged bucket by bucket.
        let points = batch.points(name, where: ["messaging.destination.name": topic])
        guard var merged = points.first else { return "-" }
        for point in points.dropFirst() {
            merged.count += point.count
            merged.sum += point.sum
            merged.min = Swift.min(merged.min ?? .infinity, point.min ?? .infinity)
            merged.max = Swift.max(merged.max ?? -.infinity, point.max ?? -.infinity)
            merged.bucketCounts = zip(merged.bucketCounts, point.bucketCounts).map { $0 + $1 }
        }
        return merged.estimatedQuantile(q, bounds: bounds).map { String(format: "%.1f ms", $0 * 1000) } ?? "-"
    }
    let topics = Set(
        batch.metrics.filter { $0.name.hasPrefix("messaging.") }.flatMap(\.points)
            .compactMap { point in point.attributes.first { $0.0 == "messaging.destination.name" }?.1 }
    ).sorted()
    var lines = ["Metrics (messaging.*, see the README's Metrics section):"]
    lines.append(
        "  " + ["topic", "sent", "consumed", "process p50", "process p99", "max lag", "queue p99"].map { $0.padding(toLength: 14, withPad: " ", startingAt: 0) }
            .joined()
    )
    for topic in topics {
        let lag = batch.points(MessagingMetricName.consumerLag, where: ["messaging.destination.name": topic]).map(\.value).max()
        let row = [
            topic, String(sum(MessagingMetricName.sentMessages, topic)), String(sum(MessagingMetricName.consumedMessages, topic)),
            quantile(MessagingMetricName.processDuration, topic, 0.5), quantile(MessagingMetricName.processDuration, topic, 0.99),
            lag.map { String(Int($0)) } ?? "-", quantile(MessagingMetricName.queueTime, topic, 0.99),
        ]
        lines.append("  " + row.map { $0.padding(toLength: 14, withPad: " ", startingAt: 0) }.joined())
    }
    return lines.joined(separator: "\n")
}
