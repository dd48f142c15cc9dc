import HTTPTypes
import Testing
import Tracing
@testable import TracingSDK

/// HTTP header fields as Hummingbird, Vapor and AsyncHTTPClient hand them to swift-distributed-tracing.
struct HTTPFieldsInjector: Injector {
    func inject(_ value: String, forKey key: String, into fields: inout HTTPFields) {
        guard let name = HTTPField.Name(key) else { return }
        fields[name] = value
    }
}

struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from fields: HTTPFields) -> String? {
        guard let name = HTTPField.Name(key) else { return nil }
        // Repeated headers are combined with commas (RFC 9110), as for tracestate and baggage.
        let values = fields[values: name]
        return values.isEmpty ? nil : values.joined(separator: ",")
    }
}

@Suite("Propagation")
struct PropagatorTests {
    let tracer = SDKTracer(resource: Resource(), processor: MultiSpanProcessor([]))

    @Test("injects into and extracts from HTTP header fields")
    func httpFields() throws {
        var incoming = HTTPFields()
        incoming[HTTPField.Name("traceparent")!] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        incoming.append(HTTPField(name: HTTPField.Name("tracestate")!, value: "rojo=00f067aa0ba902b7"))
        incoming.append(HTTPField(name: HTTPField.Name("tracestate")!, value: "congo=t61rcWkgMzE"))
        incoming[HTTPField.Name("baggage")!] = "userId=alice"

        var context = InstrumentationContext.topLevel
        self.tracer.extract(incoming, into: &context, using: HTTPFieldsExtractor())
        let parent = try #require(context.spanContext)
        #expect(parent.traceState.entries.map(\.key) == ["rojo", "congo"])
        #expect(context.baggage?["userId"] == "alice")

        let span = self.tracer.startSpan("GET /orders", context: context, ofKind: .server)
        var outgoing = HTTPFields()
        self.tracer.inject(span.context, into: &outgoing, using: HTTPFieldsInjector())
        span.end()
        let traceparent = try #require(outgoing[HTTPField.Name("traceparent")!])
        #expect(traceparent.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-"))
        #expect(!traceparent.contains("00f067aa0ba902b7"))  // the new span is the parent now
        #expect(traceparent.hasSuffix("-01"))
        #expect(outgoing[HTTPField.Name("tracestate")!] == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        #expect(outgoing[HTTPField.Name("baggage")!] == "userId=alice")
    }

    @Test("a bad tracestate is dropped without invalidating traceparent")
    func badTraceState() throws {
        var context = InstrumentationContext.topLevel
        let carrier = ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "BAD=1"]
        self.tracer.extract(carrier, into: &context, using: DictionaryExtractor())
        let parent = try #require(context.spanContext)
        #expect(parent.isSampled)
        #expect(parent.traceState.isEmpty)
    }

    @Test("an invalid traceparent leaves the context without a parent, so a new trace starts")
    func invalidTraceParent() {
        var context = InstrumentationContext.topLevel
        self.tracer.extract(["traceparent": "00-ZZ", "tracestate": "a=1"], into: &context, using: DictionaryExtractor())
        #expect(context.spanContext == nil)
        let span = self.tracer.startSpan("root", context: context)
        #expect(span.spanContext.traceID.description != "00000000000000000000000000000000")
        span.end()
    }

    @Test("an unsampled span still propagates, with the sampled flag off")
    func unsampledPropagates() throws {
        let tracer = SDKTracer(resource: Resource(), processor: MultiSpanProcessor([]), sampler: AlwaysOffSampler())
        let span = tracer.startSpan("dropped")
        #expect(!span.isRecording)
        var carrier: [String: String] = [:]
        tracer.inject(span.context, into: &carrier, using: DictionaryInjector())
        let header = try #require(carrier["traceparent"])
        #expect(header.hasSuffix("-02"))  // not sampled, random trace id
        #expect(TraceParent.parse(header)?.traceID == span.spanContext.traceID)
    }

    @Test("random header values never crash and never yield an invalid context")
    func randomHeaders() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefABCDEF-=,; %\t@*/_xyz\u{0}\u{7f}é".unicodeScalars)
        for round in 0..<3_000 {
            let length = Int.random(in: 0...(round % 3 == 0 ? 120 : 60), using: &generator)
            var text = String(String.UnicodeScalarView((0..<length).map { _ in alphabet.randomElement(using: &generator)! }))
            if round % 5 == 0 { text = "00-" + text }
            // The same invariants the fuzzer checks (it traps when one does not hold), over each
            // header alone and all three at once.
            checkPropagation([UInt8(round % 4)] + Array(text.utf8))
        }
    }

    @Test("OTEL_PROPAGATORS chooses the formats")
    func environment() {
        let only = TracerProvider(
            configuration: .init(exporters: [], environment: ["OTEL_PROPAGATORS": "baggage"])
        ).tracer
        var context = InstrumentationContext.topLevel
        context.spanContext = SpanContext(traceID: TraceID(high: 1, low: 1), spanID: SpanID(1))
        context.baggage = Baggage([.init(key: "a", value: "b")])
        var carrier: [String: String] = [:]
        only.inject(context, into: &carrier, using: DictionaryInjector())
        #expect(carrier == ["baggage": "a=b"])

        let none = TracerProvider(configuration: .init(exporters: [], environment: ["OTEL_PROPAGATORS": "none"])).tracer
        carrier = [:]
        none.inject(context, into: &carrier, using: DictionaryInjector())
        #expect(carrier.isEmpty)
    }
}
