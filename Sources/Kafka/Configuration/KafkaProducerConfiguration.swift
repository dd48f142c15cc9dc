/// How a ``KafkaProducer`` connects and batches. Unset typed settings keep librdkafka's defaults.
///
/// Anything librdkafka accepts can go in ``properties``; unknown keys and bad values are rejected
/// when the producer is created, with librdkafka's own error text.
public struct KafkaProducerConfiguration: KafkaClientConfiguration {
    /// `bootstrap.servers`: brokers to contact first, as `host:port`.
    public var bootstrapServers: [String]
    /// `client.id`: the name brokers see in their logs and quotas.
    public var clientID: String?
    /// `acks`: how many replicas must acknowledge each write.
    public var acks: KafkaAcks?
    /// `linger.ms`: how long to wait for more messages before sending a batch.
    public var linger: Duration?
    /// `batch.size`: the most bytes in one batch.
    public var batchSize: Int?
    /// `compression.codec`.
    public var compression: KafkaCompression?
    /// `enable.idempotence`: exactly-once, in-order writes per partition despite retries.
    public var enableIdempotence: Bool?
    /// `message.timeout.ms`: how long a message may wait for delivery before it fails with
    /// `_MSG_TIMED_OUT` (librdkafka's default is 300 s). This bounds ``KafkaProducer/flush()``.
    public var messageTimeout: Duration?
    /// `queue.buffering.max.messages`: how many messages may wait locally before ``KafkaProducer``
    /// applies backpressure.
    public var maxQueuedMessages: Int?
    /// `statistics.interval.ms`: how often librdkafka reports its statistics (see
    /// ``KafkaStatistics``); `nil` keeps librdkafka's default, which reports none.
    public var statisticsInterval: Duration?
    /// TLS and SASL.
    public var security: KafkaSecurity
    /// Any other librdkafka property, applied after (and so overriding) the typed settings.
    public var properties: [String: String]

    public init(
        bootstrapServers: [String],
        clientID: String? = nil,
        acks: KafkaAcks? = nil,
        linger: Duration? = nil,
        batchSize: Int? = nil,
        compression: KafkaCompression? = nil,
        enableIdempotence: Bool? = nil,
        messageTimeout: Duration? = nil,
        maxQueuedMessages: Int? = nil,
        statisticsInterval: Duration? = nil,
        security: KafkaSecurity = KafkaSecurity(),
        properties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.acks = acks
        self.linger = linger
        self.batchSize = batchSize
        self.compression = compression
        self.enableIdempotence = enableIdempotence
        self.messageTimeout = messageTimeout
        self.maxQueuedMessages = maxQueuedMessages
        self.statisticsInterval = statisticsInterval
        self.security = security
        self.properties = properties
    }

    func addSpecificProperties(to properties: inout KafkaClientProperties) {
        properties.set("statistics.interval.ms", self.statisticsInterval.map { String($0.milliseconds) })
        properties.set("acks", self.acks?.value)
        properties.set("linger.ms", self.linger.map { String($0.milliseconds) })
        properties.set("batch.size", self.batchSize.map(String.init))
        properties.set("compression.codec", self.compression?.value)
        properties.set("enable.idempotence", self.enableIdempotence.map(String.init))
        properties.set("message.timeout.ms", self.messageTimeout.map { String($0.milliseconds) })
        properties.set("queue.buffering.max.messages", self.maxQueuedMessages.map(String.init))
    }

    /// The librdkafka properties this configuration sets, secrets masked when printed.
    public var clientProperties: KafkaClientProperties { self.resolvedProperties }

    /// Checks every property against librdkafka without connecting to anything.
    /// - Throws: ``KafkaError`` with librdkafka's text for an unknown key or a bad value.
    public func validate() throws(KafkaError) {
        try self.validateCommon()
        _ = try RDKafkaConfig(properties: self.clientProperties)
    }
}
