import Kafka
import Locking

/// A bounded first-in first-out queue of messages from the task that reads the consumer to one
/// handler task: one sender, one receiver.
///
/// The sender waits while the lane is full (so memory stays bounded); ``finish()`` drops what is
/// queued — those offsets were not stored, so the group reads the messages again — and ends both
/// sides. Cancellation of either side's task ends its wait.
final class PartitionLane: Sendable {
    private struct State {
        var messages: [KafkaConsumerMessage] = []
        /// Index of the first queued message in `messages` (popped ones are compacted away).
        var head = 0
        var receiver: UnsafeContinuation<KafkaConsumerMessage?, Never>?
        var sender: UnsafeContinuation<Bool, Never>?
        var finished = false

        var count: Int { self.messages.count - self.head }

        mutating func popFirst() -> KafkaConsumerMessage? {
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

    let capacity: Int
    private let state = Locked(State())

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    /// Queues `message`, waiting while the lane is full.
    /// - Returns: `false` when the lane was finished or the task cancelled (the message is not
    ///   queued).
    func send(_ message: KafkaConsumerMessage) async -> Bool {
        enum Outcome {
            case handedOver(UnsafeContinuation<KafkaConsumerMessage?, Never>)
            case queued
            case full
            case finished
        }
        while true {
            let outcome = self.state.withLock { state -> Outcome in
                if state.finished { return .finished }
                if let receiver = state.receiver {
                    state.receiver = nil
                    return .handedOver(receiver)
                }
                guard state.count < self.capacity else { return .full }
                state.messages.append(message)
                return .queued
            }
            switch outcome {
            case .handedOver(let receiver):
                receiver.resume(returning: message)
                return true
            case .queued:
                return true
            case .finished:
                return false
            case .full:
                guard await self.waitForRoom() else { return false }
            }
        }
    }

    /// Waits until the receiver took a message; `false` when finished or cancelled.
    private func waitForRoom() async -> Bool {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
                let now = self.state.withLock { state -> Bool? in
                    if state.finished || Task.isCancelled { return false }
                    if state.count < self.capacity { return true }
                    state.sender = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let sender = self.state.withLock { state in
                defer { state.sender = nil }
                return state.sender
            }
            sender?.resume(returning: false)
        }
    }

    /// The next message, waiting for one; `nil` once the lane is finished or the task cancelled.
    func receive() async -> KafkaConsumerMessage? {
        let (message, sender, finished) = self.state.withLock { state in
            let message = state.popFirst()
            defer { if message != nil { state.sender = nil } }
            return (message, message != nil ? state.sender : nil, state.finished)
        }
        sender?.resume(returning: true)
        if let message { return message }
        if finished { return nil }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<KafkaConsumerMessage?, Never>) in
                let (ready, sender) = self.state.withLock { state -> (KafkaConsumerMessage??, UnsafeContinuation<Bool, Never>?) in
                    if let message = state.popFirst() {
                        defer { state.sender = nil }
                        return (.some(message), state.sender)
                    }
                    if state.finished || Task.isCancelled { return (.some(nil), nil) }
                    state.receiver = continuation
                    return (nil, nil)
                }
                sender?.resume(returning: true)
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let receiver = self.state.withLock { state in
                defer { state.receiver = nil }
                return state.receiver
            }
            receiver?.resume(returning: nil)
        }
    }

    /// No more messages: queued ones are dropped, a waiting receiver gets `nil` and a waiting
    /// sender `false`.
    func finish() {
        let (receiver, sender) = self.state.withLock { state in
            state.finished = true
            state.messages.removeAll()
            state.head = 0
            defer {
                state.receiver = nil
                state.sender = nil
            }
            return (state.receiver, state.sender)
        }
        receiver?.resume(returning: nil)
        sender?.resume(returning: false)
    }
}
