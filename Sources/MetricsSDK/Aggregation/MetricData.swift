import TracingSDK

/// What one collection found for one instrument: the data an exporter writes out, whatever its
/// format (OTLP, the console).
public struct MetricData: Sendable {
    /// How points of this instrument aggregate, as the OpenTelemetry data model names them.
    public enum Kind: Sendable, Equatable {
        /// Counters: a monotonic sum.
        case sum
        /// The last value recorded (`Gauge`, a non-aggregating `Recorder`, a `Meter`).
        case gauge
        /// Explicit-bucket histograms (`Timer`s in seconds, aggregating `Recorder`s).
        case histogram(bounds: [Double])
    }

    /// How sums and histograms relate to earlier collections.
    public enum Temporality: Sendable, Equatable {
        /// From the provider's start (the default).
        case cumulative
        /// Since the previous collection.
        case delta
    }

    /// One attribute set's value.
    public struct Point: Sendable, Equatable {
        public var attributes: [(String, String)]
        public var startNanoseconds: UInt64
        public var timeNanoseconds: UInt64
        /// Sums and gauges. (Counters are whole numbers; they are kept exact up to 2^53.)
        public var value: Double
        /// Whether ``value`` is a whole number (counters): OTLP writes it as an integer.
        public var isInteger: Bool
        /// Histograms: how many values, their sum, min and max, and per bucket how many
        /// (`bounds.count + 1` buckets; bucket `i` holds values ≤ `bounds[i]` and > `bounds[i-1]`).
        public var count: UInt64
        public var sum: Double
        public var min: Double?
        public var max: Double?
        public var bucketCounts: [UInt64]

        public init(
            attributes: [(String, String)],
            startNanoseconds: UInt64,
            timeNanoseconds: UInt64,
            value: Double,
            isInteger: Bool,
            count: UInt64,
            sum: Double,
            min: Double?,
            max: Double?,
            bucketCounts: [UInt64]
        ) {
            self.attributes = attributes
            self.startNanoseconds = startNanoseconds
            self.timeNanoseconds = timeNanoseconds
            self.value = value
            self.isInteger = isInteger
            self.count = count
            self.sum = sum
            self.min = min
            self.max = max
            self.bucketCounts = bucketCounts
        }

        public static func == (lhs: Point, rhs: Point) -> Bool {
            lhs.attributes.elementsEqual(rhs.attributes) { $0 == $1 } && lhs.startNanoseconds == rhs.startNanoseconds
                && lhs.timeNanoseconds == rhs.timeNanoseconds && lhs.value == rhs.value && lhs.isInteger == rhs.isInteger
                && lhs.count == rhs.count && lhs.sum == rhs.sum && lhs.min == rhs.min && lhs.max == rhs.max
                && lhs.bucketCounts == rhs.bucketCounts
        }
    }

    public var name: String
    public var unit: String
    public var kind: Kind
    public var temporality: Temporality
    public var points: [Point]
}

/// Everything one collection found, with the resource and scope it belongs to.
public struct MetricBatch: Sendable {
    public var resource: Resource
    public var scopeName: String
    public var scopeVersion: String
    public var metrics: [MetricData]

    public init(resource: Resource, scopeName: String, scopeVersion: String, metrics: [MetricData]) {
        self.resource = resource
        self.scopeName = scopeName
        self.scopeVersion = scopeVersion
        self.metrics = metrics
    }

    /// The point of `name` whose attributes include `attributes` (for tests and summaries).
    public func points(_ name: String, where attributes: [String: String] = [:]) -> [MetricData.Point] {
        self.metrics.filter { $0.name == name }.flatMap(\.points).filter { point in
            let own = Dictionary(point.attributes, uniquingKeysWith: { _, last in last })
            return attributes.allSatisfy { own[$0.key] == $0.value }
        }
    }
}

extension MetricData.Point {
    /// A histogram point's `quantile` (0…1) estimated from its buckets, by linear interpolation
    /// inside the bucket that holds it, clamped to the recorded min and max; `nil` when empty.
    public func estimatedQuantile(_ quantile: Double, bounds: [Double]) -> Double? {
        guard self.count > 0, bucketCounts.count == bounds.count + 1 else { return nil }
        let rank = quantile * Double(self.count)
        var seen: Double = 0
        for (index, count) in self.bucketCounts.enumerated() where count > 0 {
            let before = seen
            seen += Double(count)
            guard seen >= rank else { continue }
            let lower = index == 0 ? (self.min ?? 0) : bounds[index - 1]
            let upper = index == bounds.count ? (self.max ?? bounds[bounds.count - 1]) : bounds[index]
            let estimate = lower + (upper - lower) * ((rank - before) / Double(count))
            return Swift.min(Swift.max(estimate, self.min ?? estimate), self.max ?? estimate)
        }
        return self.max
    }
}
