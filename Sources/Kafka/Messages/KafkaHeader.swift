/// One Kafka record header. A record may carry several headers with the same key, and a header's
/// value may be null; both survive a round trip unchanged and in order.
public struct KafkaHeader: Sendable, Hashable, CustomStringConvertible {
    /// The header's key.
    public var key: String

    /// A header made from a string keeps the string until it is sent: a trace context header costs
    /// one allocation, not two (the string and a copy of its bytes).
    enum Storage: Sendable {
        case null
        case bytes([UInt8])
        case text(String)
    }

    var storage: Storage

    /// The header's value; `nil` is a null value, distinct from an empty one.
    public var value: [UInt8]? {
        get {
            switch self.storage {
            case .null: nil
            case .bytes(let bytes): bytes
            case .text(let text): Array(text.utf8)
            }
        }
        set { self.storage = newValue.map(Storage.bytes) ?? .null }
    }

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.storage = value.map(Storage.bytes) ?? .null
    }

    /// A header whose value is the UTF-8 bytes of `value`.
    public init(key: String, value: String) {
        self.key = key
        self.storage = .text(value)
    }

    /// The value decoded as UTF-8, or `nil` when it is null or not valid UTF-8.
    public var stringValue: String? {
        switch self.storage {
        case .null: nil
        case .bytes(let bytes): bytes.withUnsafeBytes { String(validatingUTF8: $0) }
        case .text(let text): text
        }
    }

    /// The value's size in bytes; `nil` when it is null.
    public var valueCount: Int? {
        switch self.storage {
        case .null: nil
        case .bytes(let bytes): bytes.count
        case .text(let text): text.utf8.count
        }
    }

    /// Calls `body` with the value's bytes, or `nil` when the value is null, without copying them.
    public func withValueBytes<Result>(_ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        switch self.storage {
        case .null: return try body(nil)
        case .bytes(let bytes): return try bytes.withUnsafeBytes { try body($0) }
        case .text(var text): return try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
        }
    }

    public static func == (lhs: KafkaHeader, rhs: KafkaHeader) -> Bool {
        guard lhs.key == rhs.key else { return false }
        return lhs.withValueBytes { left in
            rhs.withValueBytes { right in
                switch (left, right) {
                case (nil, nil): true
                case (let left?, let right?): left.elementsEqual(right)
                default: false
                }
            }
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.key)
        self.withValueBytes { bytes in
            hasher.combine(bytes?.count ?? -1)
            if let bytes { hasher.combine(bytes: bytes) }
        }
    }

    public var description: String {
        guard let count = self.valueCount else { return "\(self.key)=null" }
        return "\(self.key)=\(self.stringValue ?? "<\(count) bytes>")"
    }
}
