import Tracing

/// Reads one untrusted header through the W3C propagators and checks what must hold for any
/// input: no crash, bounded work, and either no context or a valid one that re-emits as a valid
/// version-00 `traceparent`. For the fuzzer (`scripts/fuzz.sh`) and its regression tests.
///
/// The first byte chooses the header (`traceparent`, `tracestate` or `baggage`, or all three);
/// the rest is its value, decoded as UTF-8 with repairs (as a header value would arrive).
package func checkPropagation(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let value = String(decoding: input.dropFirst(), as: UTF8.self)
    var carrier: [String: String] = [:]
    switch selector % 4 {
    case 0: carrier["traceparent"] = value
    case 1: carrier = ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": value]
    case 2: carrier["baggage"] = value
    default: carrier = ["traceparent": value, "tracestate": value, "baggage": value]
    }
    var context = InstrumentationContext.topLevel
    let propagators = CompositePropagator([W3CTraceContextPropagator(), W3CBaggagePropagator()])
    propagators.extract(carrier, into: &context, using: SelfCheckCarrier())
    if let spanContext = context.spanContext {
        precondition(spanContext.isValid, "extracted an invalid span context from \(input)")
        precondition(TraceParent.parse(TraceParent.format(spanContext)) != nil, "re-emitted an unparsable traceparent")
        // W3C: one entry per key, every key and value within the grammar.
        let keys = spanContext.traceState.entries.map(\.key)
        precondition(Set(keys).count == keys.count, "tracestate kept a repeated key")
        precondition(
            spanContext.traceState.entries.allSatisfy { TraceState.isValidKey($0.key) && TraceState.isValidValue($0.value) },
            "tracestate kept an invalid member"
        )
    } else if selector % 4 == 1 {
        // A tracestate, however bad, never costs the valid traceparent beside it.
        preconditionFailure("a tracestate made the valid traceparent beside it unreadable: \(input)")
    }
    // Whatever was read is sent on within the specs' limits.
    var out: [String: String] = [:]
    propagators.inject(context, into: &out, using: SelfCheckCarrier())
    precondition((out["tracestate"]?.utf8.count ?? 0) <= 512, "tracestate sent over 512 characters")
    precondition((out["baggage"]?.utf8.count ?? 0) <= 8192, "baggage sent over 8192 bytes")
}

private struct SelfCheckCarrier: Extractor, Injector {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
