import CRDKafka
import Locking
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The C-facing half of ``KafkaProducer``: enqueues messages, and serves librdkafka's delivery
/// reports, giving each message exactly one outcome.
///
/// Reports are served by the sending task while it sends (every few messages, without waiting)
/// and otherwise by the client's own poll thread. Serving them where messages are allocated
/// matters: a report frees its message (and headers), and glibc's malloc serialises frees of
/// memory allocated by another thread on that thread's arena lock. With a separate thread doing
/// every free, a producer sending messages with headers spent most of its time in that lock.
@usableFromInline
final class RDKafkaProducerCore: @unchecked Sendable {
    @usableFromInline
    typealias DeliveryCallback = @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void

    /// Retained per message as librdkafka's `_private` opaque; released by its delivery report.
    final class DeliveryCallbackBox {
        let callback: DeliveryCallback
        init(_ callback: @escaping DeliveryCallback) { self.callback = callback }
    }

    private typealias StateMachine = RDKafkaProducerStateMachine<UnsafeContinuation<Void, Never>>
    private typealias Phase = StateMachine.Phase

    let client: RDKafkaClient
    private let queue: OpaquePointer
    private let logger: Logger
    /// The state machine's phase, published (under the lock, after every transition) for the send
    /// path, which reads it without the lock. Sequentially consistent with ``inFlight``: a sender
    /// counts itself in flight and then reads the phase; the poll thread reads the in-flight count
    /// (under the lock) after the phase left `running`; so either the sender sees the phase change
    /// and backs out, or the poll thread sees the sender and keeps the handle.
    private let phase = Atomic<Int>(Phase.idle.rawValue)
    /// Messages handed to librdkafka whose delivery report has not been served yet, plus callers
    /// holding the handle for a moment (a flush, a purge, a sender serving reports).
    private let inFlight = Atomic<Int>(0)
    /// Bumped by the poll thread after every pass (releasing: a waiter that sees it sees the
    /// pass's reports); waiters compare it to avoid lost wake-ups.
    private let generation = Atomic<Int>(0)
    /// Bumped whenever a sender served reports; while it moves, the poll thread stands back.
    /// Relaxed: only a hint for scheduling, no data is published through it.
    private let senderServing = Atomic<Int>(0)
    /// Sends since the sender last served reports. Relaxed: a counter; a lost update only moves
    /// the next serving by a send or two.
    private let sendsSinceServing = Atomic<Int>(0)
    /// Ids of tasks waiting for progress, so that a cancelled one can be found.
    private let waitIDs = Atomic<Int>(0)
    private let failureLog = Locked(RateLimitedLog(interval: .seconds(5)))
    /// Told of every delivery report; set once, read with one atomic load per report.
    private let deliveryObserver = SetOnceReference<DeliveryObserverBox>()

    final class DeliveryObserverBox: Sendable {
        let observe: @Sendable (KafkaDeliveryObservation) -> Void
        init(_ observe: @escaping @Sendable (KafkaDeliveryObservation) -> Void) { self.observe = observe }
    }

    /// Sets the observer of every delivery report (the first one set stays).
    /// - Returns: whether this observer was set.
    @discardableResult
    func onDeliveryReport(_ observer: @escaping @Sendable (KafkaDeliveryObservation) -> Void) -> Bool {
        let box = DeliveryObserverBox(observer)
        return self.deliveryObserver.storeIfNil(box) === box
    }
    /// Relaxed: counters read for statistics only.
    let deliveredCount = Atomic<Int>(0)
    let failedCount = Atomic<Int>(0)
    /// Every lifecycle decision is a transition of the state machine, made under this lock;
    /// continuations resume after it is released. (Its changes wake the poll thread when it
    /// stands back for a serving sender.)
    private let state = ConditionLocked(StateMachine())

    /// Runs a transition under the lock and publishes the phase it leaves for the send path.
    @discardableResult
    private func transition<R>(_ body: (inout StateMachine) -> R) -> R {
        self.state.withLock { machine in
            let result = body(&machine)
            self.phase.store(machine.phase.rawValue, ordering: .sequentiallyConsistent)
            return result
        }
    }

    init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        try configuration.validateCommon()
        let client = try RDKafkaClient(
            kind: .producer,
            properties: configuration.clientProperties,
            context: RDKafkaCallbackContext(logger: logger)
        ) { conf in
            rd_kafka_conf_set_events(conf, Int32(RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_STATS))
        }
        self.client = client
        self.queue = rd_kafka_queue_get_main(client.handle)
        var logger = logger
        logger[metadataKey: "kafka.client"] = "\(client.name)"
        self.logger = logger
    }

    /// Starts the poll thread if it is not running yet: the first send, flush, close, `run()` or
    /// statistics observer does; creating a producer starts no thread of ours.
    func start() {
        if self.transition({ $0.start() }) {
            startPollThread(name: self.client.name) { [self] in self.pollLoop() }
        }
    }

    // MARK: Sending
    //
    // The generic part of sending (lending a key's and value's bytes) is inlined into
    // `KafkaProducer.send`, so it is specialised for the caller's types; everything here is
    // concrete.

    /// Retains a delivery callback as a message opaque, to be released by its delivery report.
    @usableFromInline
    static func retain(_ callback: DeliveryCallback?) -> UnsafeMutableRawPointer? {
        callback.map { Unmanaged.passRetained(DeliveryCallbackBox($0)).toOpaque() }
    }

    /// Releases an opaque whose message was never enqueued.
    @usableFromInline
    static func release(_ opaque: UnsafeMutableRawPointer?) {
        if let opaque { Unmanaged<DeliveryCallbackBox>.fromOpaque(opaque).release() }
    }

    /// Increases whenever the poll thread makes a pass; read before an attempt that may find
    /// the queue full, and given to ``waitForProgress(since:)``.
    @usableFromInline
    var currentGeneration: Int { self.generation.load(ordering: .acquiring) }

    /// One attempt to enqueue; `nil` on success. `key` and `value` are `nil` for null ones.
    @usableFromInline
    func produce(
        topic: String,
        partition: Int32?,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader],
        timestampMilliseconds: Int64?,
        opaque: UnsafeMutableRawPointer?
    ) -> KafkaError? {
        do throws(KafkaError) { try KafkaTopicName.validate(topic) } catch { return error }
        // Count the message before checking the phase, so a concurrent close waits for it.
        self.inFlight.add(1, ordering: .sequentiallyConsistent)
        while self.phase.load(ordering: .sequentiallyConsistent) != Phase.running.rawValue {
            self.inFlight.subtract(1, ordering: .sequentiallyConsistent)
            guard self.phase.load(ordering: .sequentiallyConsistent) == Phase.idle.rawValue else {
                return self.state.withLock { $0.refusal }
            }
            self.start()  // the first send
            self.inFlight.add(1, ordering: .sequentiallyConsistent)
        }
        let headerList = RDKafkaHeaders.make(headers)
        let error = topic.withCString { topic in
            crdkafka_produce(
                self.client.handle,
                topic,
                partition ?? RD_KAFKA_PARTITION_UA,
                key.map { $0.baseAddress ?? nonNullEmpty },
                key?.count ?? 0,
                value.map { $0.baseAddress ?? nonNullEmpty },
                value?.count ?? 0,
                headerList,
                timestampMilliseconds ?? 0,
                opaque
            )
        }
        guard let error else { return nil }
        self.inFlight.subtract(1, ordering: .sequentiallyConsistent)
        if let headerList { rd_kafka_headers_destroy(headerList) }
        return KafkaError.consuming(error, context: "could not enqueue a message to topic \"\(topic)\"")
    }

    /// Returns once the poll thread has made a pass after `generation` (or the producer stopped,
    /// or the task is cancelled).
    @usableFromInline
    nonisolated(nonsending) func waitForProgress(since generation: Int) async {
        let id = self.waitIDs.add(1, ordering: .relaxed).newValue
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let action = self.state.withLock { machine in
                    machine.waitForProgress(
                        continuation,
                        id: id,
                        since: generation,
                        current: self.generation.load(ordering: .acquiring),
                        isCancelled: Task.isCancelled
                    )
                }
                if action == .resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.state.withLock { $0.cancelProgressWait(id: id) }?.resume()
        }
    }

    // MARK: Flush and shutdown

    /// The number of messages waiting for their delivery report.
    var queuedCount: Int { self.inFlight.load(ordering: .relaxed) }

    /// How long a cancelled ``close(deadline:)`` keeps delivering before it purges the rest.
    static let cancellationGrace: Duration = .seconds(1)

    /// Returns when every message enqueued before the call has its delivery report served (or
    /// when `deadline` passes, or `cancellationGrace` after the task is cancelled).
    /// - Returns: whether every message had its outcome in time.
    func flush(deadline: ContinuousClock.Instant? = nil, cancellationGrace: Duration = .zero) async -> Bool {
        self.start()
        var deadline = deadline
        var sawCancellation = false
        // Wake the broker threads so lingering batches go now. As in `produce`, counting ourselves
        // in flight before seeing `running` keeps the poll thread from destroying the handle.
        self.inFlight.add(1, ordering: .sequentiallyConsistent)
        if self.phase.load(ordering: .sequentiallyConsistent) == Phase.running.rawValue {
            _ = rd_kafka_flush(self.client.handle, 0)
        }
        self.inFlight.subtract(1, ordering: .sequentiallyConsistent)
        while self.inFlight.load(ordering: .sequentiallyConsistent) > 0 {
            if !sawCancellation && Task.isCancelled {
                // Noticed within one poll pass (at most 100 ms): every pass wakes the waiters.
                sawCancellation = true
                let cut = ContinuousClock.now + cancellationGrace
                deadline = deadline.map { min($0, cut) } ?? cut
            }
            if let deadline, ContinuousClock.now >= deadline { return false }
            if self.phase.load(ordering: .acquiring) == Phase.stopped.rawValue { return false }
            let generation = self.generation.load(ordering: .acquiring)
            if self.inFlight.load(ordering: .sequentiallyConsistent) == 0 { break }
            await self.waitForProgress(since: generation)
        }
        return true
    }

    /// Refuses new messages, delivers the queued ones until `deadline` (or for
    /// ``cancellationGrace`` once the task is cancelled), purges what is still undelivered then —
    /// each purged message fails with librdkafka's purge error, so none is left without an
    /// outcome — and ends the poll thread and destroys the handle. Safe to call more than once.
    /// - Returns: whether every message had its outcome without purging.
    @discardableResult
    func close(deadline: ContinuousClock.Instant? = nil) async -> Bool {
        self.beginDraining()
        let complete = await self.flush(deadline: deadline, cancellationGrace: Self.cancellationGrace)
        if !complete { self.purge() }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            if self.state.withLock({ $0.waitForStop(continuation) }) == .resumeNow { continuation.resume() }
        }
        return complete
    }

    /// Fails every message still queued or in flight (their reports come back purged, and the
    /// poll thread serves them), so a close need not wait for `message.timeout.ms`. A message
    /// purged in flight may still have reached the broker: its failure means "unknown", as
    /// librdkafka documents.
    private func purge() {
        let alive = self.state.withLock { machine -> Bool in
            guard machine.mayPurge() else { return false }
            // Counted in flight under the lock: the poll thread cannot decide to exit meanwhile.
            self.inFlight.add(1, ordering: .sequentiallyConsistent)
            return true
        }
        guard alive else { return }
        let flags = Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
        let error = rd_kafka_purge(self.client.handle, flags)
        if error != RD_KAFKA_RESP_ERR_NO_ERROR {
            self.logger.warning("Could not purge the producer's queue", metadata: ["error": "\(String(cString: rd_kafka_err2str(error)))"])
        }
        self.inFlight.subtract(1, ordering: .sequentiallyConsistent)
    }

    /// Refuses new messages; the poll thread stops once everything queued is delivered.
    func beginDraining() {
        // Never started: started now, to destroy the handle.
        self.start()
        // The lock's release wakes the poll thread if it stands back.
        self.transition { $0.beginDraining() }
    }

    // MARK: Poll thread

    /// How many messages one call takes from a delivery-report event at a time.
    private static let reportBatch = 256

    private func pollLoop() {
        let messages = UnsafeMutablePointer<UnsafePointer<rd_kafka_message_t>?>.allocate(capacity: Self.reportBatch)
        defer { messages.deallocate() }
        var lastSenderServing = self.senderServing.load(ordering: .relaxed)
        while true {
            if self.phase.load(ordering: .sequentiallyConsistent) != Phase.running.rawValue,
                self.inFlight.load(ordering: .sequentiallyConsistent) == 0
            {
                // Decided under the lock, so that a purge either runs before (and is counted in
                // flight) or sees the handle released.
                let exits = self.state.withLock {
                    $0.pollThreadMayExit(inFlight: self.inFlight.load(ordering: .sequentiallyConsistent))
                }
                if exits { break }
            }
            let senderServing = self.senderServing.load(ordering: .relaxed)
            if senderServing != lastSenderServing {
                // A sender is serving reports as it sends: leave them to it for a moment, unless
                // closing starts meanwhile (beginDraining wakes this wait).
                lastSenderServing = senderServing
                _ = self.state.wait(timeout: .milliseconds(2)) { $0.phase != .running }
                continue
            }
            if let event = rd_kafka_queue_poll(self.queue, 100) {
                self.serve(event, messages: messages)
            }
            self.client.refreshClusterID()
            self.generation.add(1, ordering: .releasing)
            self.resumeProgressWaiters()
        }
        rd_kafka_queue_destroy(self.queue)
        self.client.destroy()
        for waiter in self.transition({ $0.stopped() }) { waiter.resume() }
    }

    /// Serves one event of the main queue and destroys it.
    private func serve(_ event: OpaquePointer, messages: UnsafeMutablePointer<UnsafePointer<rd_kafka_message_t>?>) {
        switch rd_kafka_event_type(event) {
        case RD_KAFKA_EVENT_DR:
            var served = 0
            while true {
                let count = rd_kafka_event_message_array(event, messages, Self.reportBatch)
                if count == 0 { break }
                for index in 0..<count {
                    self.serveDeliveryReport(UnsafeMutablePointer(mutating: messages[index]!))
                }
                served += count
            }
            self.inFlight.subtract(served, ordering: .sequentiallyConsistent)
        case RD_KAFKA_EVENT_ERROR:
            self.serveError(event)
        case RD_KAFKA_EVENT_STATS:
            // Copied and handed off: a sender serving reports never parses it.
            if let json = rd_kafka_event_stats(event) { self.client.statistics.received(json) }
        default:
            break
        }
        rd_kafka_event_destroy(event)
    }

    /// Called after each successful enqueue: every 64 sends, serves the reports that are ready,
    /// on the sender's thread, without waiting.
    @usableFromInline
    func didSend() {
        if self.sendsSinceServing.add(1, ordering: .relaxed).newValue >= 64 {
            self.sendsSinceServing.store(0, ordering: .relaxed)
            _ = self.serveReadyReports()
        }
    }

    /// Serves the delivery reports that are ready, without waiting; `true` when it served any.
    /// Callbacks run on the caller's thread.
    @usableFromInline
    func serveReadyReports() -> Bool {
        // Hold the poll thread's exit (it needs no message in flight) while touching the queue,
        // and touch it only while running: the poll thread destroys it when it ends.
        self.inFlight.add(1, ordering: .sequentiallyConsistent)
        defer { self.inFlight.subtract(1, ordering: .sequentiallyConsistent) }
        guard self.phase.load(ordering: .sequentiallyConsistent) == Phase.running.rawValue else { return false }
        self.senderServing.add(1, ordering: .relaxed)
        var served = false
        withUnsafeTemporaryAllocation(of: UnsafePointer<rd_kafka_message_t>?.self, capacity: Self.reportBatch) { messages in
            for _ in 0..<8 {
                guard let event = rd_kafka_queue_poll(self.queue, 0) else { break }
                self.serve(event, messages: messages.baseAddress!)
                served = true
            }
        }
        if served {
            self.generation.add(1, ordering: .releasing)
            self.resumeProgressWaiters()
        }
        return served
    }

    private func resumeProgressWaiters() {
        for waiter in self.state.withLock({ $0.progressed() }) { waiter.resume() }
    }

    private func serveDeliveryReport(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let m = message.pointee
        let failed = m.err != RD_KAFKA_RESP_ERR_NO_ERROR
        if failed {
            self.failedCount.add(1, ordering: .relaxed)
        } else {
            self.deliveredCount.add(1, ordering: .relaxed)
        }
        self.deliveryObserver.load()?.observe(KafkaDeliveryObservation(message))
        guard let opaque = m._private else {
            if failed, self.failureLog.withLock({ $0.shouldLog() }) {
                let error = KafkaError.rdKafka(m.err, context: "delivery failed")
                self.logger.error(
                    "A message could not be delivered",
                    metadata: [
                        "kafka.topic": "\(String(cString: rd_kafka_topic_name(m.rkt)))",
                        "kafka.error": "\(error)",
                        "kafka.failed.total": "\(self.failedCount.load(ordering: .relaxed))",
                    ]
                )
            }
            return
        }
        let box = Unmanaged<DeliveryCallbackBox>.fromOpaque(opaque).takeRetainedValue()
        let topic = String(cString: rd_kafka_topic_name(m.rkt))
        if failed {
            box.callback(.failure(.rdKafka(m.err, context: "delivery to topic \"\(topic)\" failed")))
        } else {
            box.callback(
                .success(
                    KafkaDeliveryReport(
                        topic: topic,
                        partition: m.partition,
                        offset: m.offset >= 0 ? m.offset : nil,
                        timestamp: KafkaTimestamp(message)
                    )
                )
            )
        }
    }

    private func serveError(_ event: OpaquePointer) {
        let code = rd_kafka_event_error(event)
        let text = String(cString: rd_kafka_event_error_string(event))
        if rd_kafka_event_error_is_fatal(event) != 0 {
            var buffer = [CChar](repeating: 0, count: 512)
            let underlying = rd_kafka_fatal_error(self.client.handle, &buffer, buffer.count)
            let error = KafkaError(
                code: KafkaError.Code(underlying),
                message: "the producer failed fatally and must be recreated: \(String(errorBuffer: buffer))",
                isRetriable: false,
                isFatal: true
            )
            self.logger.critical("Kafka producer fatal error", metadata: ["kafka.error": "\(error)"])
            self.transition { $0.failed(error) }
        } else {
            self.logger.warning(
                "Kafka producer error",
                metadata: ["kafka.error": "\(KafkaError.Code(code).name)", "kafka.message": "\(text)"]
            )
        }
    }

    deinit {
        // Only reached once the poll thread has ended, which destroyed the handle.
    }
}

/// Stands for the start of an empty (not null) key or value; librdkafka reads no byte of it.
private var nonNullEmpty: UnsafeRawPointer { UnsafeRawPointer(bitPattern: 1)! }

/// Logs at most once per interval; counts what it suppressed.
struct RateLimitedLog {
    let interval: Duration
    private var last: ContinuousClock.Instant?
    private(set) var suppressed = 0

    init(interval: Duration) { self.interval = interval }

    mutating func shouldLog() -> Bool {
        let now = ContinuousClock.now
        if let last, now - last < self.interval {
            self.suppressed += 1
            return false
        }
        self.last = now
        self.suppressed = 0
        return true
    }
}
