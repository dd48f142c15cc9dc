import Locking
import Metrics
import MetricsSDK
import Testing
import TracingSDK

/// Keeps every batch it is given.
final class InMemoryMetricExporter: MetricExporter {
    private let state = Locked<(batches: [MetricBatch], shutDown: Bool)>(([], false))
    var batches: [MetricBatch] { self.state.withLock { $0.batches } }
    var isShutDown: Bool { self.state.withLock { $0.shutDown } }
    func export(_ batch: MetricBatch) async throws { self.state.withLock { $0.batches.append(batch) } }
    func shutdown() async { self.state.withLock { $0.shutDown = true } }
}

private func provider(
    _ environment: [String: String] = [:],
    exporter: InMemoryMetricExporter = InMemoryMetricExporter(),
    cardinalityLimit: Int = 2000
) -> MeterProvider {
    MeterProvider(
        configuration: .init(
            resource: Resource(attributes: ["service.name": "billing"]),
            exporters: [exporter],
            cardinalityLimit: cardinalityLimit,
            environment: environment
        )
    )
}

@Suite("The built-in metrics pipeline")
struct MeterProviderTests {
    @Test("counters are monotonic integer sums per attribute set, whatever the dimensions' order")
    func counters() throws {
        let meters = provider()
        Counter(label: "messaging.client.sent.messages", dimensions: [("a", "1"), ("b", "2")], factory: meters).increment(by: 3)
        Counter(label: "messaging.client.sent.messages", dimensions: [("b", "2"), ("a", "1")], factory: meters).increment()
        Counter(label: "messaging.client.sent.messages", dimensions: [("a", "9")], factory: meters).increment(by: 2)
        let batch = meters.collect()
        let metric = try #require(batch.metrics.first { $0.name == "messaging.client.sent.messages" })
        #expect(metric.kind == .sum)
        #expect(metric.unit == "{message}")
        #expect(metric.temporality == .cumulative)
        #expect(batch.points("messaging.client.sent.messages", where: ["a": "1", "b": "2"]).map(\.value) == [4])
        #expect(batch.points("messaging.client.sent.messages", where: ["a": "9"]).map(\.value) == [2])
        #expect(metric.points.allSatisfy { $0.isInteger })
        #expect(batch.resource.serviceName == "billing")
        // Cumulative: the next collection still has the totals, from the same start.
        let again = meters.collect().points("messaging.client.sent.messages", where: ["a": "1"])
        #expect(again.map(\.value) == [4])
        #expect(again.first?.startNanoseconds == metric.points.first?.startNanoseconds)
    }

    @Test("timers are histograms in seconds with the conventions' duration buckets")
    func timers() throws {
        let meters = provider()
        let timer = Metrics.Timer(label: "messaging.process.duration", dimensions: [("topic", "orders")], factory: meters)
        timer.recordNanoseconds(3_000_000)  // 0.003 s: first bucket (≤ 0.005)
        timer.recordNanoseconds(5_000_000)  // 0.005 s: still the first (bounds are inclusive)
        timer.recordNanoseconds(2_000_000_000)  // 2 s: (1, 2.5]
        timer.recordNanoseconds(60_000_000_000)  // beyond 10 s: the last bucket
        let metric = try #require(meters.collect().metrics.first { $0.name == "messaging.process.duration" })
        #expect(metric.kind == .histogram(bounds: MeterProvider.Configuration.durationBounds))
        #expect(metric.unit == "s")
        let point = try #require(metric.points.first)
        #expect(point.count == 4)
        #expect(abs(point.sum - 62.008) < 1e-9)
        #expect(point.min == 0.003 && point.max == 60)
        var expected = [UInt64](repeating: 0, count: MeterProvider.Configuration.durationBounds.count + 1)
        expected[0] = 2
        expected[MeterProvider.Configuration.durationBounds.firstIndex(of: 2.5)!] = 1
        expected[expected.count - 1] = 1
        #expect(point.bucketCounts == expected)
    }

    @Test("gauges report the last value; aggregating recorders are histograms with the SDK's default bounds")
    func gauges() throws {
        let meters = provider()
        let gauge = Gauge(label: "messaging.kafka.consumer.lag", dimensions: [("partition", "0")], factory: meters)
        gauge.record(20)
        gauge.record(7)
        Recorder(label: "payload", factory: meters).record(12)
        let batch = meters.collect()
        #expect(batch.points("messaging.kafka.consumer.lag").map(\.value) == [7])
        let payload = try #require(batch.metrics.first { $0.name == "payload" })
        #expect(payload.kind == .histogram(bounds: MeterProvider.Configuration.defaultBounds))
        #expect(payload.points.first?.bucketCounts[3] == 1)  // (10, 25]
    }

    @Test("delta temporality (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE): each collection holds what happened since the previous one")
    func delta() throws {
        let meters = provider(["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"])
        #expect(meters.temporality == .delta)
        let counter = Counter(label: "sent", factory: meters)
        let timer = Metrics.Timer(label: "took", factory: meters)
        counter.increment(by: 5)
        timer.recordNanoseconds(1_000_000)
        let first = meters.collect()
        #expect(first.points("sent").map(\.value) == [5])
        #expect(first.metrics.allSatisfy { $0.temporality == .delta })
        counter.increment(by: 2)
        let second = meters.collect()
        #expect(second.points("sent").map(\.value) == [2])
        #expect(second.points("sent").first?.startNanoseconds == first.points("sent").first?.timeNanoseconds)
        // Nothing recorded in the interval: no point.
        #expect(second.points("took").isEmpty)
        #expect(meters.collect().points("sent").isEmpty)
    }

    @Test("threads recording into one series at once lose nothing, and delta collections racing them count each record once")
    func concurrentRecording() async throws {
        let meters = provider(["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"])
        let dimensions = [("messaging.destination.name", "orders")]
        let counter = Counter(label: "sent", dimensions: dimensions, factory: meters)
        let timer = Metrics.Timer(label: "queue_time", dimensions: dimensions, factory: meters)
        let perTask = 50_000
        // Collections run while the tasks record: what they took, plus a last one, is everything.
        let collector = Task {
            var batches: [MetricBatch] = []
            while !Task.isCancelled {
                batches.append(meters.collect())
                await Task.yield()
            }
            return batches
        }
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for index in 0..<perTask {
                        counter.increment()
                        // 1 ms or 3 s: sums exact in binary, the extremes known.
                        timer.recordNanoseconds(index % 2 == 0 ? 1_000_000 : 3_000_000_000 + Int64(task))
                    }
                }
            }
        }
        collector.cancel()
        let batches = await collector.value + [meters.collect()]
        let counted = batches.flatMap { $0.points("sent", where: [:]) }.map(\.value).reduce(0, +)
        #expect(counted == Double(4 * perTask))
        let histograms = batches.flatMap { $0.points("queue_time", where: [:]) }
        #expect(histograms.map(\.count).reduce(0, +) == UInt64(4 * perTask))
        for point in histograms { #expect(point.count == point.bucketCounts.reduce(0, +)) }
        let buckets = histograms.reduce(into: [UInt64](repeating: 0, count: histograms.first?.bucketCounts.count ?? 0)) { total, point in
            for (index, count) in point.bucketCounts.enumerated() { total[index] += count }
        }
        #expect(buckets.first == UInt64(2 * perTask))  // 1 ms: ≤ 5 ms
        #expect(histograms.compactMap(\.min).min() == 0.001)
        #expect(histograms.compactMap(\.max).max() == 3.000000003)
    }

    @Test("beyond the cardinality limit, new attribute sets go to one overflow series and nothing is lost")
    func cardinalityLimit() {
        let meters = provider(cardinalityLimit: 5)
        for index in 0..<10 {
            Counter(label: "by-user", dimensions: [("user", "\(index)")], factory: meters).increment()
        }
        let points = meters.collect().points("by-user")
        #expect(points.count == 5)
        #expect(points.filter { $0.attributes.contains { $0 == ("otel.metric.overflow", "true") } }.map(\.value) == [6])
        #expect(points.map(\.value).reduce(0, +) == 10)
        // A series made before the limit keeps its own.
        Counter(label: "by-user", dimensions: [("user", "0")], factory: meters).increment()
        #expect(meters.collect().points("by-user", where: ["user": "0"]).map(\.value) == [2])
    }

    @Test("the periodic reader exports every OTEL_METRIC_EXPORT_INTERVAL; shutdown exports a final collection, then nothing more")
    func periodicReader() async throws {
        let exporter = InMemoryMetricExporter()
        let meters = provider(["OTEL_METRIC_EXPORT_INTERVAL": "50", "OTEL_METRIC_EXPORT_TIMEOUT": "1000"], exporter: exporter)
        #expect(meters.exportInterval == .milliseconds(50))
        #expect(meters.exportTimeout == .seconds(1))
        let counter = Counter(label: "sent", factory: meters)
        counter.increment()
        meters.start()
        let deadline = ContinuousClock.now + .seconds(10)
        while exporter.batches.count < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(exporter.batches.count >= 2)
        counter.increment(by: 41)
        await meters.shutdown()
        #expect(exporter.isShutDown)
        #expect(exporter.batches.last?.points("sent").map(\.value) == [42])
        let exported = exporter.batches.count
        counter.increment()
        await meters.forceFlush()
        await meters.shutdown()
        try await Task.sleep(for: .milliseconds(120))
        #expect(exporter.batches.count == exported)
    }

    @Test("OTEL_METRICS_EXPORTER: none, console, and an unknown name reported as a problem", arguments: [
        ("none", ["none"], false), ("console", ["console"], false), ("prometheus", [], true), ("", ["console"], false),
    ])
    func exporterChoice(value: String, names: [String], problem: Bool) {
        let meters = MeterProvider(configuration: .init(environment: ["OTEL_METRICS_EXPORTER": value]))
        #expect(meters.exporterNames == names)
        #expect(meters.configurationProblems.isEmpty == !problem)
        if problem { #expect(meters.configurationProblems.first?.contains("OTEL_METRICS_EXPORTER=prometheus") == true) }
    }

    @Test("OTEL_SDK_DISABLED=true: nothing is exported, even to configured exporters")
    func disabled() async {
        let exporter = InMemoryMetricExporter()
        let meters = MeterProvider(configuration: .init(exporters: [exporter], environment: ["OTEL_SDK_DISABLED": "true"]))
        #expect(meters.exporterNames == ["none"])
        Counter(label: "sent", factory: meters).increment()
        await meters.forceFlush()
        await meters.shutdown()
        #expect(exporter.batches.isEmpty)
    }

    @Test("invalid interval and temporality values fall back to the defaults and are reported")
    func invalidEnvironment() {
        let meters = MeterProvider(configuration: .init(environment: [
            "OTEL_METRIC_EXPORT_INTERVAL": "soon", "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "sometimes",
            "OTEL_METRICS_EXPORTER": "none",
        ]))
        #expect(meters.exportInterval == .seconds(60))
        #expect(meters.temporality == .cumulative)
        #expect(meters.configurationProblems.count == 2)
    }

    @Test("a failing exporter loses only that collection; cumulative totals carry on")
    func failingExporter() async {
        final class Flaky: MetricExporter {
            let calls = Locked(0)
            let kept = Locked<[MetricBatch]>([])
            func export(_ batch: MetricBatch) async throws {
                let call = self.calls.withLock { $0 += 1; return $0 }
                if call == 1 { throw CancellationError() }
                self.kept.withLock { $0.append(batch) }
            }
            func shutdown() async {}
        }
        let flaky = Flaky()
        let meters = MeterProvider(configuration: .init(exporters: [flaky], environment: [:]))
        let counter = Counter(label: "sent", factory: meters)
        counter.increment(by: 2)
        await meters.forceFlush()
        counter.increment(by: 3)
        await meters.shutdown()
        #expect(flaky.kept.withLock { $0.map { $0.points("sent").map(\.value) } } == [[5]])
    }

    @Test("quantiles estimated from a histogram's buckets, within the recorded min and max")
    func quantiles() throws {
        let meters = provider()
        let timer = Metrics.Timer(label: "took", factory: meters)
        // 90 values of 20 ms (bucket (0.01, 0.025]) and 10 of 3 s (bucket (2.5, 5]).
        for _ in 0..<90 { timer.recordNanoseconds(20_000_000) }
        for _ in 0..<10 { timer.recordNanoseconds(3_000_000_000) }
        let point = try #require(meters.collect().points("took").first)
        let bounds = MeterProvider.Configuration.durationBounds
        let p50 = try #require(point.estimatedQuantile(0.5, bounds: bounds))
        #expect(p50 >= 0.02 && p50 <= 0.025)
        let p99 = try #require(point.estimatedQuantile(0.99, bounds: bounds))
        #expect(p99 >= 2.5 && p99 <= 3)
        #expect(point.estimatedQuantile(1, bounds: bounds) == 3)
        #expect(MetricData.Point(attributes: [], startNanoseconds: 0, timeNanoseconds: 0, value: 0, isInteger: false, count: 0, sum: 0, min: nil, max: nil, bucketCounts: [0]).estimatedQuantile(0.5, bounds: []) == nil)
    }

    @Test("the console exporter writes one line per point")
    func console() async throws {
        let lines = Locked<[String]>([])
        let meters = MeterProvider(configuration: .init(exporters: [ConsoleMetricExporter { line in lines.withLock { $0.append(line) } }], environment: [:]))
        Counter(label: "messaging.client.sent.messages", dimensions: [("messaging.destination.name", "orders")], factory: meters).increment(by: 3)
        await meters.shutdown()
        #expect(lines.withLock { $0 } == ["messaging.client.sent.messages{messaging.destination.name=orders} 3 {message}"])
    }
}
