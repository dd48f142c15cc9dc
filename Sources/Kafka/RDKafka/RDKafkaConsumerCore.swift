import CRDKafka
import DequeModule
import Foundation
import Locking
import Logging

/// The C-facing half of ``KafkaConsumer``: on its own thread it polls librdkafka, serves
/// rebalances, and buffers messages for the application; it stores offsets the application is
/// done with, and closes the group membership (committing) on shutdown.
final class RDKafkaConsumerCore: @unchecked Sendable {
    private enum Phase {
        /// Fetching.
        case running
        /// Closing was asked for: no message is handed out any more; the poll thread waits until
        /// the application is done with the one in hand (it calls `close()`, or asks for the next
        /// message and gets the end), so that its offset is stored and committed, then closes.
        case closeRequested
        /// The poll thread is committing, leaving the group and destroying the handle.
        case closing
        /// The handle is destroyed.
        case closed
    }

    private struct State {
        var phase = Phase.running
        var buffer = Deque<KafkaConsumerMessage>()
        var waiter: UnsafeContinuation<KafkaConsumerMessage?, any Error>?
        var failure: KafkaError?
        var assignment = Set<KafkaTopicPartition>()
        var closeWaiters: [UnsafeContinuation<Void, Never>] = []
        /// Calls on the handle in progress outside the lock; closing waits for them.
        var handleUsers = 0
        /// When closing was asked for.
        var closeRequestedAt: ContinuousClock.Instant?
        /// The application has finished with its messages (it called `close()`, or was given
        /// the end of the sequence): the poll thread may close now.
        var applicationDone = false
        /// The application hands messages on to other tasks (a concurrent traced handler): the
        /// end of the sequence does not mean it is done with them; only `close()` does.
        var applicationHandsOn = false
    }

    /// How long, at most, a consumer asked to close waits for the application to finish the
    /// message in hand before it closes anyway.
    static let closeGracePeriod = Duration.seconds(30)

    let client: RDKafkaClient
    private let logger: Logger
    private let maxBuffered: Int
    /// Every change wakes the poll thread when it waits for one (the application finishing with
    /// its messages, room in the buffer, the last user of the handle leaving).
    private let state = ConditionLocked(State())
    private let commitObserver = Locked<(@Sendable (KafkaCommitReport) -> Void)?>(nil)

    init(configuration: KafkaConsumerConfiguration, logger: Logger) throws(KafkaError) {
        try configuration.validate()
        let context = RDKafkaCallbackContext(logger: logger)
        let client = try RDKafkaClient(kind: .consumer, properties: configuration.clientProperties, context: context) {
            conf in
            rd_kafka_conf_set_rebalance_cb(conf, rdKafkaRebalanceCallback)
            rd_kafka_conf_set_offset_commit_cb(conf, rdKafkaOffsetCommitCallback)
            rd_kafka_conf_set_stats_cb(conf, rdKafkaStatisticsCallback)
        }
        self.client = client
        var logger = logger
        logger[metadataKey: "kafka.client"] = "\(client.name)"
        logger[metadataKey: "kafka.group"] = "\(configuration.groupID)"
        self.logger = logger
        self.maxBuffered = configuration.maxBufferedMessages
        // The context (and so this closure) lives until the handle is destroyed; the weak
        // reference avoids a cycle through the client.
        context.rebalance = { [weak self] event in self?.serveRebalance(event) }
        context.automaticCommit = { [weak self] outcome in
            let now = wallClockNanoseconds()
            if let report = outcome.report(reason: .automatic, start: now, end: now) { self?.reportCommit(report) }
        }

        rd_kafka_poll_set_consumer(client.handle)
        let error = RDKafkaTopicPartitionList.with(
            configuration.topics.map { ($0, RD_KAFKA_PARTITION_UA, Int64(0)) }
        ) { rd_kafka_subscribe(client.handle, $0) }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(error, context: "could not subscribe to \(configuration.topics)")
        }
        startPollThread(name: client.name) { [self] in self.pollLoop() }
    }

    // MARK: Application side

    /// The next buffered message; waits for one. `nil` once the consumer is closed.
    func next() async throws -> KafkaConsumerMessage? {
        // Fast path: a buffered message, or the end, without suspending.
        if let ready = self.state.withLock({ Self.ready(&$0) }) { return try ready.get() }
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<KafkaConsumerMessage?, any Error>) in
                let result = self.state.withLock { state -> Result<KafkaConsumerMessage?, any Error>? in
                    if let ready = Self.ready(&state) { return ready }
                    if state.waiter != nil {
                        return .failure(
                            KafkaError(
                                code: .state,
                                message: "KafkaConsumer.messages is already being iterated by another task",
                                isRetriable: false
                            )
                        )
                    }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiter = continuation
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            let waiter = self.state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// The next messages already fetched, at most `maxCount`; waits for at least one. Empty once
    /// the consumer is closed.
    func nextBatch(maxCount: Int) async throws -> [KafkaConsumerMessage] {
        guard let first = try await self.next() else { return [] }
        var batch = [first]
        self.state.withLock { state in
            while batch.count < maxCount, let message = state.buffer.popFirst() { batch.append(message) }
        }
        return batch
    }

    /// The next buffered message, or the end of the sequence (`nil`, or the fatal error) once the
    /// consumer stopped running; `nil` when the caller must wait.
    private static func ready(_ state: inout State) -> Result<KafkaConsumerMessage?, any Error>? {
        if state.phase != .running {
            // Buffered messages are not handed out once closing began: their offsets could no
            // longer be committed, so the group reads them again instead.
            if !state.applicationHandsOn { state.applicationDone = true }
            return state.failure.map { .failure($0) } ?? .success(nil)
        }
        if let message = state.buffer.popFirst() { return .success(message) }
        return nil
    }

    /// Stores `offset + 1` for the message's partition, to be committed by the client.
    /// Offsets of partitions no longer assigned are skipped: their new owner reads them again.
    func storeOffset(topic: String, partition: Int32, offset: Int64) throws(KafkaError) {
        let result: rd_kafka_resp_err_t? = self.state.withLock { state in
            // Under the lock: the poll thread cannot start closing (and destroy) meanwhile.
            guard state.phase == .running || state.phase == .closeRequested else { return nil }
            return RDKafkaTopicPartitionList.with([(topic, partition, offset + 1)]) { list in
                let error = rd_kafka_offsets_store(self.client.handle, list)
                return error == RD_KAFKA_RESP_ERR_NO_ERROR ? list.pointee.elems[0].err : error
            }
        }
        guard let result else {
            throw KafkaError.closed("the consumer (the offset of \(topic)[\(partition)]@\(offset) was not stored)")
        }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            self.logger.debug(
                "Offset not stored: the partition is no longer assigned to this consumer",
                metadata: ["kafka.partition": "\(topic)[\(partition)]", "kafka.offset": "\(offset)"]
            )
        }
    }

    /// Commits the stored offsets now, waiting for the broker's answer on a thread of the
    /// ``BlockingCallExecutor``.
    func commit() async throws {
        let usable = self.state.withLock { state in
            guard state.phase == .running || state.phase == .closeRequested else { return false }
            state.handleUsers += 1
            return true
        }
        guard usable else { throw KafkaError.closed("the consumer") }
        let error = await BlockingCallExecutor.shared.run {
            let error = self.commitStored(reason: .manual)
            self.state.withLock { $0.handleUsers -= 1 }
            return error
        }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError.rdKafka(error, context: "committing offsets")
        }
    }

    /// Commits the stored offsets and waits for the answer (blocking), reporting the commit.
    private func commitStored(reason: KafkaCommitReport.Reason) -> rd_kafka_resp_err_t {
        let (error, outcome, start, end) = RDKafkaCommit.commitStored(self.client.handle)
        if let report = outcome.report(reason: reason, start: start, end: end) { self.reportCommit(report) }
        return error
    }

    /// Reports every commit from now on (see ``KafkaConsumer/onCommit(_:)``).
    func onCommit(_ observer: @escaping @Sendable (KafkaCommitReport) -> Void) {
        self.commitObserver.withLock { $0 = observer }
    }

    private var observesCommits: Bool { self.commitObserver.withLock { $0 != nil } }

    private func reportCommit(_ report: KafkaCommitReport) {
        self.commitObserver.withLock { $0 }?(report)
    }

    /// The partitions currently assigned to this consumer.
    var assignment: Set<KafkaTopicPartition> { self.state.withLock { $0.assignment } }

    /// Stops fetching, commits stored offsets, leaves the group and destroys the handle.
    func close() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let done = self.state.withLock { state in
                if state.phase == .closed { return true }
                Self.requestClose(&state)
                state.applicationDone = true
                state.closeWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Stops handing out messages; the consumer closes once the application is done with the
    /// message in hand (see ``Phase/closeRequested``).
    func requestClose() {
        let waiter = self.state.withLock { state in
            Self.requestClose(&state)
            return Self.takeWaiterHandingOn(&state)
        }
        waiter?.resume(returning: nil)
    }

    /// Closes without waiting for the application (when it is gone: the consumer's deinit).
    func closeWithoutWaiting() {
        self.state.withLock { state in
            Self.requestClose(&state)
            state.applicationDone = true
        }
    }

    private static func requestClose(_ state: inout State) {
        guard state.phase == .running else { return }
        state.phase = .closeRequested
        state.closeRequestedAt = .now
        // A task waiting for a message gets the end now: it holds no message (unless it handed
        // earlier ones on to other tasks).
        state.applicationDone = state.applicationDone || (state.waiter != nil && !state.applicationHandsOn)
    }

    /// Once closing was requested: an application that hands messages on closes later (with
    /// `close()`), so its task waiting for a message must get the end (or the error) now, not when
    /// the consumer is closed. Others get it from the poll thread as it closes.
    private static func takeWaiterHandingOn(_ state: inout State) -> UnsafeContinuation<KafkaConsumerMessage?, any Error>? {
        guard state.applicationHandsOn else { return nil }
        defer { state.waiter = nil }
        return state.waiter
    }

    /// From now on, only `close()` (or the grace period) tells that the application is done
    /// with its messages, not the end of the sequence.
    func setApplicationHandsOn() {
        self.state.withLock { $0.applicationHandsOn = true }
    }

    // MARK: Poll thread

    private func pollLoop() {
        let handle = self.client.handle
        var errorLog = RateLimitedLog(interval: .seconds(5))
        var batch: [KafkaConsumerMessage] = []
        while true {
            let (phase, buffered, mayClose) = self.state.withLock { state in
                (
                    state.phase, state.buffer.count,
                    state.applicationDone || (state.closeRequestedAt.map { .now - $0 > Self.closeGracePeriod } ?? true)
                )
            }
            if phase == .closeRequested {
                if mayClose { break }
                // Wait for the application to finish the message in hand (and store its offset),
                // at most until the grace period ends.
                let remaining = self.state.withLock { state in
                    state.closeRequestedAt.map { Self.closeGracePeriod - (.now - $0) } ?? .zero
                }
                _ = self.state.wait(timeout: remaining) { $0.applicationDone || $0.phase != .closeRequested }
                continue
            }
            guard phase == .running else { break }
            if buffered >= self.maxBuffered {
                // The application is behind; fetched messages wait in librdkafka meanwhile. Woken
                // when it takes one (or closing starts); the timeout only bounds a missed case.
                let maxBuffered = self.maxBuffered
                _ = self.state.wait(timeout: .milliseconds(100)) { $0.buffer.count < maxBuffered || $0.phase != .running }
                continue
            }
            var message = rd_kafka_consumer_poll(handle, 100)
            self.client.refreshClusterID()
            while let current = message {
                if current.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    batch.append(KafkaConsumerMessage(current, topic: String(cString: rd_kafka_topic_name(current.pointee.rkt))))
                } else {
                    self.serveError(current, errorLog: &errorLog)
                }
                rd_kafka_message_destroy(current)
                message = batch.count < 512 ? rd_kafka_consumer_poll(handle, 0) : nil
            }
            if !batch.isEmpty {
                let waiter = self.state.withLock { state in
                    state.buffer.append(contentsOf: batch)
                    defer { state.waiter = nil }
                    return state.waiter.map { ($0, state.buffer.removeFirst()) }
                }
                batch.removeAll(keepingCapacity: true)
                waiter.map { $0.0.resume(returning: $0.1) }
            }
        }
        self.state.withLock { $0.phase = .closing }
        // Calls on the handle in progress (a commit) finish first; each one's end wakes us.
        _ = self.state.wait { $0.handleUsers == 0 }
        if self.observesCommits {
            // Commit here, so the observer learns what closing committed (librdkafka's own
            // commit inside close reports nothing, and then finds nothing left to commit).
            let error = self.commitStored(reason: .close)
            if error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__NO_OFFSET {
                self.logger.warning("Committing offsets on close failed", metadata: ["kafka.error": "\(KafkaError.Code(error).name)"])
            }
        }
        let error = rd_kafka_consumer_close(handle)
        if error != RD_KAFKA_RESP_ERR_NO_ERROR {
            self.logger.warning("Closing the consumer failed", metadata: ["kafka.error": "\(KafkaError.Code(error).name)"])
        }
        self.client.destroy()
        self.logger.debug("Kafka consumer closed")
        let (waiter, closeWaiters, failure) = self.state.withLock { state in
            state.phase = .closed
            state.buffer.removeAll()
            state.assignment.removeAll()
            defer {
                state.waiter = nil
                state.closeWaiters = []
            }
            return (state.waiter, state.closeWaiters, state.failure)
        }
        if let failure { waiter?.resume(throwing: failure) } else { waiter?.resume(returning: nil) }
        for closeWaiter in closeWaiters { closeWaiter.resume() }
    }

    private func serveError(_ message: UnsafeMutablePointer<rd_kafka_message_t>, errorLog: inout RateLimitedLog) {
        let code = message.pointee.err
        if code == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
        var buffer = [CChar](repeating: 0, count: 512)
        let fatal = rd_kafka_fatal_error(self.client.handle, &buffer, buffer.count)
        if fatal != RD_KAFKA_RESP_ERR_NO_ERROR {
            let error = KafkaError(
                code: KafkaError.Code(fatal),
                message: "the consumer failed fatally and must be recreated: \(String(errorBuffer: buffer))",
                isRetriable: false,
                isFatal: true
            )
            self.logger.critical("Kafka consumer fatal error", metadata: ["kafka.error": "\(error)"])
            let waiter = self.state.withLock { state in
                state.failure = error
                Self.requestClose(&state)
                return Self.takeWaiterHandingOn(&state)
            }
            waiter?.resume(throwing: error)
            return
        }
        guard errorLog.shouldLog() else { return }
        let text = message.pointee.payload.map { String(rdKafkaBytes: $0, count: message.pointee.len) }
        self.logger.warning(
            "Kafka consumer error",
            metadata: [
                "kafka.error": "\(KafkaError.Code(code).name)",
                "kafka.message": "\(text ?? String(cString: rd_kafka_err2str(code)))",
            ]
        )
    }

    private func serveRebalance(_ event: RDKafkaRebalanceEvent) {
        let handle = event.handle
        let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
        let partitions = RDKafkaTopicPartitionList.read(event.partitions)
        switch event.kind {
        case .assign:
            if cooperative {
                if let error = rd_kafka_incremental_assign(handle, event.partitions) {
                    self.logger.error("Incremental assign failed", metadata: ["kafka.error": "\(KafkaError.consuming(error))"])
                }
            } else {
                rd_kafka_assign(handle, event.partitions)
            }
            let assignment = self.state.withLock { state in
                if !cooperative { state.assignment = [] }
                state.assignment.formUnion(partitions)
                return state.assignment
            }
            self.logger.info(
                "Partitions assigned",
                metadata: ["kafka.partitions": "\(partitions.sorted())", "kafka.assignment": "\(assignment.sorted())"]
            )
        case .revoke:
            let lost = rd_kafka_assignment_lost(handle) != 0
            if !lost {
                // Commit what the application finished before the partitions move on.
                let error = self.commitStored(reason: .revoke)
                if error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__NO_OFFSET {
                    self.logger.warning(
                        "Committing offsets on revocation failed",
                        metadata: ["kafka.error": "\(KafkaError.Code(error).name)"]
                    )
                }
            }
            let revoked = Set(partitions)
            let purged = self.state.withLock { state in
                // Buffered messages of revoked partitions go to their new owner instead.
                let before = state.buffer.count
                state.buffer.removeAll { revoked.contains(KafkaTopicPartition(topic: $0.topic, partition: $0.partition)) }
                state.assignment.subtract(revoked)
                return before - state.buffer.count
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, event.partitions) {
                    self.logger.error("Incremental unassign failed", metadata: ["kafka.error": "\(KafkaError.consuming(error))"])
                }
            } else {
                rd_kafka_assign(handle, nil)
            }
            self.logger.info(
                lost ? "Partitions lost" : "Partitions revoked",
                metadata: ["kafka.partitions": "\(partitions.sorted())", "kafka.discardedBufferedMessages": "\(purged)"]
            )
        case .error(let error):
            self.logger.error("Rebalance failed", metadata: ["kafka.error": "\(error)"])
            rd_kafka_assign(handle, nil)
            self.state.withLock { $0.assignment = [] }
        }
    }
}

/// Serves librdkafka's rebalance callback (on the consumer's poll thread) through the handle's
/// callback context.
private let rdKafkaRebalanceCallback:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        UnsafeMutableRawPointer?
    ) -> Void = { handle, error, partitions, opaque in
        guard let handle else { return }
        let kind: RDKafkaRebalanceEvent.Kind =
            switch error {
            case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS: .assign
            case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: .revoke
            default: .error(.rdKafka(error, context: "rebalance"))
            }
        if let opaque, let serve = Unmanaged<RDKafkaCallbackContext>.fromOpaque(opaque).takeUnretainedValue().rebalance {
            serve(RDKafkaRebalanceEvent(kind: kind, partitions: partitions, handle: handle))
        } else if case .assign = kind {
            rd_kafka_assign(handle, partitions)
        } else {
            rd_kafka_assign(handle, nil)
        }
    }
