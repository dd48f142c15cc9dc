/// How a ``KafkaConsumer`` joins its group and what it reads. Unset typed settings keep
/// librdkafka's defaults.
///
/// Anything librdkafka accepts can go in ``properties``; unknown keys and bad values are rejected
/// when the consumer is created, with librdkafka's own error text.
public struct KafkaConsumerConfiguration: KafkaClientConfiguration {
    /// When a message counts as processed, so that its offset may be committed.
    public struct OffsetStorage: Sendable, Hashable {
        private enum Backing: Sendable, Hashable { case afterNext, manual }
        private let backing: Backing

        /// A message's offset is stored when the iteration asks for the next message, that is,
        /// once the body of `for await message in consumer.messages` has finished with it.
        /// Leaving the loop early does not store the last message: call
        /// ``KafkaConsumer/storeOffset(_:)`` for it.
        public static let automatic = OffsetStorage(backing: .afterNext)
        /// Offsets are stored only by ``KafkaConsumer/storeOffset(_:)``.
        public static let manual = OffsetStorage(backing: .manual)

        var isAutomatic: Bool { self.backing == .afterNext }
    }

    /// `bootstrap.servers`: brokers to contact first, as `host:port`.
    public var bootstrapServers: [String]
    /// `client.id`.
    public var clientID: String?
    /// `group.id`: the consumer group to join.
    public var groupID: String
    /// Topics to subscribe to.
    public var topics: [String]
    /// `auto.offset.reset`: where a group with no committed offset starts.
    public var autoOffsetReset: KafkaAutoOffsetReset?
    /// `session.timeout.ms`: how long the group waits for a silent member before rebalancing.
    public var sessionTimeout: Duration?
    /// `heartbeat.interval.ms`.
    public var heartbeatInterval: Duration?
    /// `auto.commit.interval.ms`: how often stored offsets are committed. Offsets are also
    /// committed when partitions are revoked and when the consumer closes.
    public var commitInterval: Duration?
    /// When a message's offset is stored (and so later committed).
    public var offsetStorage: OffsetStorage
    /// How many fetched messages may wait for the application before fetching pauses.
    public var maxBufferedMessages: Int
    /// `statistics.interval.ms`: how often librdkafka reports its statistics (see
    /// ``KafkaStatistics``); `nil` keeps librdkafka's default, which reports none.
    public var statisticsInterval: Duration?
    /// TLS and SASL.
    public var security: KafkaSecurity
    /// Any other librdkafka property, applied after (and so overriding) the typed settings.
    public var properties: [String: String]

    public init(
        bootstrapServers: [String],
        groupID: String,
        topics: [String],
        clientID: String? = nil,
        autoOffsetReset: KafkaAutoOffsetReset? = nil,
        sessionTimeout: Duration? = nil,
        heartbeatInterval: Duration? = nil,
        commitInterval: Duration? = nil,
        offsetStorage: OffsetStorage = .automatic,
        maxBufferedMessages: Int = 10_000,
        statisticsInterval: Duration? = nil,
        security: KafkaSecurity = KafkaSecurity(),
        properties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.groupID = groupID
        self.topics = topics
        self.autoOffsetReset = autoOffsetReset
        self.sessionTimeout = sessionTimeout
        self.heartbeatInterval = heartbeatInterval
        self.commitInterval = commitInterval
        self.offsetStorage = offsetStorage
        self.maxBufferedMessages = maxBufferedMessages
        self.statisticsInterval = statisticsInterval
        self.security = security
        self.properties = properties
    }

    func addSpecificProperties(to properties: inout KafkaClientProperties) {
        properties.set("statistics.interval.ms", self.statisticsInterval.map { String($0.milliseconds) })
        properties.set("group.id", self.groupID)
        properties.set("auto.offset.reset", self.autoOffsetReset?.value)
        properties.set("session.timeout.ms", self.sessionTimeout.map { String($0.milliseconds) })
        properties.set("heartbeat.interval.ms", self.heartbeatInterval.map { String($0.milliseconds) })
        properties.set("auto.commit.interval.ms", self.commitInterval.map { String($0.milliseconds) })
        // At-least-once: the client commits only offsets the application has stored, which it
        // does once it is done with a message.
        properties.set("enable.auto.commit", "true")
        properties.set("enable.auto.offset.store", "false")
    }

    /// The librdkafka properties this configuration sets, secrets masked when printed.
    public var clientProperties: KafkaClientProperties { self.resolvedProperties }

    /// Checks every property against librdkafka without connecting to anything.
    /// - Throws: ``KafkaError`` with librdkafka's text for an unknown key or a bad value, or an
    ///   empty group id, topic list or invalid topic name.
    public func validate() throws(KafkaError) {
        try self.validateCommon()
        guard !self.groupID.isEmpty else {
            throw .invalidConfiguration("groupID is empty: a consumer needs a consumer group id")
        }
        guard !self.topics.isEmpty else {
            throw .invalidConfiguration("topics is empty: give at least one topic to subscribe to")
        }
        for topic in self.topics { try KafkaTopicName.validate(topic) }
        guard self.maxBufferedMessages > 0 else {
            throw .invalidConfiguration("maxBufferedMessages must be at least 1, not \(self.maxBufferedMessages)")
        }
        if let key = ["enable.auto.commit", "enable.auto.offset.store"].first(where: { self.properties[$0] != nil }) {
            throw .invalidConfiguration(
                "\(key) is managed by KafkaConsumer (offsets are stored once the application is done with a message); use offsetStorage instead"
            )
        }
        _ = try RDKafkaConfig(properties: self.clientProperties)
    }
}

/// Kafka's rules for topic names, checked before a message is enqueued.
enum KafkaTopicName {
    static let maxLength = 249

    /// - Throws: ``KafkaError`` with code ``KafkaError/Code/invalidTopic`` saying what is wrong.
    @inline(__always)
    static func validate(_ topic: String) throws(KafkaError) {
        var count = 0
        var valid = true
        for byte in topic.utf8 {
            count += 1
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                valid = false
            }
        }
        if valid && count > 0 && count <= Self.maxLength && topic != "." && topic != ".." { return }
        throw KafkaError(
            code: .invalidTopic,
            message:
                "invalid topic name \"\(topic)\": a topic name has 1 to \(Self.maxLength) characters from a-z, A-Z, 0-9, '.', '_' and '-', and is not \".\" or \"..\"",
            isRetriable: false
        )
    }
}
