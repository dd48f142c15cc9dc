/// The state of a ``PartitionLane``: pure transitions, each returning what the lane must do once
/// its lock is released (resume a waiting receiver or sender).
///
/// Generic over the waiters so that tests can drive every transition with plain values; the lane
/// uses continuations.
struct PartitionLaneStateMachine<Message, Receiver, Sender> {
    private enum State {
        /// Open; at most one waiting receiver (the lane is empty then) and one waiting sender
        /// (the lane is full then).
        case open(receiver: Receiver?, sender: Sender?)
        case finished
    }

    let capacity: Int
    private var state = State.open(receiver: nil, sender: nil)
    private var messages: [Message] = []
    /// Index of the first queued message in `messages` (taken ones are compacted away).
    private var head = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    /// Messages queued.
    var count: Int { self.messages.count - self.head }

    var isFinished: Bool {
        if case .finished = self.state { return true }
        return false
    }

    // MARK: Sender

    enum SendAction {
        /// Give the message to this waiting receiver (the lane was empty).
        case handOver(Receiver)
        case queued
        /// The lane is full: wait for room (``waitForRoom(_:isCancelled:)``), then try again.
        case full
        /// The lane is finished: the message is not taken.
        case finished
    }

    mutating func send(_ message: Message) -> SendAction {
        guard case .open(let receiver, let sender) = self.state else { return .finished }
        if let receiver {
            self.state = .open(receiver: nil, sender: sender)
            return .handOver(receiver)
        }
        guard self.count < self.capacity else { return .full }
        self.messages.append(message)
        return .queued
    }

    enum WaitAction {
        /// Resume the waiter at once with this: `true` there is room, `false` finished or cancelled.
        case resume(Bool)
        /// The waiter is kept; a receive (room), a finish or a cancellation resumes it.
        case wait
    }

    /// A full lane's sender waits for room.
    mutating func waitForRoom(_ sender: Sender, isCancelled: Bool) -> WaitAction {
        guard case .open(let receiver, _) = self.state, !isCancelled else { return .resume(false) }
        if self.count < self.capacity { return .resume(true) }
        self.state = .open(receiver: receiver, sender: sender)
        return .wait
    }

    /// The sender's task was cancelled: the waiting sender, if any, to resume with `false`.
    mutating func cancelSender() -> Sender? {
        guard case .open(let receiver, let sender) = self.state else { return nil }
        self.state = .open(receiver: receiver, sender: nil)
        return sender
    }

    // MARK: Receiver

    enum ReceiveAction {
        /// Return this message, and resume the waiting sender (if any) with `true`: there is room.
        case message(Message, resumeSender: Sender?)
        /// Return the end (finished, or the task was cancelled).
        case end
        /// Nothing queued: wait (``waitForMessage(_:isCancelled:)``).
        case wait
    }

    /// Takes the first queued message, without waiting.
    mutating func receive() -> ReceiveAction {
        if let message = self.popFirst() {
            guard case .open(let receiver, let sender) = self.state else { return .message(message, resumeSender: nil) }
            self.state = .open(receiver: receiver, sender: nil)
            return .message(message, resumeSender: sender)
        }
        return self.isFinished ? .end : .wait
    }

    enum WaitForMessageAction {
        /// Resume the receiver at once with this message (or `nil`, the end), and the waiting
        /// sender (if any) with `true`.
        case resume(Message?, resumeSender: Sender?)
        /// The receiver is kept; a send, a finish or a cancellation resumes it.
        case wait
    }

    /// An empty lane's receiver waits for a message.
    mutating func waitForMessage(_ receiver: Receiver, isCancelled: Bool) -> WaitForMessageAction {
        switch self.receive() {
        case .message(let message, let sender): return .resume(message, resumeSender: sender)
        case .end: return .resume(nil, resumeSender: nil)
        case .wait:
            guard case .open(_, let sender) = self.state, !isCancelled else { return .resume(nil, resumeSender: nil) }
            self.state = .open(receiver: receiver, sender: sender)
            return .wait
        }
    }

    /// The receiver's task was cancelled: the waiting receiver, if any, to resume with `nil`.
    mutating func cancelReceiver() -> Receiver? {
        guard case .open(let receiver, let sender) = self.state else { return nil }
        self.state = .open(receiver: nil, sender: sender)
        return receiver
    }

    // MARK: Finish

    /// No more messages: what is queued is dropped. Returns the waiters to resume: the receiver
    /// with `nil`, the sender with `false`.
    mutating func finish() -> (receiver: Receiver?, sender: Sender?) {
        self.messages.removeAll()
        self.head = 0
        guard case .open(let receiver, let sender) = self.state else { return (nil, nil) }
        self.state = .finished
        return (receiver, sender)
    }

    private mutating func popFirst() -> Message? {
        guard self.head < self.messages.count else { return nil }
        let message = self.messages[self.head]
        self.head += 1
        if self.head == self.messages.count {
            self.messages.removeAll(keepingCapacity: true)
            self.head = 0
        } else if self.head >= 64 && self.head * 2 >= self.messages.count {
            self.messages.removeFirst(self.head)
            self.head = 0
        }
        return message
    }
}
