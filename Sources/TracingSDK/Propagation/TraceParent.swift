/// W3C `traceparent`: parsing exact to Trace Context (Level 2) and formatting as version 00.
public enum TraceParent {
    /// The header length of version 00.
    static let length = 55

    /// Parses a `traceparent` value.
    ///
    /// Accepts version 00 of exactly 55 characters, and any later version (not `ff`) of at least 55
    /// characters whose flags are followed by the end or `-` (the rest is ignored). Hex must be
    /// lowercase; all-zero trace or parent ids are invalid. Surrounding spaces and tabs are ignored.
    /// - Returns: The remote parent's context (without trace state), or `nil` when invalid.
    public static func parse(_ header: String) -> SpanContext? {
        Self.parse(header[...])
    }

    /// Parses a `traceparent` value held in a substring.
    public static func parse(_ header: Substring) -> SpanContext? {
        let value = header.trimmingOWS()
        let count = value.utf8.count
        guard count >= Self.length else { return nil }
        // Only the first 56 bytes matter, which bounds the work on hostile input.
        if let result = value.utf8.withContiguousStorageIfAvailable({ parse(bytes: $0, totalCount: count) }) {
            return result
        }
        return Array(value.utf8.prefix(Self.length + 1)).withUnsafeBufferPointer { parse(bytes: $0, totalCount: count) }
    }

    private static func parse(bytes: UnsafeBufferPointer<UInt8>, totalCount: Int) -> SpanContext? {
        let dash = UInt8(ascii: "-")
        guard bytes[2] == dash, bytes[35] == dash, bytes[52] == dash else { return nil }
        guard let version = parseHex(bytes, from: 0, count: 2), version != 0xFF else { return nil }
        if version == 0 {
            guard totalCount == Self.length else { return nil }
        } else if totalCount > Self.length {
            guard bytes[Self.length] == dash else { return nil }
        }
        guard let high = parseHex(bytes, from: 3, count: 16), let low = parseHex(bytes, from: 19, count: 16),
            let parent = parseHex(bytes, from: 36, count: 16), let flags = parseHex(bytes, from: 53, count: 2)
        else { return nil }
        let traceID = TraceID(high: high, low: low)
        guard traceID.isValid, parent != 0 else { return nil }
        return SpanContext(
            traceID: traceID,
            spanID: SpanID(parent),
            flags: TraceFlags(rawValue: UInt8(flags)).intersection([.sampled, .randomTraceID]),
            isRemote: true
        )
    }

    /// Parses `count` lowercase hex digits starting at `from` (the caller checked the length).
    @inline(__always)
    private static func parseHex(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, count: Int) -> UInt64? {
        var value: UInt64 = 0
        var index = start
        let end = start + count
        while index < end {
            guard let digit = hexValue(bytes[index]) else { return nil }
            value = value &<< 4 | UInt64(digit)
            index &+= 1
        }
        return value
    }

    /// Formats a span context as a version 00 `traceparent`.
    public static func format(_ context: SpanContext) -> String {
        let flags = context.flags.intersection([.sampled, .randomTraceID]).rawValue
        return String(unsafeUninitializedCapacity: Self.length) { buffer in
            buffer[0] = UInt8(ascii: "0")
            buffer[1] = UInt8(ascii: "0")
            buffer[2] = UInt8(ascii: "-")
            writeHex(context.traceID.high, into: buffer, at: 3)
            writeHex(context.traceID.low, into: buffer, at: 19)
            buffer[35] = UInt8(ascii: "-")
            writeHex(context.spanID.value, into: buffer, at: 36)
            buffer[52] = UInt8(ascii: "-")
            buffer[53] = hexDigit(flags >> 4)
            buffer[54] = hexDigit(flags & 0xF)
            return Self.length
        }
    }
}
