import CoreMetrics
import Synchronization

/// One attribute set of one instrument: the cell swift-metrics' handle writes into. A handle holds
/// its series directly, and recording never takes a lock: threads recording at once into one
/// series (a topic's queue time from several partition lanes) contend only on its cache lines.
///
/// Every cell is an atomic with relaxed ordering: each is a value on its own, and a collection is
/// ordered after the records it reports by the reader's own synchronisation, not by these. A
/// delta collection takes each cell with an exchange, so a record racing it may show its bucket
/// in one collection and its sum in the next; nothing is lost or counted twice.
final class Series: @unchecked Sendable {  // (cells: atomics, allocated in init, freed in deinit)
    let attributes: [(String, String)]
    let kind: MetricData.Kind
    private let bounds: [Double]
    /// Integer counters.
    private let counted = Atomic<Int64>(0)
    /// Floating-point sums and gauges: the value's bits, and whether one was recorded.
    private let value = Atomic<UInt64>(0)
    private let hasValue = Atomic<Bool>(false)
    /// Histograms: the sum's bits, the extremes' bits, and one count per bucket (the point's
    /// count is their total, so count and buckets always agree).
    private let sum = Atomic<UInt64>(0)
    private let minimum = Atomic<UInt64>(Double.infinity.bitPattern)
    private let maximum = Atomic<UInt64>((-Double.infinity).bitPattern)
    private let buckets: UnsafeMutablePointer<Atomic<UInt64>>
    private let bucketCount: Int
    /// When the values started accumulating (the provider's start, or the previous delta
    /// collection). Written only by collections, which the reader runs one at a time.
    private let start: Atomic<UInt64>

    /// Whether a series nothing was recorded in is reported (every series a handle was made for;
    /// not the overflow series).
    private let reportsWhenEmpty: Bool

    init(attributes: [(String, String)], kind: MetricData.Kind, start: UInt64, reportsWhenEmpty: Bool = true) {
        self.attributes = attributes
        self.reportsWhenEmpty = reportsWhenEmpty
        self.kind = kind
        if case .histogram(let bounds) = kind { self.bounds = bounds } else { self.bounds = [] }
        self.bucketCount = kind.bucketCount
        self.buckets = .allocate(capacity: max(self.bucketCount, 1))
        for index in 0..<max(self.bucketCount, 1) { (self.buckets + index).initialize(to: Atomic(0)) }
        self.start = Atomic(start)
    }

    deinit {
        self.buckets.deinitialize(count: max(self.bucketCount, 1))
        self.buckets.deallocate()
    }

    func add(_ amount: Int64) { self.counted.add(amount, ordering: .relaxed) }

    func add(_ amount: Double) {
        Self.update(self.value) { $0 + amount }
        self.hasValue.store(true, ordering: .relaxed)
    }

    func set(_ value: Double) {
        self.value.store(value.bitPattern, ordering: .relaxed)
        self.hasValue.store(true, ordering: .relaxed)
    }

    func record(_ value: Double) {
        guard value.isFinite else { return }
        // A binary search over at most a few dozen bounds.
        var low = 0
        var high = self.bounds.count
        while low < high {
            let middle = (low + high) / 2
            if value <= self.bounds[middle] { high = middle } else { low = middle + 1 }
        }
        self.buckets[low].add(1, ordering: .relaxed)
        Self.update(self.sum) { $0 + value }
        // The extremes rarely move once a series is warm: one load each, then nothing.
        if value < Double(bitPattern: self.minimum.load(ordering: .relaxed)) {
            Self.update(self.minimum) { Swift.min($0, value) }
        }
        if value > Double(bitPattern: self.maximum.load(ordering: .relaxed)) {
            Self.update(self.maximum) { Swift.max($0, value) }
        }
    }

    /// A compare-and-exchange loop over a `Double`'s bits.
    private static func update(_ cell: borrowing Atomic<UInt64>, _ change: (Double) -> Double) {
        var current = cell.load(ordering: .relaxed)
        while true {
            let next = change(Double(bitPattern: current)).bitPattern
            if next == current { return }
            let (exchanged, original) = cell.weakCompareExchange(
                expected: current,
                desired: next,
                ordering: .relaxed
            )
            if exchanged { return }
            current = original
        }
    }

    func reset() {
        self.counted.store(0, ordering: .relaxed)
        _ = self.take(resets: true)
    }

    private struct Taken {
        var value: Double
        var hasValue: Bool
        var count: UInt64
        var sum: Double
        var min: Double
        var max: Double
        var buckets: [UInt64]
    }

    /// Every cell but the integer counter, emptied when `resets`.
    private func take(resets: Bool) -> Taken {
        func take(_ cell: borrowing Atomic<UInt64>, empty: UInt64) -> UInt64 {
            resets ? cell.exchange(empty, ordering: .relaxed) : cell.load(ordering: .relaxed)
        }
        var buckets: [UInt64] = []
        buckets.reserveCapacity(self.bucketCount)
        for index in 0..<self.bucketCount { buckets.append(take(self.buckets[index], empty: 0)) }
        let hasValue = resets ? self.hasValue.exchange(false, ordering: .relaxed) : self.hasValue.load(ordering: .relaxed)
        return Taken(
            value: Double(bitPattern: take(self.value, empty: 0)),
            hasValue: hasValue,
            count: buckets.reduce(0, &+),
            sum: Double(bitPattern: take(self.sum, empty: 0)),
            min: Double(bitPattern: take(self.minimum, empty: Double.infinity.bitPattern)),
            max: Double(bitPattern: take(self.maximum, empty: (-Double.infinity).bitPattern)),
            buckets: buckets
        )
    }

    /// The series' point now; for a delta collection, what accumulated since the previous one
    /// (and the series starts over). `nil` when there is nothing to report.
    func collect(now: UInt64, temporality: MetricData.Temporality) -> MetricData.Point? {
        let resets = temporality == .delta && self.kind != .gauge
        let counted = resets ? self.counted.exchange(0, ordering: .relaxed) : self.counted.load(ordering: .relaxed)
        let state = self.take(resets: resets)
        let start = resets ? self.start.exchange(now, ordering: .relaxed) : self.start.load(ordering: .relaxed)
        var point = MetricData.Point(
            attributes: self.attributes,
            startNanoseconds: start,
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
    /// Decided once: matching `kind` per record would retain and release its bounds array.
    private let isHistogram: Bool
    init(_ series: Series) {
        self.series = series
        if case .histogram = series.kind { self.isHistogram = true } else { self.isHistogram = false }
    }
    func record(_ value: Int64) { self.record(Double(value)) }
    func record(_ value: Double) {
        if self.isHistogram { self.series.record(value) } else if value.isFinite { self.series.set(value) }
    }
}

/// Timers are histograms in seconds, as the OpenTelemetry conventions measure durations.
final class SeriesTimer: TimerHandler, Sendable {
    let series: Series
    init(_ series: Series) { self.series = series }
    func recordNanoseconds(_ duration: Int64) { self.series.record(Double(duration) / 1_000_000_000) }
}
