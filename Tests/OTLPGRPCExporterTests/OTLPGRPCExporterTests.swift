import Foundation
import GRPCCore
import GRPCProtobuf
import Logging
import Metrics
import MetricsSDK
import SwiftProtobuf
import Testing
import Tracing
@testable import OTLPExporter
import OTLPGRPCExporter
import OTLPTestReceiver
import TracingSDK

typealias TraceRequest = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest
typealias TraceResponse = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse
typealias MetricsRequest = Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest

private func span(_ name: String, spanID: UInt64) -> FinishedSpan {
    var attributes = SpanAttributes()
    attributes.set("messaging.destination.name", value: .string("orders"))
    attributes.set("messaging.batch.message_count", value: .int64(3))
    return FinishedSpan(
        spanContext: SpanContext(traceID: TraceID(hexString: "4bf92f3577b34da6a3ce929d0e0e4736")!, spanID: SpanID(spanID), flags: .sampled),
        parentSpanID: nil,
        isLocalRoot: true,
        hasRemoteParent: false,
        name: name,
        kind: .producer,
        startNanosecondsSinceEpoch: 1_700_000_000_000_000_000,
        endNanosecondsSinceEpoch: 1_700_000_000_002_000_000,
        attributes: attributes,
        events: [],
        links: [],
        status: nil,
        droppedAttributeCount: 0,
        droppedEventCount: 0,
        droppedLinkCount: 0,
        resource: Resource(attributes: ["service.name": "orders"]),
        instrumentationScope: InstrumentationScope(name: "kafka-tracing", version: "1.0")
    )
}

private let quiet: Logger = {
    var logger = Logger(label: "otlp-grpc-tests")
    logger.logLevel = .critical
    return logger
}()

private func exporter(_ endpoint: String, _ environment: [String: String] = [:]) throws -> OTLPGRPCExporter {
    try OTLPGRPCExporter(configuration: OTLPExporterConfiguration(endpoint: endpoint, environment: environment), logger: quiet)
}

/// A port on which a socket listens and never accepts: the TCP handshake completes (the kernel's
/// backlog), then nothing — a collector that never answers. Closed by `close()`.
private struct SilentListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && listen(descriptor, 16) == 0
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw RPCError(code: .internalError, message: "cannot listen") }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(self.descriptor) }
}

/// A port nothing listens on (bound, then released).
private func unusedPort() throws -> Int {
    let listener = try SilentListener()
    listener.close()
    return listener.port
}

@Suite("OTLP/gRPC exporter", .serialized)
struct OTLPGRPCExporterTests {
    @Test("spans arrive whole at TraceService/Export: the bytes our protobuf writer made, decoded field by field")
    func spansArrive() async throws {
        let receiver = try await OTLPGRPCReceiver.start()
        let exporter = try exporter(receiver.endpoint)
        let batch = [span("send orders", spanID: 1), span("send payments", spanID: 2)]
        try await exporter.export(batch)
        await exporter.shutdown()
        await receiver.stop()

        let request = try #require(receiver.requests.first)
        #expect(request.method == "opentelemetry.proto.collector.trace.v1.TraceService/Export")
        #expect(request.body == Array(OTLPProtobufWriter.request(batch).readableBytesView))  // passed through
        let decoded = try TraceRequest(serializedBytes: request.body)
        #expect(decoded.resourceSpans.count == 1)
        let resource = decoded.resourceSpans[0]
        #expect(resource.resource.attributes.first { $0.key == "service.name" }?.value.stringValue == "orders")
        #expect(resource.scopeSpans.first?.scope.name == "kafka-tracing")
        let spans = resource.scopeSpans.flatMap(\.spans)
        #expect(spans.map(\.name) == ["send orders", "send payments"])
        #expect(spans.first?.traceID == Data(TraceID(hexString: "4bf92f3577b34da6a3ce929d0e0e4736")!.bytes))
        #expect(spans.first?.kind == .producer)
        #expect(spans.first?.endTimeUnixNano == 1_700_000_000_002_000_000)
        #expect(spans.first?.attributes.first { $0.key == "messaging.batch.message_count" }?.value.intValue == 3)
        #expect(exporter.statistics.exportedSpans == 2)
        #expect(exporter.statistics.retries == 0)
    }

    @Test("metrics arrive whole at MetricsService/Export, through withOTLP(defaultProtocol: .grpc) and a final collection")
    func metricsArrive() async throws {
        let receiver = try await OTLPGRPCReceiver.start()
        let provider = MeterProvider(
            configuration: MeterProvider.Configuration(
                resource: Resource(attributes: ["service.name": "billing"]),
                environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint]
            ).withOTLP(defaultProtocol: .grpc)
        )
        Counter(label: "messaging.client.sent.messages", dimensions: [("messaging.destination.name", "orders")], factory: provider).increment(by: 7)
        Metrics.Timer(label: "messaging.process.duration", factory: provider).recordNanoseconds(20_000_000)
        await provider.shutdown()
        await receiver.stop()

        let request = try #require(receiver.requests.first)
        #expect(request.method == "opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
        let decoded = try MetricsRequest(serializedBytes: request.body)
        let metrics = decoded.resourceMetrics.flatMap(\.scopeMetrics).flatMap(\.metrics)
        let sent = try #require(metrics.first { $0.name == "messaging.client.sent.messages" })
        #expect(sent.sum.isMonotonic)
        #expect(sent.sum.dataPoints.first?.asInt == 7)
        #expect(sent.sum.dataPoints.first?.attributes.first?.value.stringValue == "orders")
        let duration = try #require(metrics.first { $0.name == "messaging.process.duration" })
        #expect(duration.unit == "s")
        #expect(duration.histogram.dataPoints.first?.count == 1)
        #expect(duration.histogram.dataPoints.first?.sum == 0.02)
        #expect(decoded.resourceMetrics.first?.resource.attributes.first { $0.key == "service.name" }?.value.stringValue == "billing")
    }

    @Test("headers go as metadata, gzip compresses each message, and the export timeout is the call's deadline")
    func metadataGzipDeadline() async throws {
        let receiver = try await OTLPGRPCReceiver.start()
        let exporter = try exporter(
            receiver.endpoint,
            [
                "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20secret-token,x-tenant=acme",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "3000",
            ]
        )
        try await exporter.export([span("send orders", spanID: 1)])
        await exporter.shutdown()
        await receiver.stop()
        let request = try #require(receiver.requests.first)
        #expect(Array(request.metadata[stringValues: "authorization"]) == ["Bearer secret-token"])
        #expect(Array(request.metadata[stringValues: "x-tenant"]) == ["acme"])
        #expect(Array(request.metadata[stringValues: "grpc-encoding"]) == ["gzip"])
        // grpc-timeout: digits and a unit; at most the 3 s asked for.
        let timeout = try #require(request.metadata[stringValues: "grpc-timeout"].first(where: { _ in true }))
        let units: [Character: Double] = ["H": 3600, "M": 60, "S": 1, "m": 1e-3, "u": 1e-6, "n": 1e-9]
        let seconds = try #require(Double(timeout.dropLast())) * (units[try #require(timeout.last)] ?? 0)
        #expect(seconds > 2 && seconds <= 3)
        // The body arrived decompressed, whole.
        #expect(try TraceRequest(serializedBytes: request.body).resourceSpans.first?.scopeSpans.first?.spans.count == 1)
    }

    @Test(
        "each retryable status is retried; RESOURCE_EXHAUSTED only with RetryInfo",
        arguments: [RPCError.Code.unavailable, .cancelled, .deadlineExceeded, .aborted, .outOfRange, .dataLoss]
    )
    func retryable(code: RPCError.Code) async throws {
        let receiver = try await OTLPGRPCReceiver.start()
        receiver.script([.fail(RPCError(code: code, message: "try again"))])
        let exporter = try exporter(receiver.endpoint)
        try await exporter.export([span("send orders", spanID: 1)])
        await exporter.shutdown()
        await receiver.stop()
        #expect(receiver.requests.count == 2)
        #expect(exporter.statistics.retries == 1)
        #expect(exporter.statistics.exportedSpans == 1)
    }

    @Test(
        "the other statuses are not retried: the batch is dropped and counted",
        arguments: [RPCError.Code.invalidArgument, .unauthenticated, .permissionDenied, .internalError, .unimplemented, .resourceExhausted]
    )
    func notRetryable(code: RPCError.Code) async throws {
        let receiver = try await OTLPGRPCReceiver.start()
        receiver.script([.fail(RPCError(code: code, message: "no"))])
        let exporter = try exporter(receiver.endpoint)
        await #expect(throws: OTLPExporterError.self) { try await exporter.export([span("send orders", spanID: 1)]) }
        await exporter.shutdown()
        await receiver.stop()
        #expect(receiver.requests.count == 1)
        #expect(exporter.statistics.retries == 0)
        #expect(exporter.statistics.failedSpans == 1)
    }

    @Test("RESOURCE_EXHAUSTED with RetryInfo is retried after the delay it names")
    func retryInfo() async throws {
        let receiver = try await OTLPGRPCReceiver.start()
        receiver.script([.status(GoogleRPCStatus(code: .resourceExhausted, message: "slow down", details: .retryInfo(delay: .milliseconds(700))))])
        let exporter = try exporter(receiver.endpoint)
        let started = ContinuousClock.now
        try await exporter.export([span("send orders", spanID: 1)])
        let elapsed = ContinuousClock.now - started
        await exporter.shutdown()
        await receiver.stop()
        #expect(receiver.requests.count == 2)
        #expect(elapsed >= .milliseconds(700))
        #expect(exporter.statistics.retries == 1)
    }

    @Test("header values are never logged, at any level: a refused export, a retried one, an unreachable collector")
    func headersNeverLogged() async throws {
        let logs = LogCapture()
        let secret = "otlp-grpc-token-\(UInt64.random(in: 0 ... .max))"
        let environment = ["OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20\(secret)", "OTEL_EXPORTER_OTLP_TIMEOUT": "800"]
        let receiver = try await OTLPGRPCReceiver.start()
        receiver.script([.fail(RPCError(code: .unavailable, message: "later")), .fail(RPCError(code: .unauthenticated, message: "who?"))])
        let answered = try OTLPGRPCExporter(
            configuration: OTLPExporterConfiguration(endpoint: receiver.endpoint, environment: environment),
            logger: logs.logger(label: "otlp-grpc")
        )
        await #expect(throws: OTLPExporterError.self) { try await answered.export([span("send orders", spanID: 1)]) }
        await answered.shutdown()
        await receiver.stop()
        let first = try #require(receiver.requests.first)
        #expect(Array(first.metadata[stringValues: "authorization"]) == ["Bearer \(secret)"])

        let unreachable = try OTLPGRPCExporter(
            configuration: OTLPExporterConfiguration(endpoint: "http://127.0.0.1:\(try unusedPort())", environment: environment),
            logger: logs.logger(label: "otlp-grpc")
        )
        await #expect(throws: OTLPExporterError.self) { try await unreachable.export([span("send orders", spanID: 2)]) }
        await unreachable.shutdown()

        let lines = logs.lines
        #expect(!lines.isEmpty, "expected the exporter to log the failures")
        #expect(!lines.contains { $0.contains(secret) }, "a header value was logged: \(lines.filter { $0.contains(secret) })")
    }

    @Test("a partial success is counted as rejected spans")
    func partialSuccess() async throws {
        let receiver = try await OTLPGRPCReceiver.start()
        var response = TraceResponse()
        response.partialSuccess.rejectedSpans = 1
        response.partialSuccess.errorMessage = "span too large"
        receiver.script([.body(try response.serializedBytes())])
        let exporter = try exporter(receiver.endpoint)
        try await exporter.export([span("a", spanID: 1), span("b", spanID: 2)])
        await exporter.shutdown()
        await receiver.stop()
        #expect(exporter.statistics.rejectedSpans == 1)
        #expect(exporter.statistics.exportedSpans == 2)
    }

    @Test("an unreachable collector: the export fails within its timeout, retried meanwhile, and shutdown does not hang")
    func unreachable() async throws {
        let exporter = try exporter("http://127.0.0.1:\(try unusedPort())", ["OTEL_EXPORTER_OTLP_TIMEOUT": "1500"])
        let started = ContinuousClock.now
        await #expect(throws: OTLPExporterError.self) { try await exporter.export([span("send orders", spanID: 1)]) }
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(exporter.statistics.retries >= 1)
        #expect(exporter.statistics.failedSpans == 1)
        let shutdownStarted = ContinuousClock.now
        await exporter.shutdown()
        #expect(ContinuousClock.now - shutdownStarted < .milliseconds(1600))
    }

    @Test("a collector that never answers — a TCP listener that never speaks, or a server whose handler hangs — fails the export at its deadline; shutdown ends within the timeout")
    func hanging() async throws {
        let silent = try SilentListener()
        defer { silent.close() }
        let receiver = try await OTLPGRPCReceiver.start()
        receiver.script([.hang, .hang, .hang, .hang, .hang, .hang, .hang, .hang])
        for endpoint in ["http://127.0.0.1:\(silent.port)", receiver.endpoint] {
            let exporter = try exporter(endpoint, ["OTEL_EXPORTER_OTLP_TIMEOUT": "1000"])
            let started = ContinuousClock.now
            await #expect(throws: (any Error).self) { try await exporter.export([span("send orders", spanID: 1)]) }
            #expect(ContinuousClock.now - started < .milliseconds(2500), "\(endpoint)")
            // Shutdown while a second export still hangs: both end within the timeout.
            let pending = Task { try await exporter.export([span("send payments", spanID: 2)]) }
            try await Task.sleep(for: .milliseconds(100))
            let shutdownStarted = ContinuousClock.now
            await exporter.shutdown()
            #expect(ContinuousClock.now - shutdownStarted < .milliseconds(1600), "\(endpoint)")
            _ = await pending.result
            #expect(ContinuousClock.now - shutdownStarted < .milliseconds(2500), "\(endpoint)")
        }
        await receiver.stop()
    }

    @Test("TLS with the test CA (https://, OTEL_EXPORTER_OTLP_CERTIFICATE); a collector whose CA is not trusted is refused")
    func tls() async throws {
        let receiver = try await OTLPGRPCReceiver.start(tls: true)
        let trusted = try exporter("https://localhost:\(receiver.port)", ["OTEL_EXPORTER_OTLP_CERTIFICATE": fixture("ca.pem")])
        try await trusted.export([span("send orders", spanID: 1)])
        await trusted.shutdown()
        #expect(receiver.requests.count == 1)
        // No scheme: TLS as well (OTEL_EXPORTER_OTLP_INSECURE defaults to false).
        let schemeless = try exporter("localhost:\(receiver.port)", ["OTEL_EXPORTER_OTLP_CERTIFICATE": fixture("ca.pem")])
        try await schemeless.export([span("send orders", spanID: 2)])
        await schemeless.shutdown()
        #expect(receiver.requests.count == 2)
        let untrusted = try exporter("https://localhost:\(receiver.port)", ["OTEL_EXPORTER_OTLP_TIMEOUT": "1000"])
        await #expect(throws: OTLPExporterError.self) { try await untrusted.export([span("send orders", spanID: 3)]) }
        await untrusted.shutdown()
        #expect(receiver.requests.count == 2)
        await receiver.stop()
    }

    @Test("OTEL_EXPORTER_OTLP_PROTOCOL chooses the transport; gRPC endpoints: the default, no scheme, INSECURE")
    func protocolSelection() throws {
        func made(_ environment: [String: String], default chosen: OTLPExporterConfiguration.WireProtocol) throws -> any SpanExporter {
            let configuration = TracerProvider.Configuration(serviceName: "orders", environment: environment).withOTLP(defaultProtocol: chosen)
            let factory = try #require(configuration.exporterFactories["otlp"])
            return try factory(quiet)
        }
        #expect(try made([:], default: .grpc) is OTLPGRPCExporter)
        #expect(try made([:], default: .httpProtobuf) is OTLPHTTPExporter)
        #expect(try made(["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"], default: .httpProtobuf) is OTLPGRPCExporter)
        #expect(try made(["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"], default: .grpc) is OTLPHTTPExporter)
        #expect((try made([:], default: .grpc) as? OTLPGRPCExporter)?.endpoint == "http://localhost:4317")
        // The HTTP exporter alone says where gRPC lives.
        #expect {
            _ = try OTLPHTTPExporter(configuration: OTLPExporterConfiguration(environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]))
        } throws: { error in
            "\(error)".contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the OTLPGRPCExporter module")
        }

        func resolved(_ environment: [String: String]) throws -> OTLPExporterConfiguration.Resolved {
            try OTLPExporterConfiguration(environment: environment).resolve(signal: .traces, defaultProtocol: .grpc)
        }
        let defaults = try resolved([:])
        #expect((defaults.host, defaults.port, defaults.usesTLS) == ("localhost", 4317, false))
        let schemeless = try resolved(["OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"])
        #expect((schemeless.host, schemeless.usesTLS) == ("collector", true))
        #expect(try resolved(["OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317", "OTEL_EXPORTER_OTLP_INSECURE": "true"]).usesTLS == false)
        #expect(try resolved(["OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4317"]).usesTLS)
        // No /v1/traces is appended over gRPC; the signal's own endpoint wins.
        #expect(try resolved(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"]).url == "http://collector:4317")
        #expect(try resolved(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4317"]).host == "b")
        #expect(throws: OTLPExporterError.self) { try resolved(["OTEL_EXPORTER_OTLP_INSECURE": "maybe", "OTEL_EXPORTER_OTLP_ENDPOINT": "c:1"]) }
    }
}
