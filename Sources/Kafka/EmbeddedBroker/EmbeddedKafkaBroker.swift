import Logging

/// A Kafka cluster inside this process: librdkafka's mock cluster, reached over TCP on loopback
/// by any Kafka client. Tests and the demo use it so nothing has to be installed or started.
///
/// It speaks the Kafka protocol well enough for producing, consuming, consumer groups and
/// committed offsets, and injects faults for reliability tests. It is not a real broker: it keeps
/// only a few megabytes per partition (older messages are deleted), has no persistence, and no
/// security.
///
/// ```swift
/// let broker = try EmbeddedKafkaBroker(brokers: 1)
/// try broker.createTopic("orders", partitions: 4)
/// let producer = try KafkaProducer(configuration: .init(bootstrapServers: [broker.bootstrapServers]))
/// ```
public final class EmbeddedKafkaBroker: Sendable {
    /// A Kafka protocol API, for injecting errors into its requests.
    public struct API: Sendable, Hashable {
        /// The Kafka protocol's ApiKey.
        public let key: Int16
        public init(key: Int16) { self.key = key }

        public static let produce = API(key: 0)
        public static let fetch = API(key: 1)
        public static let listOffsets = API(key: 2)
        public static let metadata = API(key: 3)
        public static let offsetCommit = API(key: 8)
        public static let offsetFetch = API(key: 9)
        public static let findCoordinator = API(key: 10)
        public static let joinGroup = API(key: 11)
        public static let heartbeat = API(key: 12)
        public static let leaveGroup = API(key: 13)
        public static let syncGroup = API(key: 14)
        public static let initProducerID = API(key: 22)
    }

    private let cluster: RDKafkaMockCluster
    /// The number of brokers.
    public var brokerCount: Int { self.cluster.brokerCount }
    /// The cluster's bootstrap servers, such as `127.0.0.1:39451`.
    public var bootstrapServers: String { self.cluster.bootstrapServers }

    /// Starts a cluster.
    /// - Parameters:
    ///   - brokers: How many brokers (ids 1 through `brokers`).
    ///   - logger: Receives the mock cluster's log lines.
    /// - Throws: ``KafkaError`` when librdkafka cannot start it.
    public init(brokers: Int = 1, logger: Logger = Logger(label: "kafka.embedded-broker")) throws {
        guard brokers >= 1 else {
            throw KafkaError.invalidConfiguration("an embedded cluster needs at least one broker, not \(brokers)")
        }
        self.cluster = try RDKafkaMockCluster(brokers: brokers, logger: logger)
    }

    /// Creates a topic.
    /// - Throws: ``KafkaError`` for an invalid name, or a partition or replica count below one.
    public func createTopic(_ name: String, partitions: Int = 1, replicationFactor: Int = 1) throws {
        try KafkaTopicName.validate(name)
        guard partitions >= 1, replicationFactor >= 1, replicationFactor <= self.brokerCount else {
            throw KafkaError.invalidConfiguration(
                "topic \"\(name)\" needs at least one partition and 1 to \(self.brokerCount) replicas (got \(partitions) partitions, \(replicationFactor) replicas)"
            )
        }
        try self.cluster.createTopic(name, partitions: partitions, replicationFactor: replicationFactor)
    }

    /// Takes a broker down: its connections close and it accepts no new ones until ``setBrokerUp(_:)``.
    public func setBrokerDown(_ brokerID: Int32) throws {
        try self.cluster.setBroker(brokerID, up: false)
    }

    /// Brings a broker taken down with ``setBrokerDown(_:)`` back.
    public func setBrokerUp(_ brokerID: Int32) throws {
        try self.cluster.setBroker(brokerID, up: true)
    }

    /// Adds a round-trip time to every response of a broker.
    public func setRoundTripTime(_ brokerID: Int32, _ duration: Duration) throws {
        try self.cluster.setRoundTripTime(brokerID, milliseconds: Int32(duration.milliseconds))
    }

    /// Makes the next requests of an API fail, one error per request, in order, on any broker.
    public func pushRequestErrors(_ api: API, _ errors: [KafkaError.Code]) {
        self.cluster.pushRequestErrors(apiKey: api.key, errors)
    }

    /// Forgets errors pushed for an API that have not been used yet.
    public func clearRequestErrors(_ api: API) {
        self.cluster.clearRequestErrors(apiKey: api.key)
    }

    /// Makes every request for a topic fail with `error` (``KafkaError/Code/noError`` clears it).
    public func setTopicError(_ topic: String, _ error: KafkaError.Code) {
        self.cluster.setTopicError(topic, error)
    }

    /// Stops the cluster; clients connected to it see their brokers go away. Later calls do nothing.
    public func shutdown() {
        self.cluster.destroy()
    }
}

