import CoreMetrics
import Logging
import ServiceLifecycle
import Tracing
import TracingSDK

/// Traces and metrics from one call: the built-in tracer (``TracerProvider``) and metrics
/// pipeline (``MeterProvider``) with one resource, one set of `OTEL_*` variables, one shutdown
/// that flushes both.
///
/// ```swift
/// let telemetry = TelemetryProvider.bootstrap(configuration: .init(serviceName: "billing").withOTLP())
/// // … make clients, run …
/// await telemetry.shutdown()  // (or run it as a ServiceLifecycle service)
/// ```
public final class TelemetryProvider: Service, Sendable {
    public struct Configuration: Sendable {
        public var tracing: TracerProvider.Configuration
        /// Its resource is replaced by the tracer's (service name, `OTEL_RESOURCE_ATTRIBUTES`, …).
        public var metrics: MeterProvider.Configuration

        public init(tracing: TracerProvider.Configuration = .init(), metrics: MeterProvider.Configuration = .init()) {
            self.tracing = tracing
            self.metrics = metrics
        }

        /// Both with this service name, reading `environment` (the process's by default).
        public init(serviceName: String, environment: [String: String]? = nil) {
            var tracing = TracerProvider.Configuration(serviceName: serviceName)
            var metrics = MeterProvider.Configuration()
            if let environment {
                tracing.environment = environment
                metrics.environment = environment
            }
            self.init(tracing: tracing, metrics: metrics)
        }
    }

    public let tracing: TracerProvider
    public let metrics: MeterProvider
    /// Both providers' configuration problems.
    public var configurationProblems: [String] { self.tracing.configurationProblems + self.metrics.configurationProblems }

    /// Makes both providers without touching the global systems (tests, several services).
    /// `OTEL_SDK_DISABLED=true` (or a disabled tracing configuration) turns metrics export off too.
    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "telemetry")) {
        self.tracing = TracerProvider(configuration: configuration.tracing, logger: logger)
        var metrics = configuration.metrics
        metrics.resource = self.tracing.tracer.resource
        if self.tracing.isDisabled { metrics.exporters = [] }
        self.metrics = MeterProvider(configuration: metrics, logger: logger)
    }

    /// Makes both, installs the tracer as `InstrumentationSystem`'s and the meter provider as
    /// `MetricsSystem`'s (once per process each), and starts the periodic metrics export. Make
    /// Kafka clients after this: they take the metrics factory in force when they are made.
    public static func bootstrap(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "telemetry")) -> TelemetryProvider {
        let provider = TelemetryProvider(configuration: configuration, logger: logger)
        if !provider.tracing.isDisabled {
            InstrumentationSystem.bootstrap(provider.tracing.tracer)
            MetricsSystem.bootstrap(provider.metrics)
        }
        provider.metrics.start()
        return provider
    }

    /// Exports every ended span and a metrics collection now.
    public func forceFlush() async {
        async let spans: Void = self.tracing.forceFlush()
        async let metrics: Void = self.metrics.forceFlush()
        _ = await (spans, metrics)
    }

    /// Exports every ended span and a final metrics collection, then stops both.
    public func shutdown() async {
        async let spans: Void = self.tracing.shutdown()
        async let metrics: Void = self.metrics.shutdown()
        _ = await (spans, metrics)
    }

    public func run() async throws {
        self.metrics.start()
        try? await gracefulShutdown()
        await self.shutdown()
    }
}
