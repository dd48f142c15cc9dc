import CoreMetrics
import Synchronization

/// A swift-metrics backend that only adds up what it is given, each handle with one relaxed
/// atomic: measures what the instrumentation costs, not a backend's aggregation.
public final class CountingMetricsFactory: MetricsFactory {
    public init() {}

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { CountingHandler() }
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        CountingHandler()
    }
    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { CountingHandler() }
    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}
}

final class CountingHandler: CounterHandler, RecorderHandler, TimerHandler {
    private let total = Atomic<Int64>(0)

    func increment(by amount: Int64) { self.total.add(amount, ordering: .relaxed) }
    func reset() { self.total.store(0, ordering: .relaxed) }
    func record(_ value: Int64) { self.total.add(1, ordering: .relaxed) }
    func record(_ value: Double) { self.total.add(1, ordering: .relaxed) }
    func recordNanoseconds(_ duration: Int64) { self.total.add(1, ordering: .relaxed) }
}
