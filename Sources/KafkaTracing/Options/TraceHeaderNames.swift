import Kafka

/// The message headers that carry trace context, which a traced send owns: it removes every one
/// of them from the message before injecting the current context, so a message re-sent with the
/// headers of another (a retry topic, a relay, a dead letter, code that copies headers) carries
/// only the new trace's context, never another trace's `tracestate`, `baggage` or — under a
/// tracer that writes none — `traceparent`.
///
/// Names are matched without regard to ASCII case (W3C: "Vendors MUST expect the header name in
/// any case"). The W3C three are always owned; add the fields of any other propagator your tracer
/// is configured with (``b3``, ``jaeger``, or your own).
public struct TraceHeaderNames: Sendable, Hashable {
    /// Header names, lowercase.
    public private(set) var names: Set<String>
    /// Name prefixes, lowercase (such as Jaeger's `uberctx-` baggage headers).
    public private(set) var prefixes: [String]

    /// - Parameters:
    ///   - names: whole header names.
    ///   - prefixes: every header whose name starts with one of these is owned too.
    public init(names: Set<String>, prefixes: [String] = []) {
        self.names = Set(names.map { $0.lowercased() })
        self.prefixes = prefixes.map { $0.lowercased() }
    }

    /// W3C Trace Context and Baggage: `traceparent`, `tracestate`, `baggage`.
    public static let w3c = TraceHeaderNames(names: ["traceparent", "tracestate", "baggage"])
    /// Zipkin B3, single (`b3`) and multiple headers.
    public static let b3 = TraceHeaderNames(
        names: ["b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags"]
    )
    /// Jaeger: `uber-trace-id` and the `uberctx-` baggage headers.
    public static let jaeger = TraceHeaderNames(names: ["uber-trace-id"], prefixes: ["uberctx-"])

    /// Both sets.
    public func union(_ other: TraceHeaderNames) -> TraceHeaderNames {
        TraceHeaderNames(names: self.names.union(other.names), prefixes: self.prefixes + other.prefixes)
    }

    /// Whether `key` names a trace header of this set.
    func owns(_ key: String) -> Bool {
        if self.isW3COnly { return Self.isW3C(key) }
        let lowercased = key.utf8.contains(where: { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) ? key.lowercased() : key
        return self.names.contains(lowercased) || self.prefixes.contains { lowercased.hasPrefix($0) }
    }

    /// Removes every header of this set, in place; a list without any is left as it is (not
    /// copied when it is shared with the caller's message).
    func remove(from headers: inout [KafkaHeader]) {
        guard headers.contains(where: { self.owns($0.key) }) else { return }
        headers.removeAll { self.owns($0.key) }
    }

    private var isW3COnly: Bool { self.prefixes.isEmpty && self.names == Self.w3c.names }

    /// `traceparent`, `tracestate` or `baggage` in any ASCII case, without hashing.
    private static func isW3C(_ key: String) -> Bool {
        var key = key
        return key.withUTF8 { bytes in
            switch bytes.count {
            case 7: return equalsIgnoringCase(bytes, "baggage")
            case 10: return equalsIgnoringCase(bytes, "tracestate")
            case 11: return equalsIgnoringCase(bytes, "traceparent")
            default: return false
            }
        }
    }

    private static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        for index in 0..<bytes.count where bytes[index] | 0x20 != expected[index] {
            return false
        }
        return true
    }
}
