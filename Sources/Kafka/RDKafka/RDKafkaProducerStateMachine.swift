/// The lifecycle of an ``RDKafkaProducerCore``: pure transitions, each returning what the core
/// must do once its lock is released.
///
/// The send path does not take the lock: it reads ``phase`` from an atomic copy that the core
/// publishes after every transition, and counts itself in flight first (see
/// ``RDKafkaProducerCore``), so the exit decision here — made under the lock with the in-flight
/// count read there — never destroys the handle under a sender. Generic over the waiter type, so
/// that tests drive every transition with plain values; the core uses continuations.
struct RDKafkaProducerStateMachine<Waiter> {
    enum Phase: Int {
        /// Created; the poll thread is not started yet (the first send, flush, close or `run()`
        /// starts it: ``start()``).
        case idle = 0
        /// Accepting messages.
        case running = 1
        /// Refusing new messages; delivering what is queued.
        case draining = 2
        /// The poll thread has ended and the handle is destroyed.
        case stopped = 3
    }

    private(set) var phase = Phase.idle
    /// The fatal error that stopped the producer; later sends throw it.
    private(set) var fatalError: KafkaError?
    /// Set once the poll thread has decided to destroy the handle: a purge must not touch it.
    private(set) var handleReleased = false
    /// Tasks waiting for the poll thread's next pass (room in the queue, a flush), by id.
    private var progressWaiters: [(id: Int, waiter: Waiter)] = []
    private var stopWaiters: [Waiter] = []

    /// What a refused send throws: the fatal error, or "closed".
    var refusal: KafkaError { self.fatalError ?? .closed("the producer") }

    /// Leaves ``Phase/idle``: `true` once, when the poll thread must be started now.
    mutating func start() -> Bool {
        guard self.phase == .idle else { return false }
        self.phase = .running
        return true
    }

    /// Refuse new messages from now on; `true` when this changed the phase (wake the poll thread
    /// if it stands back). The poll thread must have been started (``start()``): it is what
    /// delivers what is queued and destroys the handle.
    @discardableResult
    mutating func beginDraining() -> Bool {
        precondition(self.phase != .idle, "draining a producer whose poll thread never started")
        guard self.phase == .running else { return false }
        self.phase = .draining
        return true
    }

    /// librdkafka reported a fatal error: sends throw it from now on; the producer drains.
    mutating func failed(_ error: KafkaError) {
        if self.fatalError == nil { self.fatalError = error }
        self.beginDraining()
    }

    /// May undelivered messages be purged now? `false` once the handle is released. When `true`,
    /// the caller counts itself in flight before leaving the lock, so the handle outlives the purge.
    func mayPurge() -> Bool { !self.handleReleased }

    /// The poll thread asks whether it may end, with the number of messages (and handle users)
    /// in flight read under the lock: only once not running and with nothing in flight; it then
    /// releases the handle (no purge may start after this).
    mutating func pollThreadMayExit(inFlight: Int) -> Bool {
        guard self.phase != .running, self.phase != .idle, inFlight == 0, !self.handleReleased else {
            return self.handleReleased
        }
        self.handleReleased = true
        return true
    }

    enum WaitAction: Equatable {
        case resumeNow
        case wait
    }

    /// A task waits for the poll thread's next pass after `generation` (`current` is the pass
    /// count now). It resumes at once when a pass happened already, the producer stopped, or the
    /// task is cancelled.
    mutating func waitForProgress(_ waiter: Waiter, id: Int, since generation: Int, current: Int, isCancelled: Bool) -> WaitAction {
        if current != generation || self.phase == .stopped || isCancelled { return .resumeNow }
        self.progressWaiters.append((id, waiter))
        return .wait
    }

    /// A pass was made: every waiting task to resume.
    mutating func progressed() -> [Waiter] {
        guard !self.progressWaiters.isEmpty else { return [] }
        defer { self.progressWaiters = [] }
        return self.progressWaiters.map(\.waiter)
    }

    /// The task of waiter `id` was cancelled (while waiting for room in the queue, or in a
    /// flush): that waiter, if it still waits, to resume now.
    mutating func cancelProgressWait(id: Int) -> Waiter? {
        guard let index = self.progressWaiters.firstIndex(where: { $0.id == id }) else { return nil }
        return self.progressWaiters.remove(at: index).waiter
    }

    /// A closing task waits for the poll thread to end.
    mutating func waitForStop(_ waiter: Waiter) -> WaitAction {
        if self.phase == .stopped { return .resumeNow }
        self.stopWaiters.append(waiter)
        return .wait
    }

    /// The poll thread ended and destroyed the handle: every waiter to resume.
    mutating func stopped() -> [Waiter] {
        precondition(self.handleReleased, "stopped before the handle was released")
        self.phase = .stopped
        defer {
            self.stopWaiters = []
            self.progressWaiters = []
        }
        return self.stopWaiters + self.progressWaiters.map(\.waiter)
    }
}
