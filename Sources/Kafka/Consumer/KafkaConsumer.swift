import Logging
import ServiceLifecycle

/// Reads messages from Kafka as a member of a consumer group.
///
/// Messages arrive through ``messages``. Delivery is at-least-once: an offset is stored only once
/// the application is done with the message (see ``KafkaConsumerConfiguration/OffsetStorage``),
/// and stored offsets are committed periodically, when partitions are revoked, and on
/// ``close()``. Rebalances are logged to the consumer's logger.
///
/// A consumer is a ServiceLifecycle `Service`: ``run()`` closes it on graceful shutdown, which
/// ends the ``messages`` sequence.
///
/// ```swift
/// let consumer = try KafkaConsumer(
///     configuration: .init(bootstrapServers: ["localhost:9092"], groupID: "billing", topics: ["orders"]),
///     logger: logger
/// )
/// for try await message in consumer.messages {
///     try await handle(message)        // the offset is stored when the loop asks for the next one
/// }
/// ```
public final class KafkaConsumer: Service, Sendable {
    let core: RDKafkaConsumerCore
    /// The configuration the consumer was created with.
    public let configuration: KafkaConsumerConfiguration

    /// Creates a consumer subscribed to its topics. It joins its group and starts fetching with
    /// ``start()``, or the first of: iterating ``messages``, ``nextBatch(maxCount:)``, ``run()``.
    /// - Throws: ``KafkaError`` for an unknown property or bad value (librdkafka's text), an empty
    ///   group id or topic list, or an invalid topic name.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger = Logger(label: "kafka.consumer")) throws {
        self.configuration = configuration
        self.core = try RDKafkaConsumerCore(configuration: configuration, logger: logger)
    }

    /// Joins the group and starts fetching now, on the consumer's own thread (otherwise the first
    /// iteration of ``messages``, ``nextBatch(maxCount:)`` or ``run()`` does). Calling it again
    /// does nothing. Until then ``assignment`` is empty.
    public func start() {
        self.core.start()
    }

    /// The messages fetched for this consumer, in partition order. Iterate it from one task.
    ///
    /// With ``KafkaConsumerConfiguration/OffsetStorage/automatic`` (the default), asking for the
    /// next message stores the previous one's offset. The sequence ends when the consumer closes,
    /// and throws a fatal ``KafkaError`` or `CancellationError`.
    public var messages: KafkaConsumerMessages {
        KafkaConsumerMessages(core: self.core, storesOffsets: self.configuration.offsetStorage.isAutomatic)
    }

    /// The next messages already fetched (at most `maxCount`), waiting for at least one: for batch
    /// processing. Offsets are not stored; call ``storeOffset(_:)`` for each processed message.
    /// - Returns: an empty array once the consumer is closed.
    public func nextBatch(maxCount: Int) async throws -> [KafkaConsumerMessage] {
        try await self.core.nextBatch(maxCount: max(maxCount, 1))
    }

    /// Requests close without waiting: no further message is handed out (the ``messages``
    /// sequence ends at the next call), and once the application is done with the message in
    /// hand (it asks for the next one, or calls ``close()``), the consumer commits what was stored
    /// and leaves its group. Safe from inside a message handler; a graceful shutdown of a
    /// ServiceLifecycle group does the same. (If the application never comes back, the consumer
    /// closes anyway after 30 seconds.)
    public func requestClose() {
        self.core.requestClose()
    }

    /// For an application that hands messages on to other tasks (the traced consumer's
    /// concurrent handlers): after ``requestClose()``, the consumer waits for ``close()`` before
    /// it commits and leaves, instead of closing as soon as the ``messages`` sequence ended.
    package func handsMessagesOn() {
        self.core.setApplicationHandsOn()
    }

    /// Marks a message as processed: its offset (plus one) will be committed.
    ///
    /// Offsets of partitions that were revoked meanwhile are skipped, since the partition's new
    /// owner reads the message again.
    /// - Throws: ``KafkaError`` when the consumer is closing or closed.
    public func storeOffset(_ message: KafkaConsumerMessage) throws {
        try self.core.storeOffset(topic: message.topic, partition: message.partition, offset: message.offset)
    }

    /// Commits every stored offset now and waits for the broker to confirm.
    ///
    /// Stored offsets are also committed every `auto.commit.interval.ms`, when partitions are
    /// revoked, and on ``close()``; call this when a commit must be known to have happened.
    /// - Throws: ``KafkaError`` when the broker refuses the commit or the consumer is closed.
    public func commit() async throws {
        try await self.core.commit()
    }

    /// Calls `observer` after every offset commit this consumer makes — ``commit()``, on a
    /// partition revocation, on close, and librdkafka's periodic ones — with what was committed.
    /// For instrumentation (the traced consumer's settle spans); set it before fetching starts.
    /// It runs on the consumer's own threads: keep it short, and never call the consumer from it.
    public func onCommit(_ observer: @escaping @Sendable (KafkaCommitReport) -> Void) {
        self.core.onCommit(observer)
    }

    /// Calls `observer` with each librdkafka statistics report, every ``KafkaConsumerConfiguration/statisticsInterval``
    /// (none unless it is set), on a queue of this client's own, never on a Kafka thread and
    /// never in a send. Only one observer can be set; a second is ignored.
    /// - Returns: whether `observer` was set.
    @discardableResult
    public func onStatistics(_ observer: @escaping @Sendable (KafkaStatistics) -> Void) -> Bool {
        self.core.client.statistics.observe(observer)
    }

    /// The Kafka cluster's id (`rd_kafka_clusterid`), once the client has received metadata from
    /// it; `nil` before, and for brokers that report none. Read without a lock or a wait.
    public var clusterID: String? { self.core.client.clusterID }

    /// The partitions currently assigned to this consumer by its group (none before it started).
    public var assignment: Set<KafkaTopicPartition> { self.core.assignment }

    /// Stops fetching, commits stored offsets, leaves the group and releases the librdkafka handle.
    /// Messages still buffered are not delivered (their offsets were not stored, so the group reads
    /// them again). Safe to call more than once.
    public func close() async {
        await self.core.close()
    }

    /// Runs until graceful shutdown (or cancellation), then closes the consumer.
    public func run() async throws {
        self.core.start()
        try? await gracefulShutdown()
        await self.close()
    }

    deinit {
        self.core.closeWithoutWaiting()
    }
}

/// The messages of a ``KafkaConsumer``.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage

    let core: RDKafkaConsumerCore
    let storesOffsets: Bool

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(core: self.core, storesOffsets: self.storesOffsets)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: RDKafkaConsumerCore
        let storesOffsets: Bool
        private var previous: (topic: String, partition: Int32, offset: Int64)?

        init(core: RDKafkaConsumerCore, storesOffsets: Bool) {
            self.core = core
            self.storesOffsets = storesOffsets
        }

        /// The next message; `for try await` calls this one, on the caller's own executor (a
        /// buffered message is taken without a hop to another executor and back).
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> KafkaConsumerMessage? {
            try await self.nextMessage()
        }

        public mutating func next() async throws -> KafkaConsumerMessage? {
            try await self.nextMessage()
        }

        nonisolated(nonsending) private mutating func nextMessage() async throws -> KafkaConsumerMessage? {
            // The application asked for more: it is done with the previous message.
            let done = self.previous
            self.previous = nil
            let message = try await self.core.next(storingOffsetOf: done)
            if self.storesOffsets, let message {
                self.previous = (message.topic, message.partition, message.offset)
            }
            return message
        }
    }
}
