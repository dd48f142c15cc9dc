import CoreMetrics
import Foundation
import Locking
import Logging
import ServiceLifecycle
import TracingSDK

/// The built-in metrics pipeline: a swift-metrics backend (`MetricsSystem.bootstrap(provider)`)
/// that aggregates counters, gauges and histograms in the OpenTelemetry data model and exports
/// them periodically — over OTLP, to the console, or to your own ``MetricExporter``.
///
/// Counters are monotonic sums; `Gauge`s, non-aggregating `Recorder`s and `Meter`s are gauges
/// (the last value); `Timer`s are explicit-bucket histograms in seconds, aggregating `Recorder`s
/// histograms of their values. Each instrument keeps at most ``Configuration/cardinalityLimit``
/// attribute sets; later ones go to one overflow series marked `otel.metric.overflow=true`, as
/// the OpenTelemetry SDK specification says.
public final class MeterProvider: MetricsFactory, Service, Sendable {
    public struct Configuration: Sendable {
        /// The resource every batch carries (one bootstrap gives the tracer's).
        public var resource: Resource
        /// Cumulative (the default) or delta; `nil` reads
        /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (`cumulative`, `delta`, `lowmemory`).
        public var temporality: MetricData.Temporality?
        /// `nil` reads `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds; 60000).
        public var exportInterval: Duration?
        /// `nil` reads `OTEL_METRIC_EXPORT_TIMEOUT` (milliseconds; 30000).
        public var exportTimeout: Duration?
        /// Exporters to use; `nil` picks them by `OTEL_METRICS_EXPORTER` (`otlp` when a factory
        /// for it is given, else `console`; `none` for none) from ``exporterFactories``.
        public var exporters: [any MetricExporter]?
        public var exporterFactories: [String: @Sendable (Logger) throws -> any MetricExporter]
        /// Attribute sets per instrument, the overflow series included.
        public var cardinalityLimit: Int
        /// Units by instrument name (swift-metrics has none): the messaging metrics' by default;
        /// timers are `s` unless given here.
        public var units: [String: String]
        /// Histogram bucket bounds by instrument name; timers default to the semantic conventions'
        /// advice for durations, other histograms to the OpenTelemetry SDK's default bounds.
        public var histogramBounds: [String: [Double]]
        /// The `OTEL_*` variables (the process's by default).
        public var environment: [String: String]

        /// The semantic conventions' advice for duration histograms, in seconds.
        public static let durationBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
        /// The OpenTelemetry SDK's default explicit bucket bounds.
        public static let defaultBounds: [Double] = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]
        /// The units of the messaging metrics (`MessagingMetricName` in KafkaTracing).
        public static let messagingUnits: [String: String] = [
            "messaging.client.sent.messages": "{message}",
            "messaging.client.consumed.messages": "{message}",
            "messaging.client.operation.duration": "s",
            "messaging.process.duration": "s",
            "messaging.kafka.message.queue_time": "s",
            "messaging.kafka.consumer.lag.seconds": "s",
            "messaging.kafka.consumer.lag": "{message}",
            "messaging.kafka.consumer.fetch_queue.messages": "{message}",
            "messaging.kafka.producer.queue.messages": "{message}",
            "messaging.kafka.producer.queue.bytes": "By",
            "messaging.kafka.broker.rtt.average": "s",
            "messaging.kafka.broker.rtt.p99": "s",
        ]

        public init(
            resource: Resource = Resource(),
            temporality: MetricData.Temporality? = nil,
            exportInterval: Duration? = nil,
            exportTimeout: Duration? = nil,
            exporters: [any MetricExporter]? = nil,
            exporterFactories: [String: @Sendable (Logger) throws -> any MetricExporter] = [:],
            cardinalityLimit: Int = 2000,
            units: [String: String] = Configuration.messagingUnits,
            histogramBounds: [String: [Double]] = [:],
            environment: [String: String] = ProcessInfo.processInfo.environment
        ) {
            self.resource = resource
            self.temporality = temporality
            self.exportInterval = exportInterval
            self.exportTimeout = exportTimeout
            self.exporters = exporters
            self.exporterFactories = exporterFactories
            self.cardinalityLimit = max(cardinalityLimit, 2)
            self.units = units
            self.histogramBounds = histogramBounds
            self.environment = environment
        }

        func unit(for name: String, timer: Bool) -> String { self.units[name] ?? (timer ? "s" : "") }

        func bounds(for name: String, timer: Bool) -> [Double] {
            self.histogramBounds[name] ?? (timer ? Self.durationBounds : Self.defaultBounds)
        }
    }

    public let resource: Resource
    public let temporality: MetricData.Temporality
    public let exportInterval: Duration
    public let exportTimeout: Duration
    /// The names of the exporters in use, such as `["otlp"]`.
    public let exporterNames: [String]
    /// Invalid `OTEL_*` values (each replaced by its default) and exporters that could not be made.
    public let configurationProblems: [String]

    private let storage: MetricStorage
    private let exporter: (any MetricExporter)?
    private let logger: Logger
    private let reader = Locked<ReaderState>(ReaderState())
    /// Serializes collections and exports: a periodic one and a flush never interleave.
    private let exportLock = AsyncSerialLock()

    private struct ReaderState {
        var task: Task<Void, Never>?
        var isShutDown = false
    }

    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "metrics")) {
        let environment = EnvironmentReader(values: configuration.environment, logger: logger)
        self.logger = logger
        self.resource = configuration.resource
        self.temporality = configuration.temporality ?? Self.temporality(environment)
        self.exportInterval = configuration.exportInterval ?? environment.milliseconds(.metricExportInterval) ?? .seconds(60)
        self.exportTimeout = configuration.exportTimeout ?? environment.milliseconds(.metricExportTimeout) ?? .seconds(30)
        let start = UInt64(Date().timeIntervalSince1970 * 1_000_000_000)
        self.storage = MetricStorage(configuration: configuration, start: start)
        var names: [String] = []
        var exporters: [any MetricExporter] = []
        if environment.bool(.sdkDisabled) == true {
            // OTEL_SDK_DISABLED: aggregate (handles stay valid) but export nothing.
            names = ["none"]
        } else if let configured = configuration.exporters {
            exporters = configured
            names = configured.map { String(describing: type(of: $0)) }
        } else {
            (names, exporters) = Self.exporters(configuration, environment, logger: logger)
        }
        self.exporterNames = names
        self.exporter = exporters.isEmpty ? nil : (exporters.count == 1 ? exporters[0] : MultiMetricExporter(exporters))
        self.configurationProblems = environment.problems.messages
    }

    // MARK: MetricsFactory

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        SeriesCounter(self.storage.series(label, .sum, dimensions: dimensions))
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        SeriesCounter(self.storage.series(label, .sum, dimensions: dimensions))
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        SeriesMeter(self.storage.series(label, .gauge, dimensions: dimensions))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        SeriesRecorder(self.storage.series(label, aggregate ? .histogram : .gauge, dimensions: dimensions))
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        SeriesTimer(self.storage.series(label, .timer, dimensions: dimensions))
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyMeter(_ handler: any MeterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}

    // MARK: Reading

    /// Everything recorded so far, as an exporter would get it now. With delta temporality this
    /// starts a new interval, as an export does.
    public func collect() -> MetricBatch {
        let now = UInt64(Date().timeIntervalSince1970 * 1_000_000_000)
        let metrics = self.storage.collect(now: now, temporality: self.temporality)
        return MetricBatch(resource: self.resource, scopeName: SDKInfo.name, scopeVersion: SDKInfo.version, metrics: metrics)
    }

    /// Starts exporting every ``exportInterval`` (a no-op with no exporter, or when started).
    public func start() {
        guard let exporter = self.exporter else { return }
        self.reader.withLock { state in
            guard state.task == nil, !state.isShutDown else { return }
            let interval = self.exportInterval
            state.task = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard !Task.isCancelled, let self else { return }
                    await self.exportOnce(exporter)
                }
            }
        }
    }

    /// Collects and exports now, and waits for it (bounded by ``exportTimeout``).
    public func forceFlush() async {
        guard let exporter = self.exporter, !self.reader.withLock({ $0.isShutDown }) else { return }
        await self.exportOnce(exporter)
    }

    /// Stops the periodic export, exports a final collection and shuts the exporters down.
    /// Later calls do nothing.
    public func shutdown() async {
        let task: Task<Void, Never>?? = self.reader.withLock { state in
            guard !state.isShutDown else { return .none }
            state.isShutDown = true
            defer { state.task = nil }
            return .some(state.task)
        }
        guard case .some(let periodic) = task else { return }
        periodic?.cancel()
        guard let exporter = self.exporter else { return }
        await self.exportOnce(exporter)
        await exporter.shutdown()
    }

    /// Exports until graceful shutdown (or cancellation), then shuts down.
    public func run() async throws {
        self.start()
        try? await gracefulShutdown()
        await self.shutdown()
    }

    private func exportOnce(_ exporter: any MetricExporter) async {
        await self.exportLock.run {
            let batch = self.collect()
            guard !batch.metrics.isEmpty else { return }
            let timeout = self.exportTimeout
            let logger = self.logger
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await exporter.export(batch) }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        throw MetricExportTimeout(timeout: timeout)
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch {
                logger.warning("Metrics export failed; this collection is lost", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Resolution

    private static func temporality(_ environment: EnvironmentReader) -> MetricData.Temporality {
        guard let value = environment.string(.metricsTemporalityPreference) else { return .cumulative }
        switch value.lowercased() {
        case "cumulative": return .cumulative
        case "delta", "lowmemory": return .delta
        default:
            environment.invalid(.metricsTemporalityPreference, value, expected: "cumulative, delta or lowmemory")
            return .cumulative
        }
    }

    private static func exporters(
        _ configuration: Configuration,
        _ environment: EnvironmentReader,
        logger: Logger
    ) -> ([String], [any MetricExporter]) {
        environment.exporters(
            .metricsExporter,
            factories: configuration.exporterFactories,
            console: { ConsoleMetricExporter() },
            signal: "metrics",
            logger: logger
        )
    }
}

/// An export that took longer than ``MeterProvider/exportTimeout``.
public struct MetricExportTimeout: Error, CustomStringConvertible {
    public var timeout: Duration
    public var description: String { "the metrics export took longer than \(self.timeout)" }
}

/// Several exporters, each given every batch.
public struct MultiMetricExporter: MetricExporter {
    public let exporters: [any MetricExporter]
    public init(_ exporters: [any MetricExporter]) { self.exporters = exporters }

    public func export(_ batch: MetricBatch) async throws {
        var firstError: (any Error)?
        for exporter in self.exporters {
            do { try await exporter.export(batch) } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
    }

    public func shutdown() async {
        for exporter in self.exporters { await exporter.shutdown() }
    }
}

/// Runs async bodies one at a time, in arrival order.
final class AsyncSerialLock: Sendable {
    private let state = Locked<(busy: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func run(_ body: () async -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let runNow = self.state.withLock { state -> Bool in
                if state.busy {
                    state.waiters.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if runNow { continuation.resume() }
        }
        await body()
        let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiters.isEmpty else {
                state.busy = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
