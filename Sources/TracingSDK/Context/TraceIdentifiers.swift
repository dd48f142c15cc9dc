import Synchronization
import Tracing

/// A 128-bit trace id. All zeros is invalid.
public struct TraceID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The first 8 bytes, big-endian.
    public var high: UInt64
    /// The last 8 bytes, big-endian: where ratio samplers read the trace's randomness.
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The invalid, all-zero id.
    public static let invalid = TraceID(high: 0, low: 0)

    public var isValid: Bool { self.high != 0 || self.low != 0 }

    /// 32 lowercase hex digits.
    public var description: String { hex(self.high) + hex(self.low) }

    /// Parses 32 lowercase hex digits; `nil` for anything else (uppercase included).
    public init?(hexString: some StringProtocol) {
        let utf8 = Array(hexString.utf8)
        guard utf8.count == 32, let high = parseHex64(utf8[0..<16]), let low = parseHex64(utf8[16..<32]) else {
            return nil
        }
        self.init(high: high, low: low)
    }

    /// The 16 bytes, big-endian.
    public var bytes: [UInt8] { bigEndianBytes(self.high) + bigEndianBytes(self.low) }

    public static func < (lhs: TraceID, rhs: TraceID) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }
}

/// A 64-bit span id. Zero is invalid.
public struct SpanID: Sendable, Hashable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public static let invalid = SpanID(0)

    public var isValid: Bool { self.value != 0 }

    /// 16 lowercase hex digits.
    public var description: String { hex(self.value) }

    /// Parses 16 lowercase hex digits; `nil` for anything else.
    public init?(hexString: some StringProtocol) {
        let utf8 = Array(hexString.utf8)
        guard utf8.count == 16, let value = parseHex64(utf8[...]) else { return nil }
        self.init(value)
    }

    /// The 8 bytes, big-endian.
    public var bytes: [UInt8] { bigEndianBytes(self.value) }
}

/// The trace flags of W3C Trace Context.
public struct TraceFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The caller recorded and exports this trace; downstream should too.
    public static let sampled = TraceFlags(rawValue: 0x01)
    /// The trace id's rightmost 56 bits are random (W3C Trace Context Level 2).
    public static let randomTraceID = TraceFlags(rawValue: 0x02)

    public var description: String { hex(UInt64(self.rawValue)).suffix(2).description }
}

/// What a span passes to its children and across process boundaries: W3C Trace Context.
public struct SpanContext: Sendable, Hashable, CustomStringConvertible {
    public var traceID: TraceID
    public var spanID: SpanID
    public var flags: TraceFlags
    public var traceState: TraceState
    /// Whether this context was extracted from a carrier (a parent in another process).
    public var isRemote: Bool

    public init(
        traceID: TraceID,
        spanID: SpanID,
        flags: TraceFlags = [],
        traceState: TraceState = TraceState(),
        isRemote: Bool = false
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
        self.traceState = traceState
        self.isRemote = isRemote
    }

    public var isSampled: Bool { self.flags.contains(.sampled) }
    public var isValid: Bool { self.traceID.isValid && self.spanID.isValid }

    public var description: String { "\(self.traceID)-\(self.spanID)-\(self.flags)" }
}

// MARK: Context keys

/// What a context holds for its span context: a reference, because a context stores its values
/// as `any Sendable`, which boxes anything larger than three words (a `SpanContext` is five) in
/// an allocation of its own. A span's own object is a carrier, so a span's `context` stores a
/// reference to it and allocates no box. Immutable.
@usableFromInline
class SpanContextCarrier: @unchecked Sendable {
    @usableFromInline let spanContext: SpanContext

    init(spanContext: SpanContext) {
        self.spanContext = spanContext
    }
}

private enum SpanContextKey: InstrumentationContextKey {
    typealias Value = SpanContextCarrier
    static var nameOverride: String? { "w3c-span-context" }
}

extension InstrumentationContext {
    /// The W3C span context of the current span (or of the remote parent after extraction).
    public var spanContext: SpanContext? {
        get { self[SpanContextKey.self]?.spanContext }
        set { self[SpanContextKey.self] = newValue.map(SpanContextCarrier.init(spanContext:)) }
    }

    /// Sets the span context to the one `carrier` holds, by reference.
    mutating func setSpanContext(carriedBy carrier: SpanContextCarrier) {
        self[SpanContextKey.self] = carrier
    }
}

// MARK: Id generation

/// Makes trace and span ids.
public protocol IDGenerator: Sendable {
    func nextTraceID() -> TraceID
    func nextSpanID() -> SpanID
}

/// Fast, non-cryptographic random ids (SplitMix64 over an atomic counter seeded from the system's
/// random source). Never returns an invalid (zero) id.
public final class RandomIDGenerator: IDGenerator {
    private let state: Atomic<UInt64>

    public init() {
        var system = SystemRandomNumberGenerator()
        self.state = Atomic(system.next())
    }

    @inline(__always)
    private func next() -> UInt64 {
        // SplitMix64: each call takes its own point on a Weyl sequence, then mixes it.
        var z = self.state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z &>> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z &>> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z &>> 31)
    }

    public func nextTraceID() -> TraceID {
        var id = TraceID(high: self.next(), low: self.next())
        while !id.isValid { id = TraceID(high: self.next(), low: self.next()) }
        return id
    }

    public func nextSpanID() -> SpanID {
        var value = self.next()
        while value == 0 { value = self.next() }
        return SpanID(value)
    }
}

// MARK: Hex helpers

/// 16 lowercase hex digits.
@inline(__always)
func hex(_ value: UInt64) -> String {
    String(unsafeUninitializedCapacity: 16) { buffer in
        writeHex(value, into: buffer, at: 0)
        return 16
    }
}

/// The lowercase hex digit of a nibble.
@inline(__always)
func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
}

/// Writes `value` as 16 lowercase hex digits at `offset` (the caller checked the room), eight
/// digits per store.
@inline(__always)
func writeHex(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
    let raw = UnsafeMutableRawPointer(buffer.baseAddress! + offset)
    raw.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: value >> 32)).littleEndian, as: UInt64.self)
    raw.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: value)).littleEndian, toByteOffset: 8, as: UInt64.self)
}

/// The eight lowercase hex digits of `value`, most significant first, as the bytes of a
/// little-endian word: each byte of the value is spread to two bytes (one nibble each), then all
/// eight nibbles become ASCII at once.
@inline(__always)
func hexDigits(_ value: UInt32) -> UInt64 {
    let ones: UInt64 = 0x0101_0101_0101_0101
    var word = UInt64(value.byteSwapped)  // the most significant byte first (lowest)
    word = (word | word << 16) & 0x0000_FFFF_0000_FFFF
    word = (word | word << 8) & 0x00FF_00FF_00FF_00FF
    word = ((word >> 4) & 0x000F_000F_000F_000F) | ((word & 0x000F_000F_000F_000F) << 8)
    let letters = ((word &+ ones &* 6) >> 4) & ones
    return word &+ ones &* 0x30 &+ letters &* 39
}

/// The value of one lowercase hex digit, or `nil`.
@inline(__always)
func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte &- UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte &- UInt8(ascii: "a") &+ 10
    default: nil
    }
}

/// Parses up to 16 lowercase hex digits.
@inline(__always)
func parseHex64<C: Collection>(_ digits: C) -> UInt64? where C.Element == UInt8 {
    var value: UInt64 = 0
    for byte in digits {
        guard let digit = hexValue(byte) else { return nil }
        value = value << 4 | UInt64(digit)
    }
    return value
}

func bigEndianBytes(_ value: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64(56 - $0 * 8)) }
}
