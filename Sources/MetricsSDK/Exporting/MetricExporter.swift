/// Where collected metrics go: the OTLP exporter, the console, or your own.
public protocol MetricExporter: Sendable {
    /// Sends one collection. Throwing loses only this collection (cumulative sums carry on).
    func export(_ batch: MetricBatch) async throws
    /// Called once, after the final collection was exported.
    func shutdown() async
}

/// Prints each collection, one line per point.
public struct ConsoleMetricExporter: MetricExporter {
    private let write: @Sendable (String) -> Void

    public init(write: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.write = write
    }

    public func export(_ batch: MetricBatch) async throws {
        for line in Self.lines(batch) { self.write(line) }
    }

    public func shutdown() async {}

    static func lines(_ batch: MetricBatch) -> [String] {
        batch.metrics.flatMap { metric in
            metric.points.map { point in
                let attributes = point.attributes.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
                let unit = metric.unit.isEmpty ? "" : " \(metric.unit)"
                switch metric.kind {
                case .sum, .gauge:
                    let value = point.isInteger ? String(Int64(point.value)) : String(point.value)
                    return "\(metric.name){\(attributes)} \(value)\(unit)"
                case .histogram:
                    let mean = point.count > 0 ? point.sum / Double(point.count) : 0
                    return "\(metric.name){\(attributes)} count=\(point.count) sum=\(point.sum)\(unit) mean=\(mean)\(unit) max=\(point.max ?? 0)\(unit)"
                }
            }
        }
    }
}
