import CoreMetrics
import Locking

/// Every instrument made through the factory, and their series. Making a handle takes one lock;
/// recording through it takes none of this type's (see ``Series``).
final class MetricStorage: Sendable {
    /// An instrument's identity: its name and how it aggregates.
    struct InstrumentKey: Hashable {
        var name: String
        var family: Family
    }

    /// `timer`: a histogram of seconds.
    enum Family: Hashable { case sum, gauge, histogram, timer }

    final class Instrument: Sendable {
        let name: String
        let unit: String
        let kind: MetricData.Kind
        let series: Locked<[[String]: Series]>
        let overflow: Series

        init(name: String, unit: String, kind: MetricData.Kind, start: UInt64) {
            self.name = name
            self.unit = unit
            self.kind = kind
            self.series = Locked([:])
            self.overflow = Series(attributes: [("otel.metric.overflow", "true")], kind: kind, start: start, reportsWhenEmpty: false)
        }
    }

    private let instruments = Locked<[InstrumentKey: Instrument]>([:])
    private let configuration: MeterProvider.Configuration
    let start: UInt64

    init(configuration: MeterProvider.Configuration, start: UInt64) {
        self.configuration = configuration
        self.start = start
    }

    /// The series of `name` for these dimensions (the overflow series once the instrument has
    /// ``MeterProvider/Configuration/cardinalityLimit`` − 1 others).
    func series(_ name: String, _ family: Family, dimensions: [(String, String)]) -> Series {
        let instrument = self.instrument(name, family)
        // The same set in any order is one series.
        let sorted = dimensions.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
        let key = sorted.flatMap { [$0.0, $0.1] }
        let limit = self.configuration.cardinalityLimit
        return instrument.series.withLock { all in
            if let existing = all[key] { return existing }
            guard all.count < limit - 1 else { return instrument.overflow }
            let made = Series(attributes: sorted, kind: instrument.kind, start: self.start)
            all[key] = made
            return made
        }
    }

    private func instrument(_ name: String, _ family: Family) -> Instrument {
        self.instruments.withLock { instruments in
            let key = InstrumentKey(name: name, family: family)
            if let existing = instruments[key] { return existing }
            let kind: MetricData.Kind
            switch family {
            case .sum: kind = .sum
            case .gauge: kind = .gauge
            case .histogram, .timer: kind = .histogram(bounds: self.configuration.bounds(for: name, timer: family == .timer))
            }
            let unit = self.configuration.unit(for: name, timer: family == .timer)
            let made = Instrument(name: name, unit: unit, kind: kind, start: self.start)
            instruments[key] = made
            return made
        }
    }

    /// Every instrument's points now, in name order.
    func collect(now: UInt64, temporality: MetricData.Temporality) -> [MetricData] {
        let instruments = self.instruments.withLock { Array($0.values) }.sorted { $0.name < $1.name }
        return instruments.compactMap { instrument in
            let series = instrument.series.withLock { Array($0.values) } + [instrument.overflow]
            let points = series.compactMap { $0.collect(now: now, temporality: temporality) }
                .sorted { $0.attributes.lexicographicallyPrecedes($1.attributes) { ($0.0, $0.1) < ($1.0, $1.1) } }
            guard !points.isEmpty else { return nil }
            // Gauges have no temporality; report them as cumulative.
            return MetricData(
                name: instrument.name,
                unit: instrument.unit,
                kind: instrument.kind,
                temporality: instrument.kind == .gauge ? .cumulative : temporality,
                points: points
            )
        }
    }
}
