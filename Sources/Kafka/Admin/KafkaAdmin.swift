import Logging

/// Administrative operations on a cluster: creating topics.
///
/// Each call opens a short-lived connection; its blocking work runs off Swift's cooperative
/// thread pool.
public struct KafkaAdmin: Sendable {
    /// `bootstrap.servers`.
    public var bootstrapServers: [String]
    /// TLS and SASL.
    public var security: KafkaSecurity
    /// Any other librdkafka property.
    public var properties: [String: String]
    public var logger: Logger

    public init(
        bootstrapServers: [String],
        security: KafkaSecurity = KafkaSecurity(),
        properties: [String: String] = [:],
        logger: Logger = Logger(label: "kafka.admin")
    ) {
        self.bootstrapServers = bootstrapServers
        self.security = security
        self.properties = properties
        self.logger = logger
    }

    /// Creates a topic; an existing topic of that name is left as it is.
    /// - Parameters:
    ///   - name: The topic's name.
    ///   - partitions: How many partitions.
    ///   - replicationFactor: How many replicas of each partition.
    ///   - timeout: How long the broker may take.
    /// - Returns: `false` when the topic already existed.
    /// - Throws: ``KafkaError`` for an invalid name or configuration, an unreachable cluster
    ///   (after `timeout`), or the broker's refusal.
    @discardableResult
    public func createTopic(
        _ name: String,
        partitions: Int,
        replicationFactor: Int = 1,
        timeout: Duration = .seconds(30)
    ) async throws -> Bool {
        try KafkaTopicName.validate(name)
        let configuration = KafkaProducerConfiguration(
            bootstrapServers: self.bootstrapServers,
            security: self.security,
            properties: self.properties
        )
        try configuration.validateCommon()
        let admin = try RDKafkaAdmin(properties: configuration.clientProperties, logger: self.logger)
        return try await admin.createTopic(
            name,
            partitions: partitions,
            replicationFactor: replicationFactor,
            timeoutMilliseconds: Int32(clamping: timeout.milliseconds)
        ).get()
    }
}
