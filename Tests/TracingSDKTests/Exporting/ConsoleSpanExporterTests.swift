import Locking
import Testing
import Tracing
@testable import TracingSDK

@Suite("Console exporter")
struct ConsoleSpanExporterTests {
    @Test("prints a finished trace as a tree with durations, services and errors")
    func tree() async throws {
        let output = Locked("")
        let console = ConsoleSpanExporter(quietPeriod: .seconds(60)) { text in output.withLock { $0 += text } }
        // Four services in one process, sharing one provider's processing.
        let provider = TracerProvider(
            configuration: .init(serviceName: "frontend", exporters: [console], exportsImmediately: true, environment: [:])
        )
        let (frontend, gateway, auth, orders) = (
            provider.tracer, provider.tracer(serviceName: "api-gateway"), provider.tracer(serviceName: "auth-service"),
            provider.tracer(serviceName: "order-service")
        )
        func at(_ milliseconds: UInt64) -> FixedInstant { FixedInstant(nanosecondsSinceEpoch: milliseconds * 1_000_000) }
        let root = frontend.startSpan("frontend", at: at(0))
        let api = gateway.startSpan("api-gateway", context: root.context, at: at(2))
        auth.startSpan("auth-service", context: api.context, at: at(3)).end(at: at(8))
        let order = orders.startSpan("order-service", context: api.context, at: at(10))
        order.setStatus(.init(code: .error, message: "card declined"))
        order.end(at: at(95))
        api.end(at: at(97))
        root.end(at: at(100))
        await provider.forceFlush()
        #expect(
            output.withLock { $0 } == """
                frontend (100ms)
                └─ api-gateway (95ms)
                   ├─ auth-service (5ms)
                   └─ order-service (85ms) ✗ card declined

                """
        )
    }

    @Test("names the service where it differs from the parent's")
    func services() {
        let resource = { (name: String) in Resource(attributes: ["service.name": .string(name)]) }
        func span(_ name: String, _ id: UInt64, parent: UInt64?, service: String) -> FinishedSpan {
            FinishedSpan(
                spanContext: SpanContext(traceID: TraceID(high: 1, low: 1), spanID: SpanID(id), flags: .sampled),
                parentSpanID: parent.map(SpanID.init),
                isLocalRoot: parent == nil,
                hasRemoteParent: false,
                name: name,
                kind: .internal,
                startNanosecondsSinceEpoch: id,
                endNanosecondsSinceEpoch: id + 1_500_000,
                attributes: [:],
                events: [],
                links: [],
                status: nil,
                droppedAttributeCount: 0,
                droppedEventCount: 0,
                droppedLinkCount: 0,
                resource: resource(service),
                instrumentationScope: InstrumentationScope(name: "t")
            )
        }
        let text = ConsoleSpanExporter.render([
            span("send orders", 2, parent: 1, service: "checkout"),
            span("checkout", 1, parent: nil, service: "checkout"),
            span("process orders", 3, parent: 2, service: "inventory"),
        ])
        #expect(text == "checkout (1.5ms)\n└─ send orders (1.5ms)\n   └─ process orders [inventory] (1.5ms)\n")
    }

    @Test("with maxPrintedTraces, only the first traces are printed, the rest counted in one line at shutdown, none held")
    func printedTracesLimit() async throws {
        let output = Locked("")
        let console = ConsoleSpanExporter(quietPeriod: .zero, maxPrintedTraces: 3) { text in output.withLock { $0 += text } }
        let provider = TracerProvider(
            configuration: .init(serviceName: "s", exporters: [console], exportsImmediately: true, environment: [:])
        )
        for index in 0..<10 {
            let root = provider.tracer.startSpan("request \(index)")
            provider.tracer.startSpan("send \(index)", context: root.context).end()
            root.end()
        }
        await provider.forceFlush()
        await provider.shutdown()
        let lines = output.withLock { $0 }.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("request ") }.map { $0.split(separator: " ")[1] } == ["0", "1", "2"])
        #expect(lines.count { $0.contains("send ") } == 3)
        #expect(lines.last == "… and 14 more spans, not printed: only the first 3 traces are")
    }

    @Test("without a limit every trace is printed and no summary line is written")
    func noLimit() async throws {
        let output = Locked("")
        let console = ConsoleSpanExporter(quietPeriod: .zero) { text in output.withLock { $0 += text } }
        let provider = TracerProvider(
            configuration: .init(serviceName: "s", exporters: [console], exportsImmediately: true, environment: [:])
        )
        for index in 0..<30 { provider.tracer.startSpan("request \(index)").end() }
        await provider.shutdown()
        let lines = output.withLock { $0 }.split(separator: "\n")
        #expect(lines.count == 30)
        #expect(!lines.contains { $0.contains("not printed") })
    }
}
