import AsyncHTTPClient
import CompressNIO
import Foundation
import Logging
import NIOCore
import NIOSSL
import OTLPTestReceiver
import SwiftProtobuf
import Testing
import Tracing
@testable import OTLPExporter
import TracingCapabilities
@testable import TracingSDK

typealias ExportRequest = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest

/// A span with every kind of data, from a known trace.
func sampleSpan(service: String = "orders", name: String = "send orders", status: SpanStatus? = SpanStatus(code: .error, message: "broker down")) -> FinishedSpan {
    var attributes = SpanAttributes()
    attributes.set("string", value: .string("s"))
    attributes.set("bool", value: .bool(true))
    attributes.set("int", value: .int64(-42))
    attributes.set("double", value: .double(2.5))
    attributes.set("strings", value: .stringArray(["a", "b"]))
    attributes.set("bools", value: .boolArray([true, false]))
    attributes.set("ints", value: .int64Array([1, 2]))
    attributes.set("doubles", value: .doubleArray([0.5]))
    var traceState = TraceState()
    traceState.set("vendor", "value")
    return FinishedSpan(
        spanContext: SpanContext(
            traceID: TraceID(hexString: "4bf92f3577b34da6a3ce929d0e0e4736")!,
            spanID: SpanID(hexString: "00f067aa0ba902b7")!,
            flags: [.sampled, .randomTraceID],
            traceState: traceState
        ),
        parentSpanID: SpanID(hexString: "53995c3f42cd8ad8"),
        isLocalRoot: true,
        hasRemoteParent: true,
        name: name,
        kind: .producer,
        startNanosecondsSinceEpoch: 1_700_000_000_000_000_000,
        endNanosecondsSinceEpoch: 1_700_000_000_005_000_000,
        attributes: attributes,
        events: [SpanEvent(name: "exception", at: FixedTime(nanosecondsSinceEpoch: 1_700_000_000_001_000_000), attributes: ["exception.type": "E"])],
        links: [
            FinishedSpanLink(
                spanContext: SpanContext(traceID: TraceID(high: 1, low: 2), spanID: SpanID(3), flags: .sampled, isRemote: true),
                attributes: ["link": "yes"],
                droppedAttributeCount: 1
            )
        ],
        status: status,
        droppedAttributeCount: 2,
        droppedEventCount: 3,
        droppedLinkCount: 4,
        resource: Resource(attributes: ["service.name": .string(service)]),
        instrumentationScope: InstrumentationScope(name: "kafka-tracing", version: "1.0")
    )
}

struct FixedTime: TracerInstant {
    var nanosecondsSinceEpoch: UInt64
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch }
}

func decodeRequest(_ request: OTLPReceiver.Request) throws -> ExportRequest {
    var body = ByteBuffer(bytes: request.body)
    if request.headers.first(name: "Content-Encoding") == "gzip" {
        body = try body.decompress(with: .gzip(), allocator: ByteBufferAllocator())
    }
    return try ExportRequest(serializedBytes: Array(body.readableBytesView))
}

func exporter(_ receiver: OTLPReceiver, _ configure: (inout OTLPExporterConfiguration) -> Void = { _ in }) throws -> OTLPHTTPExporter {
    var configuration = OTLPExporterConfiguration(endpoint: receiver.endpoint, environment: [:])
    configure(&configuration)
    return try OTLPHTTPExporter(configuration: configuration)
}

@Suite("OTLP exporter", .serialized)
struct OTLPExporterTests {
    @Test("every field of a span reaches the collector, grouped by resource and scope")
    func mapping() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        let exporter = try exporter(receiver) { $0.headers = ["authorization": "Bearer secret-token"] }
        try await exporter.export([sampleSpan(service: "orders"), sampleSpan(service: "payments", status: .init(code: .ok)), sampleSpan(service: "orders", name: "second")])

        let sent = try #require(receiver.requests.first)
        #expect(sent.method == .POST)
        #expect(sent.uri == "/v1/traces")
        #expect(sent.headers.first(name: "Content-Type") == "application/x-protobuf")
        #expect(sent.headers.first(name: "authorization") == "Bearer secret-token")
        let request = try decodeRequest(sent)
        #expect(request.resourceSpans.count == 2)
        let orders = request.resourceSpans[0]
        #expect(orders.resource.attributes.map(\.key) == ["service.name"])
        #expect(orders.resource.attributes[0].value.stringValue == "orders")
        #expect(orders.scopeSpans.count == 1)
        #expect(orders.scopeSpans[0].scope.name == "kafka-tracing" && orders.scopeSpans[0].scope.version == "1.0")
        #expect(orders.scopeSpans[0].spans.map(\.name) == ["send orders", "second"])
        #expect(request.resourceSpans[1].resource.attributes[0].value.stringValue == "payments")

        let span = orders.scopeSpans[0].spans[0]
        #expect(span.traceID.map { String(format: "%02x", $0) }.joined() == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(span.spanID.map { String(format: "%02x", $0) }.joined() == "00f067aa0ba902b7")
        #expect(span.parentSpanID.map { String(format: "%02x", $0) }.joined() == "53995c3f42cd8ad8")
        #expect(span.traceState == "vendor=value")
        #expect(span.flags == 0x03 | 0x100 | 0x200)
        #expect(span.kind == .producer)
        #expect(span.startTimeUnixNano == 1_700_000_000_000_000_000)
        #expect(span.endTimeUnixNano == 1_700_000_000_005_000_000)
        let attributes = Dictionary(uniqueKeysWithValues: span.attributes.map { ($0.key, $0.value) })
        #expect(attributes["string"]?.stringValue == "s")
        #expect(attributes["bool"]?.boolValue == true)
        #expect(attributes["int"]?.intValue == -42)
        #expect(attributes["double"]?.doubleValue == 2.5)
        #expect(attributes["strings"]?.arrayValue.values.map(\.stringValue) == ["a", "b"])
        #expect(attributes["bools"]?.arrayValue.values.map(\.boolValue) == [true, false])
        #expect(attributes["ints"]?.arrayValue.values.map(\.intValue) == [1, 2])
        #expect(attributes["doubles"]?.arrayValue.values.map(\.doubleValue) == [0.5])
        #expect(span.droppedAttributesCount == 2 && span.droppedEventsCount == 3 && span.droppedLinksCount == 4)
        #expect(span.events.map(\.name) == ["exception"])
        #expect(span.events[0].timeUnixNano == 1_700_000_000_001_000_000)
        #expect(span.events[0].attributes[0].key == "exception.type")
        #expect(span.links.count == 1)
        #expect(span.links[0].spanID == OTLPEncoding.bytes(SpanID(3)))
        #expect(span.links[0].attributes[0].value.stringValue == "yes")
        #expect(span.links[0].droppedAttributesCount == 1)
        #expect(span.links[0].flags == 0x01 | 0x100 | 0x200)
        #expect(span.status.code == .error && span.status.message == "broker down")
        #expect(request.resourceSpans[1].scopeSpans[0].spans[0].status.code == .ok)
        #expect(exporter.statistics == .init(exportedSpans: 3, failedSpans: 0, rejectedSpans: 0, retries: 0))
        await exporter.shutdown()
    }

    @Test("https with a custom CA certificate; an unknown CA is refused")
    func tls() async throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        let server = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(fixtures.appendingPathComponent("server.pem").path).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: fixtures.appendingPathComponent("server-key.pem").path, format: .pem))
        )
        let receiver = try await OTLPReceiver.start(tls: try NIOSSLContext(configuration: server))
        defer { Task { await receiver.stop() } }
        #expect(receiver.endpoint.hasPrefix("https://"))

        let trusting = try exporter(receiver) { $0.certificateFile = fixtures.appendingPathComponent("ca.pem").path }
        try await trusting.export([sampleSpan()])
        #expect(receiver.requests.count == 1)
        #expect(try decodeRequest(receiver.requests[0]).resourceSpans.count == 1)
        await trusting.shutdown()

        // Without the CA, the certificate is not trusted: the export fails and nothing arrives.
        let untrusting = try exporter(receiver) { $0.timeout = .seconds(2) }
        await #expect(throws: (any Error).self) { try await untrusting.export([sampleSpan()]) }
        #expect(receiver.requests.count == 1)
        await untrusting.shutdown()

        #expect(throws: OTLPExporterError.self) {
            _ = try OTLPHTTPExporter(configuration: .init(endpoint: receiver.endpoint, certificateFile: "/no/such/ca.pem", environment: [:]))
        }
    }

    @Test("gzip compresses the body and says so")
    func gzip() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        let exporter = try exporter(receiver) { $0.compression = .gzip }
        try await exporter.export([sampleSpan()])
        let sent = try #require(receiver.requests.first)
        #expect(sent.headers.first(name: "Content-Encoding") == "gzip")
        #expect(sent.body.prefix(2) == [0x1f, 0x8b])
        #expect(try decodeRequest(sent).resourceSpans[0].scopeSpans[0].spans[0].name == "send orders")
    }

    @Test("http/json uses hex ids, integer enums and camelCase names")
    func json() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        let exporter = try exporter(receiver) { $0.wireProtocol = .httpJSON }
        try await exporter.export([sampleSpan()])
        let sent = try #require(receiver.requests.first)
        #expect(sent.headers.first(name: "Content-Type") == "application/json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(sent.body)) as? [String: Any])
        let resourceSpans = try #require(object["resourceSpans"] as? [[String: Any]])
        let scopeSpans = try #require(resourceSpans[0]["scopeSpans"] as? [[String: Any]])
        let span = try #require((scopeSpans[0]["spans"] as? [[String: Any]])?.first)
        #expect(span["traceId"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(span["spanId"] as? String == "00f067aa0ba902b7")
        #expect(span["parentSpanId"] as? String == "53995c3f42cd8ad8")
        #expect(span["kind"] as? Int == 4)
        #expect((span["status"] as? [String: Any])?["code"] as? Int == 2)
        #expect(span["startTimeUnixNano"] as? String == "1700000000000000000")
        let links = try #require(span["links"] as? [[String: Any]])
        #expect(links[0]["traceId"] as? String == "00000000000000010000000000000002")
    }

    @Test("503 with Retry-After and 429 are retried; then the export succeeds")
    func retries() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        receiver.script(
            .init(status: .serviceUnavailable, headers: [("Retry-After", "0")]),
            .init(status: .tooManyRequests),
            .init(status: .badGateway)
        )
        let exporter = try exporter(receiver)
        try await exporter.export([sampleSpan()])
        #expect(receiver.requests.count == 4)
        #expect(exporter.statistics == .init(exportedSpans: 1, failedSpans: 0, rejectedSpans: 0, retries: 3))
    }

    @Test("retries wait on the exporter's clock: Retry-After to the instant, then the backoff's next step (500 ms ± 50 %)")
    func retryTiming() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        receiver.script(
            .init(status: .serviceUnavailable, headers: [("Retry-After", "2")]),
            .init(status: .badGateway)
        )
        let clock = TestClock()
        let exporter = try OTLPHTTPExporter(
            configuration: OTLPExporterConfiguration(endpoint: receiver.endpoint, environment: [:]),
            logger: Logger(label: "otlp-tests"),
            signal: .traces,
            clock: ElapsedClock(clock)
        )
        let export = Task { try await exporter.export([sampleSpan()]) }
        /// Waits (for the network) until the exporter sleeps on the clock after `requests` requests.
        func asleep(after requests: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while !(clock.sleeping == 1 && receiver.requests.count == requests), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
            #expect(clock.sleeping == 1 && receiver.requests.count == requests)
        }
        try await asleep(after: 1)
        clock.advance(by: .seconds(2) - .milliseconds(1))
        #expect(clock.sleeping == 1 && receiver.requests.count == 1, "retried before Retry-After's 2 s")
        clock.advance(by: .milliseconds(1))
        try await asleep(after: 2)
        // The backoff doubles at every retry, the Retry-After one too: this delay is 500 ms with
        // ±50 % jitter, so not before 250 ms, and by 750 ms.
        clock.advance(by: .milliseconds(249))
        #expect(clock.sleeping == 1 && receiver.requests.count == 2, "retried before 250 ms")
        clock.advance(by: .milliseconds(501))
        let deadline = ContinuousClock.now + .seconds(10)
        while receiver.requests.count < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
        #expect(receiver.requests.count == 3, "not retried by 750 ms")
        clock.advance(by: .seconds(30))  // (ends the export whatever happened: a failing test must not hang)
        try await export.value
        #expect(receiver.requests.count == 3)
        #expect(exporter.statistics == .init(exportedSpans: 1, failedSpans: 0, rejectedSpans: 0, retries: 2))
        await exporter.shutdown()
    }

    @Test("other 4xx answers are not retried; the batch is dropped and counted")
    func noRetry() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        receiver.script(.init(status: .badRequest, body: Array("bad span".utf8)))
        let exporter = try exporter(receiver)
        let error = try await #require(throws: OTLPExporterError.self) { try await exporter.export([sampleSpan(), sampleSpan()]) }
        #expect(error.message.contains("400"))
        #expect(error.message.contains("bad span"))
        #expect(receiver.requests.count == 1)
        #expect(exporter.statistics == .init(exportedSpans: 0, failedSpans: 2, rejectedSpans: 0, retries: 0))
    }

    @Test("the exporter's own requests are not traced, even with a tracer current (no span per export, forever)")
    func exportsAreNotTraced() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        let recorded = InMemorySpanExporter()
        let tracer = SDKTracer(resource: Resource(), processor: SimpleSpanProcessor(exporter: recorded), sampler: AlwaysOnSampler())
        try await withTracer(tracer) {
            // The control: a client made here traces its requests with this tracer.
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            _ = try await client.execute(HTTPClientRequest(url: receiver.endpoint), timeout: .seconds(5))
            try await client.shutdown()
            await tracer.flush()
            #expect(recorded.spans.count == 1)
            recorded.reset()

            let exporter = try exporter(receiver)
            try await exporter.export([sampleSpan()])
            await exporter.shutdown()
        }
        await tracer.flush()
        #expect(receiver.requests.count == 2)
        #expect(recorded.spans.isEmpty)
    }

    @Test("a collector that never answers fails the export within its timeout")
    func hungCollector() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        receiver.script(.init(delay: .seconds(30)))
        let exporter = try exporter(receiver) { $0.timeout = .milliseconds(500) }
        let start = ContinuousClock.now
        await #expect(throws: (any Error).self) { try await exporter.export([sampleSpan()]) }
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(exporter.statistics.failedSpans == 1)
    }

    @Test("a refused connection is retried until the timeout, then dropped and counted")
    func unreachable() async throws {
        let receiver = try await OTLPReceiver.start()
        let endpoint = receiver.endpoint
        await receiver.stop()
        let exporter = try OTLPHTTPExporter(configuration: .init(endpoint: endpoint, timeout: .seconds(1), environment: [:]))
        let start = ContinuousClock.now
        let error = try await #require(throws: OTLPExporterError.self) { try await exporter.export([sampleSpan()]) }
        #expect(error.message.contains("cannot reach the collector"))
        #expect(ContinuousClock.now - start < .seconds(3))
        // AsyncHTTPClient's pool itself keeps reconnecting until the request's deadline.
        #expect(exporter.statistics.failedSpans == 1)
    }

    @Test("a collector that comes back: spans ended during the outage are dropped and counted, later ones arrive")
    func collectorReturns() async throws {
        let first = try await OTLPReceiver.start()
        let port = first.port
        await first.stop()
        let exporter = try OTLPHTTPExporter(
            configuration: .init(endpoint: "http://127.0.0.1:\(port)/v1/traces", timeout: .milliseconds(500), environment: [:])
        )
        var configuration = BatchSpanProcessor.Configuration()
        configuration.scheduleDelay = .milliseconds(50)
        configuration.exportTimeout = .milliseconds(600)
        let processor = BatchSpanProcessor(exporter: exporter, configuration: configuration)
        let tracer = SDKTracer(resource: Resource(), processor: processor, sampler: AlwaysOnSampler())
        for index in 0..<10 { tracer.startSpan("during outage \(index)").end() }
        await processor.forceFlush()
        #expect(processor.statistics.failedExport == 10)
        #expect(exporter.statistics.failedSpans == 10)

        let back = try await OTLPReceiver.start(port: port)
        defer { Task { await back.stop() } }
        for index in 0..<5 { tracer.startSpan("after \(index)").end() }
        await processor.forceFlush()
        #expect(processor.statistics.exported == 5)
        let names = try back.requests.flatMap { request in
            try ExportRequest(serializedBytes: request.body).resourceSpans.flatMap(\.scopeSpans).flatMap(\.spans).map(\.name)
        }
        #expect(Set(names) == Set((0..<5).map { "after \($0)" }))
        await processor.shutdown()
    }

    @Test(
        "a partial success is counted, in a protobuf answer or a JSON one (a Content-Type naming json, with parameters)",
        arguments: [false, true]
    )
    func partialSuccess(json: Bool) async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        var response = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse()
        response.partialSuccess.rejectedSpans = 2
        response.partialSuccess.errorMessage = "spans too old"
        receiver.script(
            json
                ? .init(headers: [("Content-Type", "application/json; charset=utf-8")], body: try response.jsonUTF8Bytes() as [UInt8])
                : .init(headers: [("Content-Type", "application/x-protobuf")], body: try response.serializedBytes())
        )
        let exporter = try exporter(receiver)
        try await exporter.export([sampleSpan(), sampleSpan(), sampleSpan()])
        #expect(exporter.statistics.rejectedSpans == 2)
        #expect(exporter.statistics.exportedSpans == 3)
    }

    @Test("behind the batch processor, a failing collector never blocks the caller and drops are counted")
    func neverInTheWay() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        for _ in 0..<20 { receiver.script(.init(delay: .seconds(30))) }
        let exporter = try exporter(receiver) { $0.timeout = .milliseconds(200) }
        var configuration = BatchSpanProcessor.Configuration()
        configuration.maxQueueSize = 100
        configuration.maxExportBatchSize = 50
        configuration.exportTimeout = .milliseconds(300)
        let processor = BatchSpanProcessor(exporter: exporter, configuration: configuration)
        let tracer = SDKTracer(resource: Resource(), processor: processor, sampler: AlwaysOnSampler())
        let start = ContinuousClock.now
        for index in 0..<10_000 { tracer.startSpan("s\(index)").end() }
        let loop = ContinuousClock.now - start
        #expect(loop < .seconds(2))  // the loop ran at full speed
        let shutdownStart = ContinuousClock.now
        await processor.shutdown()
        #expect(ContinuousClock.now - shutdownStart < .seconds(5))
        let statistics = processor.statistics
        #expect(statistics.droppedQueueFull + statistics.failedExport + statistics.exported == 10_000)
        // Every export hangs until its 200 ms timeout, so while the loop ran the processor took at
        // most one batch of 50 per 200 ms (plus one in hand) out of its queue of 100: the rest was
        // dropped. (Bounded by the loop's own duration: under ThreadSanitizer it runs ~10× slower.)
        let batchesTaken = Int(loop / .milliseconds(200)) + 2
        #expect(statistics.droppedQueueFull >= 10_000 - 100 - 50 * batchesTaken)
        #expect(statistics.droppedQueueFull > 0)
    }
}

@Suite("OTLP configuration")
struct OTLPConfigurationTests {
    @Test("endpoints: the base gets /v1/traces, the traces-specific one is used as is, code wins")
    func endpoints() throws {
        #expect(try OTLPExporterConfiguration(environment: [:]).resolve().url == "http://localhost:4318/v1/traces")
        #expect(
            try OTLPExporterConfiguration(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"]).resolve().url
                == "http://collector:4318/v1/traces"
        )
        let both = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/custom"]
        #expect(try OTLPExporterConfiguration(environment: both).resolve().url == "https://b/custom")
        #expect(try OTLPExporterConfiguration(endpoint: "http://code/v1/traces", environment: both).resolve().url == "http://code/v1/traces")
    }

    @Test("headers, timeout, compression and protocol from the environment; traces-specific wins")
    func environment() throws {
        let resolved = try OTLPExporterConfiguration(environment: [
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=generic",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=secret%20value, x-team = pay",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        ]).resolve()
        #expect(resolved.headers.map { "\($0.0)=\($0.1)" } == ["api-key=secret value", "x-team=pay"])
        #expect(resolved.timeout == .milliseconds(2500))
        #expect(resolved.compression == .gzip)
        #expect(resolved.wireProtocol == .httpJSON)
    }

    @Test(
        "unsupported or malformed settings are rejected with what to fix",
        arguments: [
            (["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "c:4317", "OTEL_EXPORTER_OTLP_INSECURE": "yes"], "not a boolean"),
            (["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"], "not an OTLP protocol"),
            (["OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"], "use gzip or none"),
            (["OTEL_EXPORTER_OTLP_TIMEOUT": "soon"], "whole milliseconds"),
            (["OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"], "invalid OTLP endpoint"),
            (["OTEL_EXPORTER_OTLP_HEADERS": "token-without-value"], "malformed"),
        ]
    )
    func invalid(environment: [String: String], message: String) {
        #expect {
            _ = try OTLPExporterConfiguration(environment: environment).resolve()
        } throws: { error in
            (error as? OTLPExporterError)?.message.contains(message) ?? false
        }
    }

    @Test("a header value never appears in an error")
    func headerSecret() {
        #expect {
            _ = try OTLPExporterConfiguration(environment: ["OTEL_EXPORTER_OTLP_HEADERS": "a=1,secret-token-only"]).resolve()
        } throws: { error in
            !"\(error)".contains("secret-token-only")
        }
    }

    @Test("Retry-After in seconds or as an HTTP date")
    func retryAfter() {
        #expect(OTLPHTTPExporter.parseRetryAfter("3") == .seconds(3))
        #expect(OTLPHTTPExporter.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == .zero)
        #expect(OTLPHTTPExporter.parseRetryAfter("later") == nil)
    }

    @Test("the tracer provider uses OTLP by default once registered, and skips a broken one with a warning")
    func provider() async {
        let provider = TracerProvider(configuration: TracerProvider.Configuration(environment: [:]).withOTLP())
        #expect(provider.exporterNames == ["otlp"])
        await provider.shutdown()
        let broken = TracerProvider(
            configuration: TracerProvider.Configuration(environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]).withOTLP()
        )
        #expect(broken.exporterNames.isEmpty)
        #expect(broken.configurationProblems.count == 1)
        #expect(broken.configurationProblems.first?.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the OTLPGRPCExporter module") == true)
    }
}

@Suite("OTLP span grouping")
struct OTLPGroupingTests {
    @Test("spans sharing a tracer's resource and scope by reference, interleaved with others and with equal copies, land in the right groups in order")
    func sharedOrigins() {
        let orders = sampleSpan(service: "orders", name: "a")
        var ordersAgain = orders  // same tracer: the resource and scope shared by reference
        ordersAgain.name = "b"
        let payments = sampleSpan(service: "payments", name: "c")
        var ordersLater = orders
        ordersLater.name = "d"
        let ordersEqual = sampleSpan(service: "orders", name: "e")  // equal by value, not shared
        var otherScope = sampleSpan(service: "orders", name: "f")
        otherScope.instrumentationScope = InstrumentationScope(name: "other", version: nil)
        var otherScopeAgain = otherScope
        otherScopeAgain.name = "g"
        let spans = [orders, ordersAgain, payments, ordersLater, ordersEqual, otherScope, otherScopeAgain, payments]
        #expect(orders.origin === ordersAgain.origin && orders.origin !== ordersEqual.origin)

        let groups = OTLPEncoding.group(spans)
        #expect(groups.map { $0.resource.serviceName } == ["orders", "payments"])
        #expect(groups[0].scopes.map(\.scope.name) == ["kafka-tracing", "other"])
        #expect(groups[0].scopes.map(\.spans) == [[0, 1, 3, 4], [5, 6]])
        #expect(groups[1].scopes.map(\.spans) == [[2, 7]])
    }
}

@Suite("OTLP protobuf writer")
struct OTLPProtobufWriterTests {
    @Test("writes exactly what the generated swift-protobuf types encode, edge values included")
    func matchesGeneratedTypes() throws {
        var edge = sampleSpan(name: String(repeating: "long name ", count: 40))
        edge.attributes.set("empty", value: .string(""))
        edge.attributes.set("false", value: .bool(false))
        edge.attributes.set("zero", value: .int64(0))
        edge.attributes.set("negative", value: .int32(-1))
        edge.attributes.set("zero-double", value: .double(0))
        edge.attributes.set("empty-array", value: .stringArray([]))
        edge.attributes.set("ints32", value: .int32Array([-5, 7]))
        // Lengths of one, two and three bytes around the room the writer leaves for them.
        edge.attributes.set("huge", value: .string(String(repeating: "x", count: 20_000)))
        edge.attributes.set("just-short", value: .string(String(repeating: "y", count: 120)))
        edge.attributes.set("just-long", value: .string(String(repeating: "z", count: 130)))
        var tiny = sampleSpan(name: "t", status: nil)
        tiny.attributes = [:]
        tiny.events = []
        tiny.links = []
        var plain = sampleSpan(service: "other", status: nil)
        plain.parentSpanID = nil
        plain.links = []
        plain.events = []
        plain.droppedAttributeCount = 0
        plain.spanContext.traceState = TraceState()
        var batch = [edge, plain, tiny]
        for index in 0..<300 {
            var span = sampleSpan(service: index % 2 == 0 ? "orders" : "payments", name: "s\(index)")
            span.instrumentationScope = InstrumentationScope(name: index % 3 == 0 ? "a" : "b")
            batch.append(span)
        }
        let written = try ExportRequest(serializedBytes: OTLPProtobufWriter.requestBytes(batch))
        let reference = OTLPEncoding.request(batch)
        // Attribute order is free in OTLP; compare with attributes sorted by key.
        #expect(sortedAttributes(written) == sortedAttributes(reference))
        #expect(written.resourceSpans.flatMap(\.scopeSpans).flatMap(\.spans).count == 303)
    }

    @Test("a span's attribute template, encoded once, is written with the span's own attributes over it: no name twice")
    func attributeTemplates() throws {
        let template = SpanAttributeTemplate([
            "messaging.system": "kafka", "messaging.destination.name": "orders", "server.port": 9092,
            "strings": .stringArray(["a", "b"]), "long": .string(String(repeating: "l", count: 200)),
        ])
        func span(_ name: String, own: SpanAttributes) -> FinishedSpan {
            let base = sampleSpan(name: name)
            return FinishedSpan(
                spanContext: base.spanContext, parentSpanID: base.parentSpanID, isLocalRoot: true, hasRemoteParent: false,
                name: name, kind: .producer, startNanosecondsSinceEpoch: 1, endNanosecondsSinceEpoch: 2,
                attributes: own, events: [], links: [], status: nil,
                droppedAttributeCount: 0, droppedEventCount: 0, droppedLinkCount: 0,
                resource: base.resource, instrumentationScope: base.instrumentationScope, attributeTemplate: template
            )
        }
        let batch = [
            span("template only", own: [:]),
            // ("retries" has the length of a template name, "strings", and is not one.)
            span("own added", own: ["messaging.kafka.offset": 7, "messaging.kafka.message.key": "k", "retries": 2]),
            span("own replaces", own: ["server.port": 19092, "long": "short", "extra": true]),
            span("template only again", own: [:]),
        ]
        #expect(batch[2].attributes.count == 6 && batch[2].attributes.get("server.port") == .int64(19092))
        for _ in 0..<2 {  // the second batch writes the encoding kept from the first
            let written = try ExportRequest(serializedBytes: OTLPProtobufWriter.requestBytes(batch))
            #expect(sortedAttributes(written) == sortedAttributes(OTLPEncoding.request(batch)))
            let spans = written.resourceSpans.flatMap(\.scopeSpans).flatMap(\.spans)
            #expect(spans.map(\.attributes.count) == [5, 8, 6, 5])
            for span in spans { #expect(Set(span.attributes.map(\.key)).count == span.attributes.count, "a name written twice in \(span.name)") }
        }
    }

    func sortedAttributes(_ request: ExportRequest) -> ExportRequest {
        var request = request
        for r in request.resourceSpans.indices {
            request.resourceSpans[r].resource.attributes.sort { $0.key < $1.key }
            for s in request.resourceSpans[r].scopeSpans.indices {
                for p in request.resourceSpans[r].scopeSpans[s].spans.indices {
                    request.resourceSpans[r].scopeSpans[s].spans[p].attributes.sort { $0.key < $1.key }
                    for e in request.resourceSpans[r].scopeSpans[s].spans[p].events.indices {
                        request.resourceSpans[r].scopeSpans[s].spans[p].events[e].attributes.sort { $0.key < $1.key }
                    }
                    for l in request.resourceSpans[r].scopeSpans[s].spans[p].links.indices {
                        request.resourceSpans[r].scopeSpans[s].spans[p].links[l].attributes.sort { $0.key < $1.key }
                    }
                }
            }
        }
        return request
    }
}
