/// A message read from Kafka, with everything librdkafka returned for it.
public struct KafkaConsumerMessage: Sendable, Hashable, CustomStringConvertible {
    /// The topic the message was read from.
    public var topic: String
    /// The partition the message was read from.
    public var partition: Int32
    /// The message's offset in its partition.
    public var offset: Int64
    /// The key's bytes; `nil` for a null key.
    public var key: [UInt8]?
    /// The value's bytes; `nil` for a null value (a tombstone).
    public var value: [UInt8]?
    /// The headers, in the order they were written; duplicates and null values are kept.
    public var headers: [KafkaHeader]
    /// The record's timestamp, when it has one.
    public var timestamp: KafkaTimestamp?

    public init(
        topic: String,
        partition: Int32,
        offset: Int64,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [KafkaHeader] = [],
        timestamp: KafkaTimestamp? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// Whether this message is a tombstone (its value is null).
    public var isTombstone: Bool { self.value == nil }

    /// The key decoded as UTF-8, or `nil` when it is null or not valid UTF-8.
    public var keyString: String? { self.key.flatMap { String(validating: $0, as: UTF8.self) } }

    /// The value decoded as UTF-8, or `nil` when it is null or not valid UTF-8.
    public var valueString: String? { self.value.flatMap { String(validating: $0, as: UTF8.self) } }

    /// The values of every header with this key, in order.
    public func headerValues(forKey key: String) -> [[UInt8]?] {
        self.headers.lazy.filter { $0.key == key }.map(\.value)
    }

    public var description: String {
        "\(self.topic)[\(self.partition)]@\(self.offset)"
    }
}
