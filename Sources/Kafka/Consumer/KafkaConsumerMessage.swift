/// A message read from Kafka, with everything librdkafka returned for it.
///
/// A consumed message borrows librdkafka's own buffers: its key, value and headers are read in
/// place by ``withKeyBytes(_:)``, ``withValueBytes(_:)``, ``headerValue(forKey:)`` and
/// ``forEachHeader(_:)``, and its headers are parsed only when first read. ``key``, ``value`` and
/// ``headers`` copy them into Swift arrays each time they are read (and a set replaces them with a
/// copy of the message's own).
///
/// Holding a consumed message keeps librdkafka's fetch buffer it came in alive (shared by the
/// messages of one fetch response), and after the consumer closed, librdkafka's handle too: it is
/// destroyed when the last held message is released. An application that keeps many messages
/// for long copies what it needs (``key``, ``value``, ``headers``) and drops the message.
public struct KafkaConsumerMessage: Sendable, Hashable, CustomStringConvertible {
    /// The topic the message was read from.
    public var topic: String
    /// The partition the message was read from.
    public var partition: Int32
    /// The message's offset in its partition.
    public var offset: Int64
    /// The record's timestamp, when it has one.
    public var timestamp: KafkaTimestamp?
    var bytes: KafkaMessageBytes

    public init(
        topic: String,
        partition: Int32,
        offset: Int64,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [KafkaHeader] = [],
        timestamp: KafkaTimestamp? = nil
    ) {
        self.init(
            topic: topic,
            partition: partition,
            offset: offset,
            timestamp: timestamp,
            bytes: .copied(KafkaMessagePayload.make(key: key, value: value, headers: headers))
        )
    }

    init(topic: String, partition: Int32, offset: Int64, timestamp: KafkaTimestamp?, bytes: KafkaMessageBytes) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.bytes = bytes
    }

    /// Replaces the message's bytes with a copy made in Swift.
    private mutating func replace(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader]) {
        self.bytes = .copied(.make(key: key, value: value, headers: headers))
    }

    /// The key's bytes (a copy); `nil` for a null key.
    public var key: [UInt8]? {
        get { self.bytes.withKey { $0.map { Array($0) } } }
        set { self.replace(key: newValue, value: self.value, headers: self.headers) }
    }

    /// The value's bytes (a copy); `nil` for a null value (a tombstone).
    public var value: [UInt8]? {
        get { self.bytes.withValue { $0.map { Array($0) } } }
        set { self.replace(key: self.key, value: newValue, headers: self.headers) }
    }

    /// The headers (copies), in the order they were written; duplicates and null values are kept.
    public var headers: [KafkaHeader] {
        get {
            var headers: [KafkaHeader] = []
            headers.reserveCapacity(self.bytes.headerCount)
            self.bytes.forEachHeader { header in
                headers.append(KafkaHeader(key: String(decoding: header.key, as: UTF8.self), value: header.value.map { Array($0) }))
                return true
            }
            return headers
        }
        set { self.replace(key: self.key, value: self.value, headers: newValue) }
    }

    /// Calls `body` with the key's bytes in place, or `nil` for a null key.
    public func withKeyBytes<Result>(_ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        try self.bytes.withKey(body)
    }

    /// Calls `body` with the value's bytes in place, or `nil` for a null value.
    public func withValueBytes<Result>(_ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        try self.bytes.withValue(body)
    }

    /// The key's size in bytes; `nil` for a null key.
    public var keyCount: Int? { self.bytes.keyCount >= 0 ? self.bytes.keyCount : nil }

    /// The value's size in bytes; `nil` for a null value.
    public var valueCount: Int? { self.bytes.valueCount >= 0 ? self.bytes.valueCount : nil }

    /// How many headers the message has.
    public var headerCount: Int { self.bytes.headerCount }

    /// Calls `body` with each header's key and value bytes in place (`nil` for a null value), in
    /// order; stops early when `body` returns `false`.
    public func forEachHeader(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) throws -> Bool) rethrows {
        try self.bytes.forEachHeader { try body($0.key, $0.value) }
    }

    /// The value of the last header with this key, decoded as UTF-8; `nil` when there is none, or
    /// its value is null, not valid UTF-8, or longer than `maxBytes`. Read in place: only the
    /// string is made.
    public func headerValue(forKey key: String, maxBytes: Int = .max) -> String? {
        var found: UnsafeRawBufferPointer?? = .none
        self.forEachValue(ofHeader: key) { found = .some($0) }
        guard case .some(.some(let bytes)) = found, bytes.count <= maxBytes else { return nil }
        return String(validatingUTF8: bytes)
    }

    /// Calls `body` with the value (in place) of each header whose key is `key`, in order.
    private func forEachValue(ofHeader key: String, _ body: (UnsafeRawBufferPointer?) -> Void) {
        var key = key
        key.withUTF8 { wanted in
            self.bytes.forEachHeader { header in
                if header.key.elementsEqual(UnsafeRawBufferPointer(wanted)) { body(header.value) }
                return true
            }
        }
    }

    /// Whether this message is a tombstone (its value is null).
    public var isTombstone: Bool { self.bytes.valueCount < 0 }

    /// The key decoded as UTF-8, or `nil` when it is null or not valid UTF-8.
    public var keyString: String? { self.bytes.withKey { $0.flatMap { String(validatingUTF8: $0) } } }

    /// The value decoded as UTF-8, or `nil` when it is null or not valid UTF-8.
    public var valueString: String? { self.bytes.withValue { $0.flatMap { String(validatingUTF8: $0) } } }

    /// The values of every header with this key, in order.
    public func headerValues(forKey key: String) -> [[UInt8]?] {
        var values: [[UInt8]?] = []
        self.forEachValue(ofHeader: key) { values.append($0.map { Array($0) }) }
        return values
    }

    public var description: String {
        "\(self.topic)[\(self.partition)]@\(self.offset)"
    }

    public static func == (lhs: KafkaConsumerMessage, rhs: KafkaConsumerMessage) -> Bool {
        lhs.topic == rhs.topic && lhs.partition == rhs.partition && lhs.offset == rhs.offset
            && lhs.timestamp == rhs.timestamp && lhs.bytes.isEqual(to: rhs.bytes)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.topic)
        hasher.combine(self.partition)
        hasher.combine(self.offset)
        hasher.combine(self.timestamp)
        self.bytes.hash(into: &hasher)
    }
}
