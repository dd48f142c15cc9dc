import Logging
import ServiceLifecycle
import Synchronization

/// Sends messages to Kafka through librdkafka.
///
/// ``send(_:)`` enqueues and returns without waiting for the broker, so one task can pipeline
/// millions of messages per second; ``send(_:onDelivery:)`` also hands the message's delivery
/// report to a callback, and ``sendAndWait(_:)`` awaits it. Every message gets exactly one
/// outcome. When librdkafka's local queue is full, sending suspends until there is room: nothing
/// is dropped.
///
/// A producer is a ServiceLifecycle `Service`: ``run()`` returns after a graceful shutdown has
/// delivered everything queued. Without a service group, call ``close()`` before exiting.
///
/// ```swift
/// let producer = try KafkaProducer(configuration: .init(bootstrapServers: ["localhost:9092"]), logger: logger)
/// try await producer.send(KafkaProducerMessage(topic: "orders", key: "order-42", value: "{}"))
/// let report = try await producer.sendAndWait(KafkaProducerMessage(topic: "orders", value: "{}"))
/// await producer.close()
/// ```
public final class KafkaProducer: Service, Sendable {
    /// The outcome of one message: where it was written, or why it was not.
    public typealias DeliveryResult = Result<KafkaDeliveryReport, KafkaError>

    /// Counts of delivery outcomes since the producer started.
    public struct Statistics: Sendable, Hashable {
        /// Messages the broker acknowledged.
        public var delivered: Int
        /// Messages that failed (their error went to the sender, or was logged).
        public var failed: Int
        /// Messages enqueued and still waiting for their outcome.
        public var queued: Int

        public init(delivered: Int, failed: Int, queued: Int) {
            self.delivered = delivered
            self.failed = failed
            self.queued = queued
        }
    }

    @usableFromInline
    let core: RDKafkaProducerCore
    /// The configuration the producer was created with.
    public let configuration: KafkaProducerConfiguration

    /// Creates a producer and its librdkafka handle. Nothing connects until the first message, and
    /// the producer's own delivery thread starts with ``start()`` or the first send, flush,
    /// ``close()``, ``run()`` or ``onStatistics(_:)``, not here.
    /// - Parameters:
    ///   - configuration: Brokers, batching and any librdkafka property.
    ///   - logger: Receives librdkafka's log lines and failures of messages sent without a callback.
    /// - Throws: ``KafkaError`` when a property is unknown or has a bad value (librdkafka's text).
    public init(configuration: KafkaProducerConfiguration, logger: Logger = Logger(label: "kafka.producer")) throws {
        self.configuration = configuration
        self.core = try RDKafkaProducerCore(configuration: configuration, logger: logger)
    }

    /// Starts the producer's delivery thread now (otherwise the first send, flush, ``close()``,
    /// ``run()`` or ``onStatistics(_:)`` does): it serves delivery reports and statistics and
    /// learns the ``clusterID``. Calling it again does nothing.
    public func start() {
        self.core.start()
    }

    /// Enqueues a message and returns without waiting for the broker.
    ///
    /// Its delivery is counted in ``statistics``; a failure is logged (rate-limited). Use
    /// ``send(_:onDelivery:)`` to receive the outcome.
    /// - Throws: ``KafkaError`` when the message cannot be enqueued (invalid topic name, larger
    ///   than `message.max.bytes`, producer closed); `CancellationError` when the task is cancelled
    ///   while waiting for queue space. A thrown message was not enqueued.
    @inlinable
    nonisolated(nonsending) public func send<Key, Value>(_ message: KafkaProducerMessage<Key, Value>) async throws {
        try await self._send(message, callback: nil)
    }

    /// Enqueues a message; `onDelivery` later receives its one outcome.
    ///
    /// The callback runs on the producer's delivery thread, or inside a later `send` on the
    /// sending thread (which serves ready reports as it goes): keep it short and non-blocking.
    /// - Throws: as ``send(_:)``; when it throws, `onDelivery` is never called.
    @inlinable
    nonisolated(nonsending) public func send<Key, Value>(
        _ message: KafkaProducerMessage<Key, Value>,
        onDelivery: @escaping @Sendable (DeliveryResult) -> Void
    ) async throws {
        try await self._send(message, callback: onDelivery)
    }

    /// Sends a message and waits for the broker's answer.
    /// - Returns: Where the message was written.
    /// - Throws: ``KafkaError`` when it could not be enqueued or was not delivered (for example
    ///   `_MSG_TIMED_OUT` after `message.timeout.ms`).
    nonisolated(nonsending) public func sendAndWait<Key, Value>(_ message: KafkaProducerMessage<Key, Value>) async throws -> KafkaDeliveryReport {
        let outcome = DeliveryOutcome()
        try await self._send(message) { result in outcome.resolve(result) }
        return try await outcome.value
    }

    @inlinable
    nonisolated(nonsending) func _send<Key, Value>(
        _ message: KafkaProducerMessage<Key, Value>,
        callback: (@Sendable (DeliveryResult) -> Void)?
    ) async throws {
        let opaque = RDKafkaProducerCore.retain(callback)
        while true {
            let generation = self.core.currentGeneration
            let error = withOptionalBytes(message.key) { key in
                withOptionalBytes(message.value) { value in
                    self.core.produce(
                        topic: message.topic,
                        partition: message.partition,
                        key: key,
                        value: value,
                        headers: message.headers,
                        timestampMilliseconds: message.timestampMilliseconds,
                        opaque: opaque
                    )
                }
            }
            guard let error else {
                self.core.didSend()
                return
            }
            guard error.code == .queueFull else {
                RDKafkaProducerCore.release(opaque)
                throw error
            }
            // librdkafka's queue is full: serve the reports that are ready, or wait until
            // delivery reports have made room.
            if self.core.serveReadyReports() { continue }
            await self.core.waitForProgress(since: generation)
            if Task.isCancelled {
                RDKafkaProducerCore.release(opaque)
                throw CancellationError()
            }
        }
    }

    /// Waits until every message enqueued so far has its delivery outcome.
    /// Bounded by `message.timeout.ms`: a message not delivered by then fails.
    public func flush() async {
        _ = await self.core.flush()
    }

    /// Waits, at most `timeout`, until every message enqueued so far has its delivery outcome.
    /// - Returns: `true` when everything was delivered in time.
    public func flush(timeout: Duration) async -> Bool {
        await self.core.flush(deadline: .now + timeout)
    }

    /// Refuses new messages, delivers every queued one, and releases the librdkafka handle.
    /// Later sends throw. Safe to call more than once.
    ///
    /// Bounded by `message.timeout.ms` (a message not delivered by then fails). When the calling
    /// task is cancelled, delivery goes on for at most one more second; what is still undelivered
    /// then is purged: each such message fails (`sendAndWait` throws, callbacks get the error),
    /// none is left without an outcome.
    public func close() async {
        await self.core.close()
    }

    /// ``close()`` within `timeout`: what is not delivered by then is purged, each purged message
    /// failing with librdkafka's purge error (one purged in flight may still have reached the
    /// broker). Returns within `timeout` plus one poll pass (≤ 100 ms) and the purged reports.
    /// - Returns: `true` when every message had its outcome without purging.
    @discardableResult
    public func close(timeout: Duration) async -> Bool {
        await self.core.close(deadline: .now + timeout)
    }

    /// Runs until graceful shutdown (or cancellation), then delivers everything queued and closes.
    /// A cancelled `run()` returns within about 1.2 s: one second more of delivery, then the rest
    /// is purged (see ``close()``).
    public func run() async throws {
        self.core.start()
        try? await gracefulShutdown()
        await self.close()
    }

    /// Outcomes so far.
    /// Calls `observer` for every delivery report, on whichever thread serves it (the poll thread,
    /// or a sending task that serves reports as it sends), before the message's own callback: for
    /// instrumentation that counts every message without a closure per send. Only one observer can
    /// be set; a second is ignored.
    /// - Returns: whether `observer` was set.
    @discardableResult
    public func onDeliveryReport(_ observer: @escaping @Sendable (KafkaDeliveryObservation) -> Void) -> Bool {
        self.core.onDeliveryReport(observer)
    }

    /// Calls `observer` with each librdkafka statistics report, every ``KafkaProducerConfiguration/statisticsInterval``
    /// (none unless it is set), on a queue of this client's own, never on a Kafka thread and
    /// never in a send. Only one observer can be set; a second is ignored.
    /// - Returns: whether `observer` was set.
    @discardableResult
    public func onStatistics(_ observer: @escaping @Sendable (KafkaStatistics) -> Void) -> Bool {
        defer { self.core.start() }  // statistics arrive through the poll thread
        return self.core.client.statistics.observe(observer)
    }

    /// The Kafka cluster's id (`rd_kafka_clusterid`), once the client has received metadata from
    /// it; `nil` before, and for brokers that report none. Read without a lock or a wait.
    public var clusterID: String? { self.core.client.clusterID }

    public var statistics: Statistics {
        Statistics(
            delivered: self.core.deliveredCount.load(ordering: .relaxed),
            failed: self.core.failedCount.load(ordering: .relaxed),
            queued: self.core.queuedCount
        )
    }

    deinit {
        // The poll thread keeps the core alive, delivers what is queued, then destroys the handle.
        self.core.beginDraining()
    }
}

/// Lends a key's or value's bytes, or `nil` for a null one (``KafkaNull`` is always null).
@inlinable
func withOptionalBytes<Bytes: KafkaContiguousBytes, R>(
    _ bytes: Bytes?,
    _ body: (UnsafeRawBufferPointer?) -> R
) -> R {
    guard let bytes, !(bytes is KafkaNull) else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}
