import Foundation
import Logging
import ServiceLifecycle
import Tracing

/// The SDK's name and version, as reported in `telemetry.sdk.*` and the instrumentation scope.
public enum SDKInfo {
    public static let name = "swift-kafka-tracing"
    public static let version = "0.1.0"
}

/// Creates the built-in tracer from code and the OpenTelemetry environment variables, and owns
/// its processing: one call to start, one to stop.
///
/// ```swift
/// let provider = TracerProvider.bootstrap(configuration: .init(serviceName: "orders"))
/// // … InstrumentationSystem.tracer is now provider.tracer …
/// await provider.shutdown()   // exports every ended span first
/// ```
///
/// Several providers (each with its own resource) can live in one process; only ``bootstrap``
/// touches the global `InstrumentationSystem`. A provider is a ServiceLifecycle `Service`: in a
/// `ServiceGroup`, ``run()`` shuts it down on graceful shutdown.
public final class TracerProvider: Service, Sendable {
    /// Settings given in code. Anything left `nil` comes from the environment, then from the
    /// OpenTelemetry specification's default: code wins over environment.
    public struct Configuration: Sendable {
        /// `service.name` (`OTEL_SERVICE_NAME`).
        public var serviceName: String?
        /// `service.version`.
        public var serviceVersion: String?
        /// `deployment.environment.name`.
        public var deploymentEnvironment: String?
        /// More resource attributes; they override `OTEL_RESOURCE_ATTRIBUTES`.
        public var resourceAttributes: [String: String]
        /// Turns tracing off (`OTEL_SDK_DISABLED`): no spans are recorded and ``bootstrap`` leaves
        /// the global tracer as it is.
        public var disabled: Bool?
        /// The sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
        public var sampler: (any Sampler)?
        /// Propagation formats (`OTEL_PROPAGATORS`).
        public var propagators: [any TextMapPropagator]?
        /// Exporters to use instead of those named by `OTEL_TRACES_EXPORTER`.
        public var exporters: [any SpanExporter]?
        /// Exporters that `OTEL_TRACES_EXPORTER` may name, besides `console` and `none`
        /// (the OTLP module registers `otlp`). A factory named `console` replaces the built-in one.
        public var exporterFactories: [String: @Sendable (Logger) throws -> any SpanExporter]
        /// Batch processor settings (`OTEL_BSP_*`).
        public var batch: BatchSpanProcessor.Configuration?
        /// Export each span as it ends instead of in batches (for tests and debugging).
        public var exportsImmediately: Bool
        /// Span limits (`OTEL_*_LIMIT`).
        public var limits: SpanLimits?
        /// For ``ErrorAndSlowTraceSampler`` sampling: a root slower than this is kept. `nil` (the
        /// default) uses the sampler's own ``ErrorAndSlowTraceSampler/latencyThreshold``.
        public var slowTraceThreshold: Duration?
        /// The environment to read; the process's by default.
        public var environment: [String: String]

        public init(
            serviceName: String? = nil,
            serviceVersion: String? = nil,
            deploymentEnvironment: String? = nil,
            resourceAttributes: [String: String] = [:],
            disabled: Bool? = nil,
            sampler: (any Sampler)? = nil,
            propagators: [any TextMapPropagator]? = nil,
            exporters: [any SpanExporter]? = nil,
            exporterFactories: [String: @Sendable (Logger) throws -> any SpanExporter] = [:],
            batch: BatchSpanProcessor.Configuration? = nil,
            exportsImmediately: Bool = false,
            limits: SpanLimits? = nil,
            slowTraceThreshold: Duration? = nil,
            environment: [String: String] = ProcessInfo.processInfo.environment
        ) {
            self.serviceName = serviceName
            self.serviceVersion = serviceVersion
            self.deploymentEnvironment = deploymentEnvironment
            self.resourceAttributes = resourceAttributes
            self.disabled = disabled
            self.sampler = sampler
            self.propagators = propagators
            self.exporters = exporters
            self.exporterFactories = exporterFactories
            self.batch = batch
            self.exportsImmediately = exportsImmediately
            self.limits = limits
            self.slowTraceThreshold = slowTraceThreshold
            self.environment = environment
        }
    }

    /// The tracer. Give it to `withTracer` or `InstrumentationSystem.bootstrap`, or let
    /// ``bootstrap`` do that.
    public let tracer: SDKTracer
    /// Whether tracing is off (`OTEL_SDK_DISABLED`).
    public let isDisabled: Bool
    /// The batch processor, when spans are batched.
    public let batchProcessor: BatchSpanProcessor?
    /// The names of the exporters in use, such as `["console"]`.
    public let exporterNames: [String]
    /// What was wrong with the configuration, one sentence each: invalid `OTEL_*` values (each
    /// replaced by its default, as the OpenTelemetry specification asks) and exporters that could
    /// not be created. Empty when all is well. Applications that prefer to refuse a bad
    /// configuration can check it at startup (the demo exits with these messages).
    public let configurationProblems: [String]

    /// Makes a provider without touching the global `InstrumentationSystem`: for tests, and for
    /// processes that run several services (one provider each).
    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "tracing")) {
        let environment = EnvironmentReader(values: configuration.environment, logger: logger)
        let disabled = configuration.disabled ?? environment.bool(.sdkDisabled) ?? false
        self.isDisabled = disabled

        let resource = Self.resource(configuration, environment)
        let limits = configuration.limits ?? Self.limits(environment)
        let sampler = configuration.sampler ?? Self.sampler(environment)
        let propagator = CompositePropagator(configuration.propagators ?? Self.propagators(environment))

        var exporterNames: [String] = []
        var exporters: [any SpanExporter] = []
        if disabled {
            exporterNames = ["none"]
        } else if let configured = configuration.exporters {
            exporters = configured
            exporterNames = configured.map { String(describing: type(of: $0)) }
        } else {
            (exporterNames, exporters) = Self.exporters(configuration, environment, logger: logger)
        }

        var processor: any SpanProcessor
        var batchProcessor: BatchSpanProcessor?
        if exporters.isEmpty {
            processor = MultiSpanProcessor([])
        } else {
            let exporter: any SpanExporter = exporters.count == 1 ? exporters[0] : MultiSpanExporter(exporters)
            if configuration.exportsImmediately {
                processor = SimpleSpanProcessor(exporter: exporter)
            } else {
                let batch = BatchSpanProcessor(
                    exporter: exporter,
                    configuration: configuration.batch ?? Self.batch(environment),
                    logger: logger
                )
                batchProcessor = batch
                processor = batch
            }
        }
        if let errorAndSlow = sampler.errorAndSlowTraceSampler() {
            processor = TailSamplingProcessor(
                next: processor,
                latencyThreshold: configuration.slowTraceThreshold ?? errorAndSlow.latencyThreshold
            )
        }
        self.batchProcessor = batchProcessor
        self.exporterNames = exporterNames
        self.configurationProblems = environment.problems.messages
        self.tracer = SDKTracer(
            resource: resource,
            processor: processor,
            sampler: disabled ? AlwaysOffSampler() : sampler,
            propagator: disabled ? CompositePropagator([]) : propagator,
            limits: limits
        )
    }

    /// Makes a provider and installs its tracer as `InstrumentationSystem`'s (once per process;
    /// when disabled, the global tracer is left as it is).
    public static func bootstrap(
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "tracing")
    ) -> TracerProvider {
        let provider = TracerProvider(configuration: configuration, logger: logger)
        if !provider.isDisabled { InstrumentationSystem.bootstrap(provider.tracer) }
        return provider
    }

    /// Another tracer sharing this provider's processing (sampler, processor, exporters, limits)
    /// under a different `service.name`: for processes that host several services.
    public func tracer(serviceName: String) -> SDKTracer {
        var attributes = self.tracer.resource.attributes
        attributes.set("service.name", value: .string(serviceName))
        return SDKTracer(
            resource: Resource(attributes: attributes),
            processor: self.tracer.processor,
            sampler: self.tracer.sampler,
            propagator: self.tracer.propagator,
            idGenerator: self.tracer.idGenerator,
            limits: self.tracer.shared.limits,
            scope: self.tracer.shared.scope,
            counts: self.tracer.shared.counts
        )
    }

    /// Recording spans started and ended by this provider's tracers (see ``SDKTracer/spanCounts``).
    public var spanCounts: SpanCounts { self.tracer.spanCounts }

    /// Exports every ended span now and waits for it.
    public func forceFlush() async { await self.tracer.flush() }

    /// Exports every ended span, then stops exporting. Spans ending later are dropped.
    public func shutdown() async { await self.tracer.processor.shutdown() }

    /// Waits for graceful shutdown (or cancellation), then shuts down.
    public func run() async throws {
        try? await gracefulShutdown()
        await self.shutdown()
    }

    // MARK: Resolution, one concern each

    private static func resource(_ configuration: Configuration, _ environment: EnvironmentReader) -> Resource {
        var resource = Resource.detected()
        if let text = environment.string(.resourceAttributes) {
            if let attributes = Resource.parseAttributes(text) {
                resource = resource.merging(Resource(attributes: attributes))
            } else {
                environment.invalid(.resourceAttributes, text, expected: "key=value pairs separated by commas")
            }
        }
        var code = SpanAttributes()
        if let name = configuration.serviceName ?? environment.string(.serviceName) {
            code.set("service.name", value: .string(name))
        }
        if let version = configuration.serviceVersion { code.set("service.version", value: .string(version)) }
        if let name = configuration.deploymentEnvironment {
            code.set("deployment.environment.name", value: .string(name))
        }
        for (key, value) in configuration.resourceAttributes { code.set(key, value: .string(value)) }
        return resource.merging(Resource(attributes: code))
    }

    private static func sampler(_ environment: EnvironmentReader) -> any Sampler {
        let name = environment.string(.sampler)?.lowercased() ?? "parentbased_always_on"
        func ratio() -> Double { environment.double(.samplerArgument, in: 0...1) ?? 1 }
        switch name {
        case "always_on": return AlwaysOnSampler()
        case "always_off": return AlwaysOffSampler()
        case "traceidratio": return TraceIDRatioSampler(ratio: ratio())
        case "parentbased_always_on": return ParentBasedSampler(root: AlwaysOnSampler())
        case "parentbased_always_off": return ParentBasedSampler(root: AlwaysOffSampler())
        case "parentbased_traceidratio": return ParentBasedSampler(root: TraceIDRatioSampler(ratio: ratio()))
        case "errors_and_slow": return ErrorAndSlowTraceSampler(ratio: ratio())
        default:
            environment.invalid(
                .sampler,
                name,
                expected:
                    "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio or errors_and_slow"
            )
            return ParentBasedSampler(root: AlwaysOnSampler())
        }
    }

    private static func propagators(_ environment: EnvironmentReader) -> [any TextMapPropagator] {
        guard let text = environment.string(.propagators) else {
            return [W3CTraceContextPropagator(), W3CBaggagePropagator()]
        }
        var result: [any TextMapPropagator] = []
        for name in text.split(separator: ",").map({ $0.trimmingOWS().lowercased() }) {
            switch name {
            case "tracecontext": result.append(W3CTraceContextPropagator())
            case "baggage": result.append(W3CBaggagePropagator())
            case "none": return []
            default: environment.invalid(.propagators, name, expected: "tracecontext, baggage or none")
            }
        }
        return result
    }

    private static func exporters(
        _ configuration: Configuration,
        _ environment: EnvironmentReader,
        logger: Logger
    ) -> ([String], [any SpanExporter]) {
        environment.exporters(
            .exporter,
            factories: configuration.exporterFactories,
            console: { ConsoleSpanExporter() },
            signal: "spans",
            logger: logger
        )
    }

    private static func batch(_ environment: EnvironmentReader) -> BatchSpanProcessor.Configuration {
        var batch = BatchSpanProcessor.Configuration()
        if let value = environment.milliseconds(.batchScheduleDelay) { batch.scheduleDelay = value }
        if let value = environment.milliseconds(.batchExportTimeout) { batch.exportTimeout = value }
        if let value = environment.int(.batchMaxQueueSize, minimum: 1) { batch.maxQueueSize = value }
        if let value = environment.int(.batchMaxExportBatchSize, minimum: 1) { batch.maxExportBatchSize = value }
        return batch
    }

    private static func limits(_ environment: EnvironmentReader) -> SpanLimits {
        var limits = SpanLimits()
        if let value = environment.int(.spanAttributeCountLimit) ?? environment.int(.attributeCountLimit) {
            limits.attributeCountLimit = value
        }
        if let value = environment.int(.spanAttributeValueLengthLimit) ?? environment.int(.attributeValueLengthLimit) {
            limits.attributeValueLengthLimit = value
        }
        if let value = environment.int(.spanEventCountLimit) { limits.eventCountLimit = value }
        if let value = environment.int(.spanLinkCountLimit) { limits.linkCountLimit = value }
        if let value = environment.int(.eventAttributeCountLimit) { limits.eventAttributeCountLimit = value }
        if let value = environment.int(.linkAttributeCountLimit) { limits.linkAttributeCountLimit = value }
        return limits
    }
}

/// Sends every batch to several exporters.
public struct MultiSpanExporter: SpanExporter {
    public let exporters: [any SpanExporter]

    public init(_ exporters: [any SpanExporter]) { self.exporters = exporters }

    public func export(_ batch: [FinishedSpan]) async throws {
        var failure: (any Error)?
        for exporter in self.exporters {
            do { try await exporter.export(batch) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public func forceFlush() async throws {
        for exporter in self.exporters { try? await exporter.forceFlush() }
    }

    public func shutdown() async {
        for exporter in self.exporters { await exporter.shutdown() }
    }
}
