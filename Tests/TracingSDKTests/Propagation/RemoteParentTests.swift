import Testing
import Tracing
import TracingCapabilities
@testable import TracingSDK

private enum TenantKey: InstrumentationContextKey {
    typealias Value = String
}

/// A propagator of our own that extracts a value the W3C formats do not carry.
private struct TenantPropagator: TextMapPropagator {
    var fields: [String] { ["x-tenant"] }

    func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        if let tenant = context[TenantKey.self] { injector.inject(tenant, forKey: "x-tenant", into: &carrier) }
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        if let tenant = extractor.extract(key: "x-tenant", from: carrier) { context[TenantKey.self] = tenant }
    }
}

@Suite("Starting a span on a remote parent read from a carrier (RemoteParentTracer)")
struct RemoteParentTests {
    /// The capability's call, as instrumentation makes it.
    func continuing(
        _ tracer: SDKTracer,
        _ carrier: [String: String],
        at instant: some TracerInstant = DefaultTracerClock.now,
        linkingParent: Bool = true
    ) -> (any Span)? {
        tracer.startSpan(
            "process orders",
            continuingFrom: carrier,
            using: DictionaryExtractor(),
            ofKind: .consumer,
            at: instant,
            linkingParent: linkingParent,
            function: #function,
            file: #fileID,
            line: #line
        )
    }

    static let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    static let carriers: [[String: String]] = [
        ["traceparent": traceparent],
        ["traceparent": traceparent, "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "baggage": "userId=alice,tier=gold"],
        ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"],  // parent not sampled
        ["traceparent": traceparent, "tracestate": "not a tracestate!"],  // bad tracestate: dropped
        ["baggage": "userId=alice"],  // baggage alone: a new trace that carries it
        ["traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "baggage": "userId=alice"],
    ]

    /// What the capability starts, against what the API's path starts (extract, start, link):
    /// the same trace, parent, flags, trace state, link, and the same headers for the span's
    /// context but for its own span id.
    @Test("starts the span the API's extract-then-start starts, and links its parent", arguments: carriers)
    func sameSpan(carrier: [String: String]) async throws {
        for sampler in [AlwaysOnSampler(), ParentBasedSampler(root: AlwaysOnSampler())] as [any Sampler] {
            let test = TestTracer(sampler: sampler)
            let tracer = test.tracer
            var extracted = InstrumentationContext.topLevel
            tracer.extract(carrier, into: &extracted, using: DictionaryExtractor())
            let viaAPI = tracer.startSpan("process orders", context: extracted, ofKind: .consumer, at: FixedInstant(nanosecondsSinceEpoch: 7))
            viaAPI.addLink(SpanLink(context: extracted, attributes: [:]))
            let started = self.continuing(tracer, carrier, at: FixedInstant(nanosecondsSinceEpoch: 7))
            let direct = try #require(started as? SDKSpan)
            // A valid remote parent's trace is continued; without one both are new traces.
            let continued = extracted.spanContext != nil
            #expect((direct.spanContext.traceID == viaAPI.spanContext.traceID) == continued)
            #expect(direct.spanContext.flags == viaAPI.spanContext.flags)
            #expect(direct.spanContext.traceState == viaAPI.spanContext.traceState)
            #expect(direct.isRecording == viaAPI.isRecording)
            #expect(direct.spanContext.spanID != viaAPI.spanContext.spanID)

            var headersViaAPI: [String: String] = [:]
            tracer.inject(viaAPI.context, into: &headersViaAPI, using: DictionaryInjector())
            var headersDirect: [String: String] = [:]
            tracer.inject(direct.context, into: &headersDirect, using: DictionaryInjector())
            #expect(headersDirect["tracestate"] == headersViaAPI["tracestate"])
            #expect(headersDirect["baggage"] == headersViaAPI["baggage"])
            #expect((headersDirect["traceparent"]?.prefix(36) == headersViaAPI["traceparent"]?.prefix(36)) == continued)
            var injectedFromSpan: [String: String] = [:]
            #expect(tracer.injectContext(of: direct, into: &injectedFromSpan, using: DictionaryInjector()))
            #expect(injectedFromSpan == headersDirect)

            let recording = viaAPI.isRecording
            viaAPI.end(at: FixedInstant(nanosecondsSinceEpoch: 9))
            direct.end(at: FixedInstant(nanosecondsSinceEpoch: 9))
            let spans = await test.spans()
            #expect(spans.count == (recording ? 2 : 0))
            guard spans.count == 2 else { continue }
            let (api, capability) = (spans[0], spans[1])
            #expect(capability.parentSpanID == api.parentSpanID)
            #expect(capability.hasRemoteParent == api.hasRemoteParent)
            #expect(capability.kind == .consumer)
            #expect(capability.startNanosecondsSinceEpoch == 7)
            #expect(capability.links.map(\.spanContext) == api.links.map(\.spanContext))
            #expect(capability.links.allSatisfy { $0.attributes.count == 0 })
        }
    }

    @Test("starts nothing when the carrier holds no context (nor a valid traceparent, nor baggage)")
    func nothingToContinue() {
        let test = TestTracer()
        for carrier in [[:], ["traceparent": "00-zz-00f067aa0ba902b7-01"], ["other": "x"]] as [[String: String]] {
            #expect(self.continuing(test.tracer, carrier) == nil, "\(carrier)")
        }
        #expect(test.tracer.spanCounts.started == 0)
    }

    @Test("with other propagators, whatever they extract is in the span's context")
    func otherPropagators() throws {
        let tracer = SDKTracer(
            resource: Resource(),
            processor: MultiSpanProcessor([]),
            propagator: CompositePropagator([W3CTraceContextPropagator(), TenantPropagator()])
        )
        let started = self.continuing(tracer, ["traceparent": Self.traceparent, "x-tenant": "acme"], linkingParent: false)
        let span = try #require(started as? SDKSpan)
        #expect(span.context[TenantKey.self] == "acme")
        #expect(span.spanContext.traceID.description == "4bf92f3577b34da6a3ce929d0e0e4736")
        let tenantOnly = self.continuing(tracer, ["x-tenant": "acme"])
        #expect(tenantOnly.map { $0.context[TenantKey.self] } == "acme")
    }
}
