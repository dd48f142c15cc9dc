/// A message to send: its topic, optional partition, key, value and headers.
///
/// Keys and values are any ``KafkaContiguousBytes`` (`String`, `[UInt8]`, …); librdkafka copies
/// them when the message is enqueued. A `nil` value is a tombstone.
public struct KafkaProducerMessage<Key: KafkaContiguousBytes, Value: KafkaContiguousBytes>: Sendable {
    /// The topic to send to.
    public var topic: String
    /// The partition to send to; `nil` lets the configured partitioner choose (by key hash).
    public var partition: Int32?
    /// The key; `nil` sends a null key.
    public var key: Key?
    /// The value; `nil` sends a null value (a tombstone).
    public var value: Value?
    /// The headers, in order. Duplicate keys and null values are allowed.
    public var headers: [KafkaHeader]
    /// The record's timestamp in milliseconds since the Unix epoch; `nil` lets librdkafka set it.
    public var timestampMilliseconds: Int64?

    /// Creates a message.
    /// - Parameters:
    ///   - topic: The topic to send to.
    ///   - partition: A partition, or `nil` for the partitioner's choice.
    ///   - key: The key, or `nil` for a null key.
    ///   - value: The value, or `nil` for a tombstone.
    ///   - headers: Headers, in order.
    ///   - timestampMilliseconds: An explicit record timestamp.
    public init(
        topic: String,
        partition: Int32? = nil,
        key: Key?,
        value: Value?,
        headers: [KafkaHeader] = [],
        timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }
}

extension KafkaProducerMessage where Key == KafkaNull {
    /// Creates a message with a null key.
    public init(
        topic: String,
        partition: Int32? = nil,
        value: Value?,
        headers: [KafkaHeader] = [],
        timestampMilliseconds: Int64? = nil
    ) {
        self.init(
            topic: topic,
            partition: partition,
            key: nil,
            value: value,
            headers: headers,
            timestampMilliseconds: timestampMilliseconds
        )
    }
}

extension KafkaProducerMessage where Value == KafkaNull {
    /// A tombstone: a message with a key and a null value, which deletes the key on compacted topics.
    public static func tombstone(
        topic: String,
        partition: Int32? = nil,
        key: Key,
        headers: [KafkaHeader] = []
    ) -> KafkaProducerMessage {
        KafkaProducerMessage(topic: topic, partition: partition, key: key, value: nil, headers: headers)
    }
}

/// What the broker said about one message: where it was written, or why it was not.
public struct KafkaDeliveryReport: Sendable, Hashable, CustomStringConvertible {
    /// The topic the message was written to.
    public var topic: String
    /// The partition the message was written to.
    public var partition: Int32
    /// The message's offset in the partition; `nil` when the broker did not return one
    /// (for example with `acks=0`).
    public var offset: Int64?
    /// The message's timestamp as stored.
    public var timestamp: KafkaTimestamp?

    public init(topic: String, partition: Int32, offset: Int64?, timestamp: KafkaTimestamp?) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
    }

    public var description: String {
        "\(self.topic)[\(self.partition)]@\(self.offset.map(String.init) ?? "?")"
    }
}
