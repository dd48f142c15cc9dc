import Foundation
import Locking
import Testing

@testable import Kafka

@Suite("BlockingCallExecutor")
struct BlockingCallExecutorTests {
    @Test("blocking calls from many tasks all complete, on at most the executor's threads, none on the caller's")
    func boundedThreads() async {
        let executor = BlockingCallExecutor()
        let threads = Locked(Set<String>())
        let callers = Locked(Set<String>())
        let results = await withTaskGroup(of: Int.self) { group in
            for index in 0..<24 {
                group.addTask {
                    callers.withLock { _ = $0.insert("\(pthread_self())") }
                    return await executor.run {
                        threads.withLock { _ = $0.insert("\(pthread_self())") }
                        usleep(20_000)  // a blocking C call
                        return index
                    }
                }
            }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(results.sorted() == Array(0..<24))
        let used = threads.withLock { $0 }
        #expect(used.count >= 1 && used.count <= executor.threadLimit, "\(used.count) threads")
        #expect(used.isDisjoint(with: callers.withLock { $0 }), "ran on a cooperative-pool thread")
    }
}
