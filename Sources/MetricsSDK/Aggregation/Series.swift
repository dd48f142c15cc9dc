import CoreMetrics
import Synchronization

/// One attribute set of one instrument: the cell swift-metrics' handle writes into. A handle holds
/// its series directly, so recording is one lock (or one atomic add) on that series alone.
final class Series: Sendable {
    struct State {
        /// Sums and gauges.
        var value: Double = 0
        var hasValue = false
        /// Histograms.
        var count: UInt64 = 0
        var sum: Double = 0
        var min = Double.infinity
        var max = -Double.infinity
        var buckets: [UInt64]
        /// When the values above started accumulating (the provider's start, or the previous
        /// delta collection).
        var start: UInt64
    }

    let attributes: [(String, String)]
    let kind: MetricData.Kind
    private let bounds: [Double]
    /// Counters only, lock-free.
    private let counted = Atomic<Int64>(0)
    private let state: Mutex<State>

    /// Whether a series nothing was recorded in is reported (every series a handle was made for;
    /// not the overflow series).
    private let reportsWhenEmpty: Bool

    init(attributes: [(String, String)], kind: MetricData.Kind, start: UInt64, reportsWhenEmpty: Bool = true) {
        self.attributes = attributes
        self.reportsWhenEmpty = reportsWhenEmpty
        self.kind = kind
        if case .histogram(let bounds) = kind { self.bounds = bounds } else { self.bounds = [] }
        self.state = Mutex(State(buckets: Array(repeating: 0, count: kind.bucketCount), start: start))
    }

    func add(_ amount: Int64) { self.counted.add(amount, ordering: .relaxed) }

    func add(_ amount: Double) {
        self.state.withLock {
            $0.value += amount
            $0.hasValue = true
        }
    }

    func set(_ value: Double) {
        self.state.withLock {
            $0.value = value
            $0.hasValue = true
        }
    }

    func record(_ value: Double) {
        guard value.isFinite else { return }
        // (Bucket found before the lock: a binary search over at most a few dozen bounds.)
        var low = 0
        var high = self.bounds.count
        while low < high {
            let middle = (low + high) / 2
            if value <= self.bounds[middle] { high = middle } else { low = middle + 1 }
        }
        let bucket = low
        self.state.withLock {
            $0.count += 1
            $0.sum += value
            $0.min = Swift.min($0.min, value)
            $0.max = Swift.max($0.max, value)
            $0.buckets[bucket] += 1
        }
    }

    func reset() {
        self.counted.store(0, ordering: .relaxed)
        self.state.withLock { state in
            let start = state.start
            state = State(buckets: Array(repeating: 0, count: self.kind.bucketCount), start: start)
        }
    }

    /// The series' point now; for a delta collection, what accumulated since the previous one
    /// (and the series starts over). `nil` when there is nothing to report.
    func collect(now: UInt64, temporality: MetricData.Temporality) -> MetricData.Point? {
        let resets = temporality == .delta && self.kind != .gauge
        let counted = resets ? self.counted.exchange(0, ordering: .relaxed) : self.counted.load(ordering: .relaxed)
        let state = self.state.withLock { state -> State in
            let taken = state
            if resets {
                state = State(buckets: Array(repeating: 0, count: self.kind.bucketCount), start: now)
            }
            return taken
        }
        var point = MetricData.Point(
            attributes: self.attributes,
            startNanoseconds: state.start,
            timeNanoseconds: now,
            value: state.value + Double(counted),
            isInteger: false,
            count: state.count,
            sum: state.sum,
            min: state.count > 0 ? state.min : nil,
            max: state.count > 0 ? state.max : nil,
            bucketCounts: state.buckets
        )
        switch self.kind {
        case .sum:
            point.isInteger = !state.hasValue
            if (resets || !self.reportsWhenEmpty) && counted == 0 && !state.hasValue { return nil }
        case .gauge:
            guard state.hasValue else { return nil }
        case .histogram:
            if (resets || !self.reportsWhenEmpty) && state.count == 0 { return nil }
        }
        return point
    }
}

extension MetricData.Kind {
    var bucketCount: Int {
        if case .histogram(let bounds) = self { return bounds.count + 1 }
        return 0
    }
}

// swift-metrics' handles over a series.

final class SeriesCounter: CounterHandler, FloatingPointCounterHandler, Sendable {
    let series: Series
    init(_ series: Series) { self.series = series }
    func increment(by amount: Int64) { if amount > 0 { self.series.add(amount) } }
    func increment(by amount: Double) { if amount > 0 && amount.isFinite { self.series.add(amount) } }
    func reset() { self.series.reset() }
}

final class SeriesMeter: MeterHandler, Sendable {
    let series: Series
    init(_ series: Series) { self.series = series }
    func set(_ value: Int64) { self.series.set(Double(value)) }
    func set(_ value: Double) { if value.isFinite { self.series.set(value) } }
    func increment(by amount: Double) { if amount.isFinite { self.series.add(amount) } }
    func decrement(by amount: Double) { if amount.isFinite { self.series.add(-amount) } }
}

final class SeriesRecorder: RecorderHandler, Sendable {
    let series: Series
    init(_ series: Series) { self.series = series }
    func record(_ value: Int64) { self.record(Double(value)) }
    func record(_ value: Double) {
        if case .histogram = self.series.kind { self.series.record(value) } else if value.isFinite { self.series.set(value) }
    }
}

/// Timers are histograms in seconds, as the OpenTelemetry conventions measure durations.
final class SeriesTimer: TimerHandler, Sendable {
    let series: Series
    init(_ series: Series) { self.series = series }
    func recordNanoseconds(_ duration: Int64) { self.series.record(Double(duration) / 1_000_000_000) }
}
