/// One Kafka record header. A record may carry several headers with the same key, and a header's
/// value may be null; both survive a round trip unchanged and in order.
public struct KafkaHeader: Sendable, Hashable, CustomStringConvertible {
    /// The header's key.
    public var key: String
    /// The header's value; `nil` is a null value, distinct from an empty one.
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    /// A header whose value is the UTF-8 bytes of `value`.
    public init(key: String, value: String) {
        self.key = key
        self.value = Array(value.utf8)
    }

    /// The value decoded as UTF-8, or `nil` when it is null or not valid UTF-8.
    public var stringValue: String? {
        guard let value else { return nil }
        return String(validating: value, as: UTF8.self)
    }

    public var description: String {
        guard let value else { return "\(self.key)=null" }
        return "\(self.key)=\(String(validating: value, as: UTF8.self) ?? "<\(value.count) bytes>")"
    }
}
