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
        // The usual header (native, no surrounding whitespace) is parsed where it lies.
        let direct = header.utf8.withContiguousStorageIfAvailable { bytes -> SpanContext?? in
            guard let first = bytes.first, let last = bytes.last, !isOWS(first), !isOWS(last) else { return .none }
            guard bytes.count >= Self.length else { return .some(nil) }
            return .some(parse(bytes: bytes, totalCount: bytes.count))
        }
        if let direct, let result = direct { return result }
        return Self.parse(header[...])
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
        guard let version = parseHex64(bytes[0..<2]), version != 0xFF else { return nil }
        if version == 0 {
            guard totalCount == Self.length else { return nil }
        } else if totalCount > Self.length {
            guard bytes[Self.length] == dash else { return nil }
        }
        guard let high = parseHex16(bytes, from: 3), let low = parseHex16(bytes, from: 19),
            let parent = parseHex16(bytes, from: 36), let flags = parseHex64(bytes[53..<55])
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

    /// Parses 16 lowercase hex digits at `from` (the caller checked the length), eight at a time.
    @inline(__always)
    private static func parseHex16(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> UInt64? {
        let raw = UnsafeRawPointer(bytes.baseAddress! + start)
        guard let high = parseHex8(UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))),
            let low = parseHex8(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        else { return nil }
        return UInt64(high) << 32 | UInt64(low)
    }

    /// Eight lowercase hex digits (the first in the lowest byte) to their value, with word-wide
    /// arithmetic: each byte becomes its digit, the digits are checked by writing them back as
    /// hex and comparing, then packed into 32 bits.
    @inline(__always)
    static func parseHex8(_ word: UInt64) -> UInt32? {
        let ones: UInt64 = 0x0101_0101_0101_0101
        // '0'...'9' → 0...9 and 'a'...'f' → 10...15 (low nibble, plus 9 for letters: bit 6 set).
        let digits = (word & (ones &* 0x0F)) &+ ((word >> 6) & ones) &* 9
        guard digits & (ones &* 0xF0) == 0 else { return nil }
        let letters = ((digits &+ ones &* 6) >> 4) & ones
        let written = digits &+ ones &* 0x30 &+ letters &* 39
        guard written == word else { return nil }
        // Bytes d0 d1 … d7 (d0 most significant) → d0d1 d2d3 d4d5 d6d7 → one 32-bit value.
        let pairs = ((digits << 4) | (digits >> 8)) & 0x00FF_00FF_00FF_00FF
        let quads = (pairs | (pairs >> 8)) & 0x0000_FFFF_0000_FFFF
        let packed = UInt32(truncatingIfNeeded: quads | (quads >> 16))
        return packed.byteSwapped
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
