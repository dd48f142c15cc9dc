import CompressNIO
import Foundation
import Metrics
import MetricsSDK
import NIOCore
import OTLPTestReceiver
import SwiftProtobuf
import Testing
import Tracing
@testable import OTLPExporter
import TracingSDK

typealias ExportMetricsRequest = Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest

func decodeMetricsRequest(_ request: OTLPReceiver.Request) throws -> ExportMetricsRequest {
    var body = ByteBuffer(bytes: request.body)
    if request.headers.first(name: "Content-Encoding") == "gzip" {
        body = try body.decompress(with: .gzip(), allocator: ByteBufferAllocator())
    }
    return try ExportMetricsRequest(serializedBytes: Array(body.readableBytesView))
}

/// The receiver's base URL (its endpoint without `/v1/traces`).
func base(_ receiver: OTLPReceiver) -> String { String(receiver.endpoint.dropLast("/v1/traces".count)) }

/// A meter provider exporting to `receiver` over OTLP, with these `OTEL_*` variables.
func meters(_ receiver: OTLPReceiver, _ environment: [String: String] = [:]) -> MeterProvider {
    var environment = environment
    environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = environment["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? base(receiver)
    return MeterProvider(
        configuration: MeterProvider.Configuration(
            resource: Resource(attributes: ["service.name": "billing"]),
            environment: environment
        ).withOTLP()
    )
}

@Suite("OTLP metrics exporter", .serialized)
struct OTLPMetricExporterTests {
    @Test("POST /v1/metrics: a counter, a gauge and a timer decoded field by field with the generated types")
    func mapping() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        let provider = meters(receiver)
        #expect(provider.exporterNames == ["otlp"])
        let dimensions = [("messaging.system", "kafka"), ("messaging.destination.name", "orders")]
        Counter(label: "messaging.client.sent.messages", dimensions: dimensions, factory: provider).increment(by: 7)
        Gauge(label: "messaging.kafka.consumer.lag", dimensions: dimensions, factory: provider).record(12)
        let timer = Metrics.Timer(label: "messaging.process.duration", dimensions: dimensions, factory: provider)
        timer.recordNanoseconds(20_000_000)
        timer.recordNanoseconds(3_000_000_000)
        await provider.shutdown()

        let sent = try #require(receiver.requests.first)
        #expect(sent.uri == "/v1/metrics")
        #expect(sent.method == .POST)
        #expect(sent.headers.first(name: "Content-Type") == "application/x-protobuf")
        let request = try decodeMetricsRequest(sent)
        #expect(request.resourceMetrics.count == 1)
        let resource = request.resourceMetrics[0]
        #expect(resource.resource.attributes.first { $0.key == "service.name" }?.value.stringValue == "billing")
        #expect(resource.scopeMetrics.count == 1)
        #expect(resource.scopeMetrics[0].scope.name == SDKInfo.name)
        let metrics = Dictionary(uniqueKeysWithValues: resource.scopeMetrics[0].metrics.map { ($0.name, $0) })
        #expect(metrics.keys.sorted() == ["messaging.client.sent.messages", "messaging.kafka.consumer.lag", "messaging.process.duration"])

        let sent7 = try #require(metrics["messaging.client.sent.messages"])
        #expect(sent7.unit == "{message}")
        guard case .sum(let sum)? = sent7.data else { Issue.record("not a sum: \(sent7)"); return }
        #expect(sum.isMonotonic)
        #expect(sum.aggregationTemporality == .cumulative)
        #expect(sum.dataPoints.count == 1)
        #expect(sum.dataPoints[0].asInt == 7)
        #expect(sum.dataPoints[0].attributes.map(\.key) == ["messaging.destination.name", "messaging.system"])
        #expect(sum.dataPoints[0].attributes.map(\.value.stringValue) == ["orders", "kafka"])
        #expect(sum.dataPoints[0].startTimeUnixNano > 0 && sum.dataPoints[0].timeUnixNano >= sum.dataPoints[0].startTimeUnixNano)

        let lag = try #require(metrics["messaging.kafka.consumer.lag"])
        #expect(lag.unit == "{message}")
        guard case .gauge(let gauge)? = lag.data else { Issue.record("not a gauge: \(lag)"); return }
        #expect(gauge.dataPoints.map(\.asDouble) == [12])

        let duration = try #require(metrics["messaging.process.duration"])
        #expect(duration.unit == "s")
        guard case .histogram(let histogram)? = duration.data else { Issue.record("not a histogram: \(duration)"); return }
        #expect(histogram.aggregationTemporality == .cumulative)
        let point = try #require(histogram.dataPoints.first)
        #expect(point.explicitBounds == [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10])
        #expect(point.count == 2)
        #expect(abs(point.sum - 3.02) < 1e-9)
        #expect(point.min == 0.02 && point.max == 3)
        #expect(point.bucketCounts.count == 15)
        #expect(point.bucketCounts[2] == 1 && point.bucketCounts[11] == 1)  // (0.01, 0.025] and (2.5, 5]
        #expect(point.bucketCounts.reduce(0, +) == 2)
    }

    @Test("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used as is; OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/metrics; the traces one is not read")
    func endpoints() throws {
        let specific = try OTLPHTTPMetricExporter(configuration: .init(environment: [
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://collector:4318/custom", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318",
        ]))
        #expect(specific.endpoint == "http://collector:4318/custom")
        let general = try OTLPHTTPMetricExporter(configuration: .init(environment: [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/v1/traces",
        ]))
        #expect(general.endpoint == "http://collector:4318/v1/metrics")
        #expect(try OTLPHTTPMetricExporter(configuration: .init(environment: [:])).endpoint == "http://localhost:4318/v1/metrics")
        #expect(throws: OTLPExporterError.self) {
            try OTLPHTTPMetricExporter(configuration: .init(environment: ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "collector:4318"]))
        }
    }

    @Test("http/json and gzip from the metrics variables; delta temporality is written as DELTA")
    func jsonGzipDelta() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        let provider = meters(receiver, [
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
        ])
        Counter(label: "sent", factory: provider).increment(by: 3)
        await provider.shutdown()
        let sent = try #require(receiver.requests.first)
        #expect(sent.headers.first(name: "Content-Type") == "application/json")
        #expect(sent.headers.first(name: "Content-Encoding") == "gzip")
        var compressed = ByteBuffer(bytes: sent.body)
        let body = try compressed.decompress(with: .gzip(), allocator: ByteBufferAllocator())
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = false
        let request = try ExportMetricsRequest(jsonUTF8Bytes: Array(body.readableBytesView), options: options)
        guard case .sum(let sum)? = request.resourceMetrics.first?.scopeMetrics.first?.metrics.first?.data else {
            Issue.record("no sum in \(request)")
            return
        }
        #expect(sum.aggregationTemporality == .delta)
        #expect(sum.dataPoints.first?.asInt == 3)
    }

    @Test("a collector that answers 503 is retried; an unreachable one loses the collection with a clear error, and the next export still works")
    func unreachable() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        receiver.script(.init(status: .serviceUnavailable, headers: [("Retry-After", "0")]), .init(status: .ok))
        let exporter = try OTLPHTTPMetricExporter(configuration: .init(endpoint: base(receiver) + "/v1/metrics", environment: [:]))
        let provider = MeterProvider(configuration: .init(exporters: [exporter], environment: [:]))
        Counter(label: "sent", factory: provider).increment()
        await provider.forceFlush()
        #expect(receiver.requests.count == 2)
        #expect(exporter.statistics.exportedSpans == 1 && exporter.statistics.retries == 1)

        let nowhere = try OTLPHTTPMetricExporter(configuration: .init(endpoint: "http://127.0.0.1:1/v1/metrics", timeout: .milliseconds(300), environment: [:]))
        await #expect(throws: OTLPExporterError.self) {
            try await nowhere.export(provider.collect())
        }
        #expect(nowhere.statistics.failedSpans == 1)
        await nowhere.shutdown()
        await provider.shutdown()
    }

    @Test("one bootstrap configuration, one shutdown: spans and a final metrics collection both reach the collector, with one resource")
    func telemetry() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        let telemetry = TelemetryProvider(
            configuration: TelemetryProvider.Configuration(
                serviceName: "billing",
                environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": base(receiver), "OTEL_METRIC_EXPORT_INTERVAL": "600000"]
            ).withOTLP()
        )
        #expect(telemetry.configurationProblems.isEmpty)
        telemetry.tracing.tracer.withSpan("charge") { _ in
            Counter(label: "charges", factory: telemetry.metrics).increment()
        }
        await telemetry.shutdown()
        let uris = receiver.requests.map(\.uri).sorted()
        #expect(uris == ["/v1/metrics", "/v1/traces"])
        let metrics = try decodeMetricsRequest(try #require(receiver.requests.first { $0.uri == "/v1/metrics" }))
        let spans = try decodeRequest(try #require(receiver.requests.first { $0.uri == "/v1/traces" }))
        let serviceName: ([Opentelemetry_Proto_Common_V1_KeyValue]) -> String? = { attributes in
            attributes.first { $0.key == "service.name" }?.value.stringValue
        }
        #expect(serviceName(metrics.resourceMetrics[0].resource.attributes) == "billing")
        #expect(serviceName(spans.resourceSpans[0].resource.attributes) == "billing")
        #expect(metrics.resourceMetrics[0].resource == spans.resourceSpans[0].resource)
    }
}
