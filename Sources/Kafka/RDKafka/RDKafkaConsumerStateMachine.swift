import DequeModule

/// The state of an ``RDKafkaConsumerCore``, shared by its poll thread and the application: pure
/// transitions, each returning what the core must do once its lock is released (resume a waiter,
/// poll, wait, close).
///
/// Generic over the message and waiter types, so that tests drive every transition with plain
/// values; the core uses ``KafkaConsumerMessage`` and continuations. The time is passed in.
struct RDKafkaConsumerStateMachine<Message, Waiter, CloseWaiter> {
    enum Phase: Equatable {
        /// Fetching.
        case running
        /// Closing was asked for (at this instant): no message is handed out any more; the poll
        /// thread waits until the application is done with the one in hand (it calls `close()`,
        /// or asks for the next message and gets the end), so that its offset is stored and
        /// committed, then closes — or until the grace period ends.
        case closeRequested(at: MonotonicInstant)
        /// The poll thread is committing, leaving the group and destroying the handle.
        case closing
        /// The handle is destroyed.
        case closed
    }

    let maxBuffered: Int
    let closeGracePeriod: Duration
    private(set) var phase = Phase.running
    private var buffer = Deque<Message>()
    /// The application's task waiting for a message (one at a time).
    private var waiter: Waiter?
    /// The fatal error that ended the consumer; the end of the sequence throws it.
    private(set) var failure: KafkaError?
    private(set) var assignment = Set<KafkaTopicPartition>()
    private var closeWaiters: [CloseWaiter] = []
    /// Calls on the handle in progress outside the lock (a commit); closing waits for them.
    private var handleUsers = 0
    /// The application has finished with its messages (it called `close()`, or was given the end
    /// of the sequence): the poll thread may close now.
    private var applicationDone = false
    /// The application hands messages on to other tasks (a concurrent traced handler): the end
    /// of the sequence does not mean it is done with them; only `close()` does.
    private var applicationHandsOn = false
    /// The poll thread is started by the first call that needs it (``startPollThread()``).
    private var pollThreadStarted = false

    init(maxBuffered: Int, closeGracePeriod: Duration) {
        self.maxBuffered = max(maxBuffered, 1)
        self.closeGracePeriod = closeGracePeriod
    }

    var bufferedCount: Int { self.buffer.count }

    /// Offsets may be stored and the handle used (closing has not started).
    var acceptsHandleUse: Bool {
        switch self.phase {
        case .running, .closeRequested: true
        case .closing, .closed: false
        }
    }

    /// Whether the poll thread (which joins the group, fetches and in the end closes) must be
    /// started now: `true` once, for the first wait for a message, close, or `run()`.
    mutating func startPollThread() -> Bool {
        guard !self.pollThreadStarted else { return false }
        self.pollThreadStarted = true
        return true
    }

    // MARK: Application side

    enum NextAction {
        case message(Message)
        /// The end of the sequence: `nil`, or the fatal error.
        case end(KafkaError?)
        /// Nothing buffered: wait (``waitForMessage(_:isCancelled:)``).
        case wait
    }

    /// The next buffered message, or the end once the consumer stopped running, without waiting.
    mutating func next() -> NextAction {
        guard case .running = self.phase else {
            // Buffered messages are not handed out once closing began: their offsets could no
            // longer be committed, so the group reads them again instead.
            if !self.applicationHandsOn { self.applicationDone = true }
            return .end(self.failure)
        }
        if let message = self.buffer.popFirst() { return .message(message) }
        return .wait
    }

    enum WaitAction {
        /// Resume the task at once with this.
        case resume(Result<Message?, any Error>)
        /// Kept until a message arrives, the consumer ends, or the task is cancelled.
        case wait
    }

    mutating func waitForMessage(_ waiter: Waiter, isCancelled: Bool) -> WaitAction {
        switch self.next() {
        case .message(let message): return .resume(.success(message))
        case .end(let failure): return .resume(failure.map { .failure($0) } ?? .success(nil))
        case .wait: break
        }
        if self.waiter != nil {
            return .resume(
                .failure(
                    KafkaError(
                        code: .state,
                        message: "KafkaConsumer.messages is already being iterated by another task",
                        isRetriable: false
                    )
                )
            )
        }
        if isCancelled { return .resume(.failure(CancellationError())) }
        self.waiter = waiter
        return .wait
    }

    /// The waiting task was cancelled: the waiter to resume with `CancellationError`.
    mutating func cancelWaiter() -> Waiter? {
        defer { self.waiter = nil }
        return self.waiter
    }

    /// More buffered messages for a batch that has its first, up to `count`.
    mutating func takeBuffered(upTo count: Int) -> [Message] {
        guard case .running = self.phase else { return [] }
        var taken: [Message] = []
        while taken.count < count, let message = self.buffer.popFirst() { taken.append(message) }
        return taken
    }

    /// A call on the handle (a commit) starts; `false` once closing started (the handle is going).
    mutating func beginHandleUse() -> Bool {
        guard self.acceptsHandleUse else { return false }
        self.handleUsers += 1
        return true
    }

    /// A call on the handle ended; wakes the poll thread if it waits to close.
    mutating func endHandleUse() {
        precondition(self.handleUsers > 0, "endHandleUse without beginHandleUse")
        self.handleUsers -= 1
    }

    var hasHandleUsers: Bool { self.handleUsers > 0 }

    enum CloseAction {
        case resumeNow
        /// Kept until the consumer is closed.
        case wait
    }

    /// The application closes: it is done with its messages; it waits for the consumer to close.
    mutating func close(_ closeWaiter: CloseWaiter, now: ContinuousClock.Instant) -> CloseAction {
        if case .closed = self.phase { return .resumeNow }
        self.requestCloseOnly(now: now)
        self.applicationDone = true
        self.closeWaiters.append(closeWaiter)
        return .wait
    }

    /// Closing is asked for (graceful shutdown): no more messages are handed out.
    /// - Returns: the waiting task to resume with the end now (one that hands messages on closes
    ///   later, with `close()`; others get the end from the poll thread as it closes).
    mutating func requestClose(now: ContinuousClock.Instant) -> Waiter? {
        self.requestCloseOnly(now: now)
        return self.takeWaiterHandingOn()
    }

    /// Closes without waiting for the application (it is gone: the consumer's deinit).
    mutating func closeWithoutWaiting(now: ContinuousClock.Instant) {
        self.requestCloseOnly(now: now)
        self.applicationDone = true
    }

    /// From now on, only `close()` (or the grace period) tells that the application is done with
    /// its messages, not the end of the sequence.
    mutating func setApplicationHandsOn() {
        self.applicationHandsOn = true
    }

    // MARK: Poll thread

    enum PollAction: Equatable {
        /// Poll librdkafka for messages (and serve its callbacks).
        case poll
        /// The buffer is full: wait until the application takes a message (``hasRoomOrStopped``).
        case waitForRoom
        /// Closing was asked for: wait (at most this long) for the application to be done
        /// (``isApplicationDoneOrNotWaiting``).
        case waitForApplication(Duration)
        /// Commit, leave the group and destroy the handle: call ``closingStarted()``.
        case close
    }

    func nextPollAction(now: ContinuousClock.Instant) -> PollAction {
        switch self.phase {
        case .running:
            return self.buffer.count >= self.maxBuffered ? .waitForRoom : .poll
        case .closeRequested(let at):
            let remaining = self.closeGracePeriod - (MonotonicInstant(now) - at)
            return self.applicationDone || remaining <= .zero ? .close : .waitForApplication(remaining)
        case .closing, .closed:
            return .close
        }
    }

    /// What ends a ``PollAction/waitForRoom``: the buffer drained to half (not one message below
    /// full, which would wake the poll thread for every message the application takes), or the
    /// consumer stopped running.
    var hasRoomOrStopped: Bool {
        // (Checked after each change while the poll thread waits: kept to a comparison.)
        guard case .running = self.phase else { return true }
        return self.buffer.count <= self.maxBuffered / 2
    }

    /// What ends a ``PollAction/waitForApplication(_:)``.
    var isApplicationDoneOrNotWaiting: Bool {
        guard case .closeRequested = self.phase else { return true }
        return self.applicationDone
    }

    /// Messages fetched by the poll thread.
    /// - Returns: the waiting task and the message to resume it with.
    mutating func fetched(_ messages: some Sequence<Message>) -> (Waiter, Message)? {
        self.buffer.append(contentsOf: messages)
        guard case .running = self.phase, let waiter = self.waiter, let first = self.buffer.popFirst() else { return nil }
        self.waiter = nil
        return (waiter, first)
    }

    /// librdkafka reported a fatal error: the consumer closes, and the sequence ends with it.
    /// - Returns: the waiting task to resume with the error now (see ``requestClose(now:)``).
    mutating func failed(_ error: KafkaError, now: ContinuousClock.Instant) -> Waiter? {
        if self.failure == nil { self.failure = error }
        return self.requestClose(now: now)
    }

    /// Partitions assigned by a rebalance; an eager (non-cooperative) assignment replaces the
    /// previous one. Returns the whole assignment.
    mutating func assigned(_ partitions: some Sequence<KafkaTopicPartition>, replacing: Bool) -> Set<KafkaTopicPartition> {
        if replacing { self.assignment = [] }
        self.assignment.formUnion(partitions)
        return self.assignment
    }

    /// Partitions revoked (or lost) by a rebalance: their buffered messages are dropped (their
    /// new owner reads them again, since their offsets were not stored).
    /// - Returns: the buffered messages dropped (for the core to release).
    mutating func revoked(
        _ partitions: Set<KafkaTopicPartition>,
        partitionOf: (Message) -> KafkaTopicPartition
    ) -> [Message] {
        self.assignment.subtract(partitions)
        var dropped: [Message] = []
        var kept = Deque<Message>()
        while let message = self.buffer.popFirst() {
            if partitions.contains(partitionOf(message)) { dropped.append(message) } else { kept.append(message) }
        }
        self.buffer = kept
        return dropped
    }

    /// A rebalance failed: nothing is assigned any more.
    mutating func assignmentCleared() {
        self.assignment = []
    }

    /// The poll thread leaves its loop to close: no more handle users may start; it waits for
    /// those in progress (``hasHandleUsers``).
    /// - Returns: the messages still buffered, never to be handed out (for the core to release
    ///   before the handle closes).
    mutating func closingStarted() -> Deque<Message> {
        self.phase = .closing
        defer { self.buffer = [] }
        return self.buffer
    }

    struct Closed {
        /// The waiting task, to resume with the end (or ``failure``).
        var waiter: Waiter?
        var closeWaiters: [CloseWaiter]
        var failure: KafkaError?
    }

    /// The handle is destroyed (nothing is buffered since ``closingStarted()``).
    mutating func closed() -> Closed {
        self.phase = .closed
        self.assignment.removeAll()
        defer {
            self.waiter = nil
            self.closeWaiters = []
        }
        return Closed(waiter: self.waiter, closeWaiters: self.closeWaiters, failure: self.failure)
    }

    private mutating func requestCloseOnly(now: ContinuousClock.Instant) {
        guard case .running = self.phase else { return }
        self.phase = .closeRequested(at: MonotonicInstant(now))
        // A task waiting for a message gets the end now: it holds no message (unless it handed
        // earlier ones on to other tasks).
        self.applicationDone = self.applicationDone || (self.waiter != nil && !self.applicationHandsOn)
    }

    private mutating func takeWaiterHandingOn() -> Waiter? {
        guard self.applicationHandsOn else { return nil }
        defer { self.waiter = nil }
        return self.waiter
    }
}

/// A `ContinuousClock` instant held as the time since a fixed origin of the process.
///
/// `ContinuousClock.Instant` is not frozen (its layout is the standard library's to change): a
/// state that held one, even in a case of its phase, was copied and switched over through runtime
/// metadata at each access — a copy of the consumer's phase per message handed out. `Duration` is
/// frozen.
struct MonotonicInstant: Hashable, Sendable {
    private static let origin = ContinuousClock.now
    let sinceOrigin: Duration

    init(_ instant: ContinuousClock.Instant) {
        self.sinceOrigin = instant - Self.origin
    }

    static func - (lhs: Self, rhs: Self) -> Duration { lhs.sinceOrigin - rhs.sinceOrigin }
}
