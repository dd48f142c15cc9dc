import DequeModule
import Foundation
import Locking

/// The threads that run librdkafka's blocking calls made for async callers — a consumer's
/// `commit()`, admin requests — so they never occupy Swift's cooperative pool, and no call starts
/// a thread of its own. Up to ``threadLimit`` threads, started as calls need them and kept for the
/// process's life; when all are busy (commits waiting on an unreachable broker), calls wait their
/// turn in order.
final class BlockingCallExecutor: Sendable {
    static let shared = BlockingCallExecutor()

    let threadLimit = 4

    private struct State {
        var jobs = Deque<@Sendable () -> Void>()
        var threads = 0
        var idle = 0
    }

    private let state = ConditionLocked(State())

    /// Runs `body` on one of the executor's threads and returns its result.
    func run<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
        await withCheckedContinuation { continuation in
            self.submit { continuation.resume(returning: body()) }
        }
    }

    /// Runs `job` on one of the executor's threads, without waiting for it.
    func submit(_ job: @escaping @Sendable () -> Void) {
        let startsThread = self.state.withLock { state -> Bool in
            state.jobs.append(job)
            guard state.idle < state.jobs.count, state.threads < self.threadLimit else { return false }
            state.threads += 1
            return true
        }
        if startsThread { startPollThread(name: "kafka-blocking-calls") { self.work() } }
    }

    private func work() {
        while true {
            let job = self.state.withLock { state -> (@Sendable () -> Void)? in
                if let job = state.jobs.popFirst() { return job }
                state.idle += 1
                return nil
            }
            if let job {
                job()
                continue
            }
            _ = self.state.wait { !$0.jobs.isEmpty }
            self.state.withLock { $0.idle -= 1 }
        }
    }
}
