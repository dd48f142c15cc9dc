import Kafka
import Locking

/// A bounded first-in first-out queue of messages from the task that reads the consumer to one
/// handler task: one sender, one receiver.
///
/// The sender waits while the lane is full (so memory stays bounded); ``finish()`` drops what is
/// queued — those offsets were not stored, so the group reads the messages again — and ends both
/// sides. Cancellation of either side's task ends its wait. Every decision is a transition of
/// ``PartitionLaneStateMachine``; waiters are resumed after the lock is released.
final class PartitionLane: Sendable {
    private typealias StateMachine = PartitionLaneStateMachine<
        KafkaConsumerMessage, UnsafeContinuation<KafkaConsumerMessage?, Never>, UnsafeContinuation<Bool, Never>
    >

    private let state: Locked<StateMachine>

    init(capacity: Int) {
        self.state = Locked(StateMachine(capacity: capacity))
    }

    /// Queues `message`, waiting while the lane is full.
    /// - Returns: `false` when the lane was finished or the task cancelled (the message is not
    ///   queued).
    func send(_ message: KafkaConsumerMessage) async -> Bool {
        while true {
            switch self.state.withLock({ $0.send(message) }) {
            case .handOver(let receiver):
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
                let action = self.state.withLock { $0.waitForRoom(continuation, isCancelled: Task.isCancelled) }
                if case .resume(let room) = action { continuation.resume(returning: room) }
            }
        } onCancel: {
            self.state.withLock { $0.cancelSender() }?.resume(returning: false)
        }
    }

    /// The next message, waiting for one; `nil` once the lane is finished or the task cancelled.
    func receive() async -> KafkaConsumerMessage? {
        switch self.state.withLock({ $0.receive() }) {
        case .message(let message, let sender):
            sender?.resume(returning: true)
            return message
        case .end:
            return nil
        case .wait:
            break
        }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<KafkaConsumerMessage?, Never>) in
                let action = self.state.withLock { $0.waitForMessage(continuation, isCancelled: Task.isCancelled) }
                if case .resume(let message, let sender) = action {
                    sender?.resume(returning: true)
                    continuation.resume(returning: message)
                }
            }
        } onCancel: {
            self.state.withLock { $0.cancelReceiver() }?.resume(returning: nil)
        }
    }

    /// No more messages: queued ones are dropped, a waiting receiver gets `nil` and a waiting
    /// sender `false`.
    func finish() {
        let (receiver, sender) = self.state.withLock { $0.finish() }
        receiver?.resume(returning: nil)
        sender?.resume(returning: false)
    }
}
