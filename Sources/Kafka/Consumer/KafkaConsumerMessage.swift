/// A message read from Kafka, with everything librdkafka returned for it.
///
/// Its key, value and headers live in one buffer per message, read in place by
/// ``withKeyBytes(_:)``, ``withValueBytes(_:)``, ``headerValue(forKey:)`` and
/// ``forEachHeader(_:)``; ``key``, ``value`` and ``headers`` copy them into Swift arrays each
/// time they are read (and a set replaces them).
public struct KafkaConsumerMessage: Sendable, Hashable, CustomStringConvertible {
    /// The topic the message was read from.
    public var topic: String
    /// The partition the message was read from.
    public var partition: Int32
    /// The message's offset in its partition.
    public var offset: Int64
    /// The record's timestamp, when it has one.
    public var timestamp: KafkaTimestamp?
    private var shared: SharedPayload
    var payload: KafkaMessagePayload {
        get { self.shared.buffer }
        set { self.shared = SharedPayload(buffer: newValue) }
    }

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
            payload: KafkaMessagePayload.make(key: key, value: value, headers: headers)
        )
    }

    init(topic: String, partition: Int32, offset: Int64, timestamp: KafkaTimestamp?, payload: KafkaMessagePayload) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.shared = SharedPayload(buffer: payload)
    }

    /// The key's bytes (a copy); `nil` for a null key.
    public var key: [UInt8]? {
        get { self.payload.withKey { $0.map { Array($0) } } }
        set { self.payload = .make(key: newValue, value: self.value, headers: self.headers) }
    }

    /// The value's bytes (a copy); `nil` for a null value (a tombstone).
    public var value: [UInt8]? {
        get { self.payload.withValue { $0.map { Array($0) } } }
        set { self.payload = .make(key: self.key, value: newValue, headers: self.headers) }
    }

    /// The headers (copies), in the order they were written; duplicates and null values are kept.
    public var headers: [KafkaHeader] {
        get {
            var headers: [KafkaHeader] = []
            headers.reserveCapacity(self.payload.layout.headerCount)
            self.payload.forEachHeader { header in
                headers.append(KafkaHeader(key: String(decoding: header.key, as: UTF8.self), value: header.value.map { Array($0) }))
                return true
            }
            return headers
        }
        set { self.payload = .make(key: self.key, value: self.value, headers: newValue) }
    }

    /// Calls `body` with the key's bytes in place, or `nil` for a null key.
    public func withKeyBytes<Result>(_ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        try self.payload.withKey(body)
    }

    /// Calls `body` with the value's bytes in place, or `nil` for a null value.
    public func withValueBytes<Result>(_ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        try self.payload.withValue(body)
    }

    /// The key's size in bytes; `nil` for a null key.
    public var keyCount: Int? { self.payload.layout.keyCount >= 0 ? self.payload.layout.keyCount : nil }

    /// The value's size in bytes; `nil` for a null value.
    public var valueCount: Int? { self.payload.layout.valueCount >= 0 ? self.payload.layout.valueCount : nil }

    /// How many headers the message has.
    public var headerCount: Int { self.payload.layout.headerCount }

    /// Calls `body` with each header's key and value bytes in place (`nil` for a null value), in
    /// order; stops early when `body` returns `false`.
    public func forEachHeader(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) throws -> Bool) rethrows {
        try self.payload.forEachHeader { try body($0.key, $0.value) }
    }

    /// The value of the last header with this key, decoded as UTF-8; `nil` when there is none, or
    /// its value is null, not valid UTF-8, or longer than `maxBytes`. Read in place: only the
    /// string is made.
    public func headerValue(forKey key: String, maxBytes: Int = .max) -> String? {
        var found: UnsafeRawBufferPointer?? = .none
        self.forEachValue(ofHeader: key) { found = .some($0) }
        guard case .some(.some(let bytes)) = found, bytes.count <= maxBytes else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Calls `body` with the value (in place) of each header whose key is `key`, in order.
    private func forEachValue(ofHeader key: String, _ body: (UnsafeRawBufferPointer?) -> Void) {
        var key = key
        key.withUTF8 { wanted in
            self.payload.forEachHeader { header in
                if header.key.elementsEqual(UnsafeRawBufferPointer(wanted)) { body(header.value) }
                return true
            }
        }
    }

    /// Whether this message is a tombstone (its value is null).
    public var isTombstone: Bool { self.payload.layout.valueCount < 0 }

    /// The key decoded as UTF-8, or `nil` when it is null or not valid UTF-8.
    public var keyString: String? { self.payload.withKey { $0.flatMap { String(validating: $0, as: UTF8.self) } } }

    /// The value decoded as UTF-8, or `nil` when it is null or not valid UTF-8.
    public var valueString: String? { self.payload.withValue { $0.flatMap { String(validating: $0, as: UTF8.self) } } }

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
            && lhs.timestamp == rhs.timestamp && lhs.payload.isEqual(to: rhs.payload)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.topic)
        hasher.combine(self.partition)
        hasher.combine(self.offset)
        hasher.combine(self.timestamp)
        self.payload.hash(into: &hasher)
    }
}
