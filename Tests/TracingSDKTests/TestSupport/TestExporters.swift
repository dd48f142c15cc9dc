import Locking
@testable import TracingSDK

/// An exporter that waits until released (a slow collector), counting what it got.
final class GatedExporter: SpanExporter {
    private let released = Locked(false)
    private let received = Locked<[Int]>([])

    func release() { self.released.withLock { $0 = true } }

    var batchSizes: [Int] { self.received.withLock { $0 } }

    func export(_ batch: [FinishedSpan]) async throws {
        while !self.released.withLock({ $0 }) {
            try await Task.sleep(for: .milliseconds(5))
        }
        self.received.withLock { $0.append(batch.count) }
    }

    func forceFlush() async throws {}
    func shutdown() async {}
}

/// An exporter that never answers (until cancelled).
struct HangingExporter: SpanExporter {
    func export(_ batch: [FinishedSpan]) async throws {
        try await Task.sleep(for: .seconds(3600))
    }
    func forceFlush() async throws {}
    func shutdown() async {}
}
