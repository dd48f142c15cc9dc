import CRDKafka
import DequeModule
import Foundation
import Locking
import Logging

/// The C-facing half of ``KafkaConsumer``: on its own thread it polls librdkafka, serves
/// rebalances, and buffers messages for the application; it stores offsets the application is
/// done with, and closes the group membership (committing) on shutdown.
final class RDKafkaConsumerCore: @unchecked Sendable {
    private typealias StateMachine = RDKafkaConsumerStateMachine<
        RDKafkaFetchedMessage, UnsafeContinuation<RDKafkaFetchedMessage?, any Error>, UnsafeContinuation<Void, Never>
    >

    /// How long, at most, a consumer asked to close waits for the application to finish the
    /// message in hand before it closes anyway.
    static let closeGracePeriod = Duration.seconds(30)

    let client: RDKafkaClient
    private let logger: Logger
    /// Every decision is a transition of the state machine, made under this lock; every change
    /// wakes the poll thread when it waits for one (the application finishing with its messages,
    /// room in the buffer, the last user of the handle leaving). Continuations resume after the
    /// lock is released.
    private let state: ConditionLocked<StateMachine>
    private let commitObserver = Locked<(@Sendable (KafkaCommitReport) -> Void)?>(nil)
    /// librdkafka's handle of each topic whose offsets were stored, released before the client
    /// is destroyed. Only touched with ``state``'s lock held.
    @exclusivity(unchecked) private nonisolated(unsafe) var topicHandles: [String: OpaquePointer] = [:]
    /// The last entry of ``topicHandles`` used (same lock).
    @exclusivity(unchecked) private nonisolated(unsafe) var lastTopicHandle: (topic: String, handle: OpaquePointer)?
    /// The offsets the application is done with, latest per partition, not yet given to
    /// librdkafka: the poll thread stores them before each poll, and every commit first (see
    /// ``flushPendingOffsets()``). Storing one through librdkafka costs several of its locks;
    /// here it is an assignment. Only touched with ``state``'s lock held.
    @exclusivity(unchecked) private nonisolated(unsafe) var pendingOffsets: [Done] = []
    /// The entry of ``pendingOffsets`` written last (same lock).
    @exclusivity(unchecked) private nonisolated(unsafe) var lastPendingOffset = 0
    /// The topic name of the last message handed out, reused while messages come from the same
    /// topic (a topic name longer than 15 bytes would otherwise be allocated per message). Only
    /// touched with ``state``'s lock held.
    @exclusivity(unchecked) private nonisolated(unsafe) var lastTopic = ""
    /// The consumer's hold on its handle, which every message handed out shares
    /// (``RDKafkaHandleKeeper``); given up when the consumer has closed. Only touched with
    /// ``state``'s lock held.
    @exclusivity(unchecked) private nonisolated(unsafe) var handleKeeper: RDKafkaHandleKeeper?

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
        self.handleKeeper = RDKafkaHandleKeeper(client: client)
        var logger = logger
        logger[metadataKey: "kafka.client"] = "\(client.name)"
        logger[metadataKey: "kafka.group"] = "\(configuration.groupID)"
        self.logger = logger
        self.state = ConditionLocked(
            StateMachine(maxBuffered: configuration.maxBufferedMessages, closeGracePeriod: Self.closeGracePeriod)
        )
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
    }

    /// Starts the poll thread (joining the group, fetching) if it is not running yet: the first
    /// wait for a message, close, or `run()` does; creating a consumer starts no thread of ours.
    func start() {
        if self.state.withLock({ $0.startPollThread() }) {
            startPollThread(name: self.client.name) { [self] in self.pollLoop() }
        }
    }

    // MARK: Application side

    /// A fetched message as the application gets it, still librdkafka's (read in place, destroyed
    /// when the application drops it); called with ``state``'s lock held (the handle cannot close
    /// meanwhile).
    private func handOut(_ fetched: RDKafkaFetchedMessage) -> KafkaConsumerMessage {
        let m = fetched.pointer.pointee
        // A message of the topic whose offset was stored last carries the handle kept for it (a
        // handle this consumer holds, so its address cannot be reused by another topic): its
        // name is known without reading it. Otherwise the name is compared with the last one.
        if let last = self.lastTopicHandle, m.rkt == last.handle {
            self.lastTopic = last.topic
        } else {
            let name = rd_kafka_topic_name(m.rkt)!
            if !self.lastTopic.withCString({ strcmp($0, name) == 0 }) { self.lastTopic = String(cString: name) }
        }
        // The keeper is given up once the consumer has closed. A task resumed with a message just
        // before may wrap it after that: a keeper of its own then keeps the client for it (the
        // handle's destroy, already begun, waits for the message in any case).
        let keeper = self.handleKeeper ?? RDKafkaHandleKeeper(client: self.client)
        return KafkaConsumerMessage(
            topic: self.lastTopic,
            partition: m.partition,
            offset: m.offset,
            timestamp: KafkaTimestamp(fetched.pointer),
            bytes: .borrowed(RDKafkaBorrowedMessage(fetched, keeper: keeper))
        )
    }

    /// A message the application is done with, whose offset is stored with the next request.
    typealias Done = (topic: String, partition: Int32, offset: Int64)

    /// The next buffered message; waits for one. `nil` once the consumer is closed.
    /// - Parameter done: a message whose offset to store first, under the same lock (the
    ///   sequence's iterator stores the previous message's this way).
    nonisolated(nonsending) func next(storingOffsetOf done: Done? = nil) async throws -> KafkaConsumerMessage? {
        // Fast path: a buffered message, or the end, without suspending.
        let next = self.state.withLock { state -> Result<KafkaConsumerMessage?, KafkaError>? in
            // (Once closing started it is not stored: the sequence ends, the group reads it again.)
            if let done { _ = self.storeOffsetLocked(state, done) }
            switch state.next() {
            case .message(let fetched): return .success(self.handOut(fetched))
            case .end(let failure?): return .failure(failure)
            case .end(nil): return .success(nil)
            case .wait: return nil
            }
        }
        if let next { return try next.get() }
        self.start()
        // The poll thread resumes the waiter with librdkafka's message as fetched, and this task
        // wraps it (under the lock, as every hand-out): the message object is made on the thread
        // that reads it. (Made on the poll thread and passed through the continuation, its fields
        // were published by the concurrency runtime's atomics, which ThreadSanitizer does not see
        // when the resume races the suspension: reported once as a race in a CI run.)
        let fetched = try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<RDKafkaFetchedMessage?, any Error>) in
                let action = self.state.withLock { state -> Result<RDKafkaFetchedMessage?, any Error>? in
                    guard case .resume(let result) = state.waitForMessage(continuation, isCancelled: Task.isCancelled) else {
                        return nil
                    }
                    return result
                }
                if let action { continuation.resume(with: action) }
            }
        } onCancel: {
            self.state.withLock { $0.cancelWaiter() }?.resume(throwing: CancellationError())
        }
        // Taken from the buffer, so never destroyed by the consumer: the handle (whose destroy
        // waits for it) is alive until the message object made here is released.
        return fetched.map { fetched in self.state.withLock { _ in self.handOut(fetched) } }
    }

    /// The next messages already fetched, at most `maxCount`; waits for at least one. Empty once
    /// the consumer is closed.
    func nextBatch(maxCount: Int) async throws -> [KafkaConsumerMessage] {
        guard let first = try await self.next() else { return [] }
        return [first] + self.state.withLock { $0.takeBuffered(upTo: maxCount - 1).map(self.handOut) }
    }

    /// Stores `offset + 1` for the message's partition, to be committed by the client.
    /// Offsets of partitions no longer assigned are skipped: their new owner reads them again.
    func storeOffset(topic: String, partition: Int32, offset: Int64) throws(KafkaError) {
        guard self.state.withLock({ self.storeOffsetLocked($0, (topic, partition, offset)) }) else {
            throw KafkaError.closed("the consumer (the offset of \(topic)[\(partition)]@\(offset) was not stored)")
        }
    }

    /// Takes a message's offset to store, with ``state``'s lock held; `false` once closing started
    /// (the closing commit has begun or is done).
    private func storeOffsetLocked(_ state: borrowing StateMachine, _ done: Done) -> Bool {
        guard state.acceptsHandleUse else { return false }
        // Messages mostly come in runs of one partition: the entry written last is checked first
        // (its topic is the same string as the message's, so comparing is a pointer comparison).
        let samePartition: (Done) -> Bool = { $0.partition == done.partition && $0.topic == done.topic }
        let last = self.lastPendingOffset
        if last < self.pendingOffsets.count, samePartition(self.pendingOffsets[last]) {
            self.pendingOffsets[last].offset = done.offset
        } else if let index = self.pendingOffsets.firstIndex(where: samePartition) {
            self.pendingOffsets[index].offset = done.offset
            self.lastPendingOffset = index
        } else {
            self.pendingOffsets.append(done)
            self.lastPendingOffset = self.pendingOffsets.count - 1
        }
        return true
    }

    /// Gives the pending offsets to librdkafka (``pendingOffsets``), which commits them: the poll
    /// thread calls it before each poll and before closing, and every commit of ours first.
    private func flushPendingOffsets() {
        let notStored = self.state.withLock { _ -> [Done] in
            guard !self.pendingOffsets.isEmpty else { return [] }
            var notStored: [Done] = []
            for done in self.pendingOffsets where self.storeNow(done) != RD_KAFKA_RESP_ERR_NO_ERROR {
                notStored.append(done)
            }
            self.pendingOffsets.removeAll(keepingCapacity: true)
            return notStored
        }
        for done in notStored {
            self.logger.debug(
                "Offset not stored: the partition is no longer assigned to this consumer",
                metadata: ["kafka.partition": "\(done.topic)[\(done.partition)]", "kafka.offset": "\(done.offset)"]
            )
        }
    }

    /// Stores an offset in librdkafka, with ``state``'s lock held (the handle is not destroyed
    /// meanwhile: the poll thread destroys it after its last flush).
    private func storeNow(_ done: Done) -> rd_kafka_resp_err_t {
        // Through the topic's handle, kept for the consumer's life: no list to allocate and free
        // (rd_kafka_offsets_store cost four allocations per call); the last one used is checked
        // first (a string comparison instead of hashing the name).
        let topicHandle: OpaquePointer
        if let last = self.lastTopicHandle, last.topic == done.topic {
            topicHandle = last.handle
        } else if let known = self.topicHandles[done.topic] {
            topicHandle = known
        } else {
            guard let made = rd_kafka_topic_new(self.client.handle, done.topic, nil) else { return rd_kafka_last_error() }
            self.topicHandles[done.topic] = made
            topicHandle = made
        }
        self.lastTopicHandle = (done.topic, topicHandle)
        return rd_kafka_offset_store(topicHandle, done.partition, done.offset)  // stores offset + 1
    }

    /// Commits the stored offsets now, waiting for the broker's answer on a thread of the
    /// ``BlockingCallExecutor``.
    func commit() async throws {
        guard self.state.withLock({ $0.beginHandleUse() }) else { throw KafkaError.closed("the consumer") }
        let error = await BlockingCallExecutor.shared.run {
            let error = self.commitStored(reason: .manual)
            self.state.withLock { $0.endHandleUse() }
            return error
        }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError.rdKafka(error, context: "committing offsets")
        }
    }

    /// Commits the stored offsets and waits for the answer (blocking), reporting the commit.
    private func commitStored(reason: KafkaCommitReport.Reason) -> rd_kafka_resp_err_t {
        self.flushPendingOffsets()
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
        self.start()  // never started: the poll thread still closes the handle
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            if case .resumeNow = self.state.withLock({ $0.close(continuation, now: .now) }) { continuation.resume() }
        }
    }

    /// Stops handing out messages; the consumer closes once the application is done with the
    /// message in hand (see ``RDKafkaConsumerStateMachine/Phase/closeRequested(at:)``).
    func requestClose() {
        self.state.withLock { $0.requestClose(now: .now) }?.resume(returning: nil)
        self.start()
    }

    /// Closes without waiting for the application (when it is gone: the consumer's deinit).
    func closeWithoutWaiting() {
        self.state.withLock { $0.closeWithoutWaiting(now: .now) }
        self.start()
    }

    /// From now on, only `close()` (or the grace period) tells that the application is done
    /// with its messages, not the end of the sequence.
    func setApplicationHandsOn() {
        self.state.withLock { $0.setApplicationHandsOn() }
    }

    // MARK: Poll thread

    private func pollLoop() {
        let handle = self.client.handle
        var errorLog = RateLimitedLog(interval: .seconds(5))
        var batch: [RDKafkaFetchedMessage] = []
        polling: while true {
            switch self.state.withLock({ $0.nextPollAction(now: .now) }) {
            case .poll:
                break
            case .close:
                break polling
            case .waitForApplication(let remaining):
                // Wait for the application to finish the message in hand (and store its offset),
                // at most until the grace period ends.
                _ = self.state.wait(timeout: remaining) { $0.isApplicationDoneOrNotWaiting }
                continue
            case .waitForRoom:
                // The application is behind; fetched messages wait in librdkafka meanwhile. Woken
                // when it takes one (or closing starts); the timeout only bounds a missed case.
                _ = self.state.wait(timeout: .milliseconds(100)) { $0.hasRoomOrStopped }
                continue
            }
            // The messages the application is done with go first: their memory is reused by this
            // poll (and freed on the thread that polls, not the application's).
            self.handleKeeper?.destroyReleased()
            self.flushPendingOffsets()
            var message = rd_kafka_consumer_poll(handle, 100)
            self.client.refreshClusterID()
            while let current = message {
                if current.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    batch.append(RDKafkaFetchedMessage(pointer: current))  // wrapped by the task that takes it
                } else {
                    self.serveError(current, errorLog: &errorLog)
                    rd_kafka_message_destroy(current)
                }
                message = batch.count < 512 ? rd_kafka_consumer_poll(handle, 0) : nil
            }
            if !batch.isEmpty {
                let waiter = self.state.withLock { $0.fetched(batch) }
                batch.removeAll(keepingCapacity: true)
                waiter.map { $0.0.resume(returning: $0.1) }
            }
        }
        // Fetched messages never handed out go before the handle closes (close waits for them).
        for fetched in self.state.withLock({ $0.closingStarted() }) { fetched.destroy() }
        // Calls on the handle in progress (a commit) finish first; each one's end wakes us.
        _ = self.state.wait { !$0.hasHandleUsers }
        // No offset is taken any more (closing started): the last ones go before the commit.
        self.flushPendingOffsets()
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
        // No offset is stored any more (closing): the topic handles can go before the client.
        self.state.withLock { _ in
            for handle in self.topicHandles.values { rd_kafka_topic_destroy(handle) }
            self.topicHandles = [:]
            self.lastTopicHandle = nil
        }
        // The handle goes now, unless the application still holds messages of it: then with the
        // last of them (librdkafka's destroy would wait for them).
        if var keeper = self.state.withLock({ _ in self.handleKeeper.take() }) {
            if isKnownUniquelyReferenced(&keeper) {
                // No message object is left: every one released is in the keeper.
                keeper.destroyReleased()
                self.client.destroy()
            } else {
                self.logger.debug("The application still holds consumed messages: the handle goes with the last of them")
            }
        }
        self.logger.debug("Kafka consumer closed")
        let closed = self.state.withLock { $0.closed() }
        if let failure = closed.failure { closed.waiter?.resume(throwing: failure) } else { closed.waiter?.resume(returning: nil) }
        for closeWaiter in closed.closeWaiters { closeWaiter.resume() }
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
            self.state.withLock { $0.failed(error, now: .now) }?.resume(throwing: error)
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
            let assignment = self.state.withLock { $0.assigned(partitions, replacing: !cooperative) }
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
            // Buffered messages of revoked partitions go to their new owner instead. Offsets still
            // pending for them (only when the partitions were lost: a revocation's commit took
            // the others) are not ours to store any more: stored after a later assignment of the
            // same partition, they could move its committed offset back.
            let purged = self.state.withLock { state in
                self.pendingOffsets.removeAll { revoked.contains(KafkaTopicPartition(topic: $0.topic, partition: $0.partition)) }
                return state.revoked(revoked) { $0.topicPartition }
            }
            for fetched in purged { fetched.destroy() }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, event.partitions) {
                    self.logger.error("Incremental unassign failed", metadata: ["kafka.error": "\(KafkaError.consuming(error))"])
                }
            } else {
                rd_kafka_assign(handle, nil)
            }
            self.logger.info(
                lost ? "Partitions lost" : "Partitions revoked",
                metadata: ["kafka.partitions": "\(partitions.sorted())", "kafka.discardedBufferedMessages": "\(purged.count)"]
            )
        case .error(let error):
            self.logger.error("Rebalance failed", metadata: ["kafka.error": "\(error)"])
            rd_kafka_assign(handle, nil)
            self.state.withLock { $0.assignmentCleared() }
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
