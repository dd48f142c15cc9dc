import Testing
import Tracing
import TracingCapabilities
@testable import TracingSDK

/// A propagator of our own, reading a context value the W3C formats do not: it must see the
/// span's whole context.
private enum TenantKey: InstrumentationContextKey {
    typealias Value = String
}

private struct TenantPropagator: TextMapPropagator {
    var fields: [String] { ["x-tenant", "x-span"] }

    func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        if let tenant = context[TenantKey.self] { injector.inject(tenant, forKey: "x-tenant", into: &carrier) }
        if let span = context.spanContext { injector.inject(span.spanID.description, forKey: "x-span", into: &carrier) }
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract.Carrier == Carrier {}
}

@Suite("Injecting a span's context from the span (SpanContextInjectingTracer)")
struct SpanContextInjectionTests {
    /// What each path writes for `span`: from the span, and through `span.context`.
    func bothWays(_ tracer: SDKTracer, _ span: SDKSpan) -> (fromSpan: [String: String], viaContext: [String: String]) {
        var fromSpan: [String: String] = [:]
        let injected = tracer.injectContext(of: span as any Span, into: &fromSpan, using: DictionaryInjector())
        #expect(injected)
        var viaContext: [String: String] = [:]
        tracer.inject(span.context, into: &viaContext, using: DictionaryInjector())
        return (fromSpan, viaContext)
    }

    @Test(
        "writes exactly what injecting span.context writes: roots, children, remote parents with tracestate and baggage, unsampled spans",
        arguments: [true, false]
    )
    func sameHeaders(sampled: Bool) throws {
        let tracer = SDKTracer(
            resource: Resource(),
            processor: MultiSpanProcessor([]),
            sampler: sampled ? AlwaysOnSampler() : AlwaysOffSampler()
        )
        let root = tracer.startSpan("root", context: .topLevel)
        let child = tracer.startSpan("child", context: root.context)

        var remote = InstrumentationContext.topLevel
        tracer.extract(
            [
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                "baggage": "userId=alice,tier=gold",
            ],
            into: &remote,
            using: DictionaryExtractor()
        )
        let continued = tracer.startSpan("continued", context: remote)
        let grandchild = tracer.startSpan("grandchild", context: continued.context)

        // Baggage with no span context in the parent: a root that still carries baggage.
        var baggageOnly = InstrumentationContext.topLevel
        baggageOnly.baggage = remote.baggage
        let rootWithBaggage = tracer.startSpan("root with baggage", context: baggageOnly)

        for span in [root, child, continued, grandchild, rootWithBaggage] {
            let (fromSpan, viaContext) = self.bothWays(tracer, span)
            #expect(fromSpan == viaContext, "\(span.operationName)")
            #expect(TraceParent.parse(try #require(fromSpan["traceparent"]))?.spanID == span.spanContext.spanID)
            span.end()
        }
        #expect(self.bothWays(tracer, grandchild).fromSpan.keys.sorted() == ["baggage", "traceparent", "tracestate"])
        #expect(self.bothWays(tracer, root).fromSpan.keys.sorted() == ["traceparent"])
        #expect(self.bothWays(tracer, rootWithBaggage).fromSpan["baggage"] == "userId=alice,tier=gold")
    }

    @Test("other propagators than the W3C ones still get the span's whole context; only the configured formats are written")
    func otherPropagators() {
        let tracer = SDKTracer(
            resource: Resource(),
            processor: MultiSpanProcessor([]),
            propagator: CompositePropagator([W3CTraceContextPropagator(), TenantPropagator()])
        )
        var parent = InstrumentationContext.topLevel
        parent[TenantKey.self] = "acme"
        parent.baggage = Baggage([Baggage.Entry(key: "userId", value: "alice")])
        let span = tracer.startSpan("tenant", context: parent)
        let (fromSpan, viaContext) = self.bothWays(tracer, span)
        #expect(fromSpan == viaContext)
        #expect(fromSpan.keys.sorted() == ["traceparent", "x-span", "x-tenant"])  // no baggage propagator configured
        #expect(fromSpan["x-span"] == span.spanContext.spanID.description)
        span.end()
    }

    @Test("declines a span of another tracer, writing nothing")
    func foreignSpan() {
        let tracer = SDKTracer(resource: Resource(), processor: MultiSpanProcessor([]))
        var carrier: [String: String] = [:]
        let foreign = NoOpTracer().startAnySpan("elsewhere", context: .topLevel)
        #expect(!tracer.injectContext(of: foreign, into: &carrier, using: DictionaryInjector()))
        #expect(carrier.isEmpty)
    }
}
