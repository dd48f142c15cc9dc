import Logging
import MetricsSDK
import NIOCore
import OTLPExporter
import TracingSDK

/// Exports spans to an OpenTelemetry collector with OTLP over gRPC
/// (`opentelemetry.proto.collector.trace.v1.TraceService/Export`, port 4317 by default).
///
/// Configured as ``OTLPExporter/OTLPHTTPExporter`` is — the same ``OTLPExporterConfiguration``
/// and `OTEL_EXPORTER_OTLP_*` variables, plus `OTEL_EXPORTER_OTLP_INSECURE` — with gRPC's
/// meanings: the endpoint is the collector's address (`http://host:4317` plaintext,
/// `https://host:4317` or `host:4317` TLS), headers are sent as metadata, `gzip` compresses each
/// message, the export timeout is the call's deadline. Retried as the OTLP specification says:
/// `UNAVAILABLE`, `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`, and
/// `RESOURCE_EXHAUSTED` when the collector sends a `RetryInfo` (whose delay is honoured).
///
/// A collector that is down or never answers costs the application nothing: exports run behind a
/// ``TracingSDK/BatchSpanProcessor``, fail within the timeout, and are counted in ``statistics``;
/// ``shutdown()`` returns within the timeout too.
public final class OTLPGRPCExporter: SpanExporter {
    public typealias Statistics = OTLPHTTPExporter.Statistics

    let transport: OTLPGRPCTransport

    /// The collector's address, as configured.
    public var endpoint: String { self.transport.settings.url }

    public var statistics: Statistics { self.transport.counters.statistics }

    /// - Throws: `OTLPExporterError` for an invalid configuration (a protocol other than `grpc`,
    ///   a bad endpoint, header list or timeout).
    public init(configuration: OTLPExporterConfiguration = OTLPExporterConfiguration(), logger: Logger = Logger(label: "otlp")) throws {
        self.transport = try OTLPGRPCTransport(configuration: configuration, logger: logger, signal: .traces)
    }

    public func export(_ batch: [FinishedSpan]) async throws {
        try await self.transport.counters.exporting(batch.count) {
            try await self.transport.send(OTLPProtobufWriter.request(batch), items: batch.count)
        }
    }

    public func forceFlush() async throws {}

    public func shutdown() async { await self.transport.shutdown() }
}

/// Exports metrics over OTLP/gRPC (`opentelemetry.proto.collector.metrics.v1.MetricsService/Export`),
/// with the same connection rules, retries and guarantees as ``OTLPGRPCExporter``, read from the
/// `OTEL_EXPORTER_OTLP_METRICS_*` variables, else the `OTEL_EXPORTER_OTLP_*` ones.
public final class OTLPGRPCMetricExporter: MetricExporter {
    let transport: OTLPGRPCTransport

    public var endpoint: String { self.transport.settings.url }

    /// Data points exported, failed (dropped after retries) and rejected by the collector.
    public var statistics: OTLPGRPCExporter.Statistics { self.transport.counters.statistics }

    public init(configuration: OTLPExporterConfiguration = OTLPExporterConfiguration(), logger: Logger = Logger(label: "otlp")) throws {
        self.transport = try OTLPGRPCTransport(configuration: configuration, logger: logger, signal: .metrics)
    }

    public func export(_ batch: MetricBatch) async throws {
        let points = OTLPMetricsEncoding.pointCount(batch)
        try await self.transport.counters.exporting(points) {
            try await self.transport.send(try OTLPMetricsEncoding.requestBody(batch), items: points)
        }
    }

    public func shutdown() async { await self.transport.shutdown() }
}

extension TracerProvider.Configuration {
    /// Lets `OTEL_TRACES_EXPORTER=otlp` create an OTLP exporter for the protocol in force:
    /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL` (or the
    /// configuration's `wireProtocol`) when set, else `defaultProtocol`.
    ///
    /// ```swift
    /// TracerProvider.Configuration(serviceName: "orders").withOTLP(defaultProtocol: .grpc)
    /// ```
    public func withOTLP(_ configuration: OTLPExporterConfiguration? = nil, defaultProtocol: OTLPExporterConfiguration.WireProtocol) -> Self {
        var copy = self
        let otlp = OTLPProtocolChoice(configuration ?? OTLPExporterConfiguration(environment: self.environment), defaultProtocol)
        copy.exporterFactories["otlp"] = { logger in
            let configuration = try otlp.configuration(for: .traces)
            if configuration.wireProtocol == .grpc { return try OTLPGRPCExporter(configuration: configuration, logger: logger) }
            return try OTLPHTTPExporter(configuration: configuration, logger: logger)
        }
        return copy
    }
}

extension MeterProvider.Configuration {
    /// Lets `OTEL_METRICS_EXPORTER=otlp` create an OTLP metrics exporter for the protocol in
    /// force (`OTEL_EXPORTER_OTLP_METRICS_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`, else `defaultProtocol`).
    public func withOTLP(_ configuration: OTLPExporterConfiguration? = nil, defaultProtocol: OTLPExporterConfiguration.WireProtocol) -> Self {
        var copy = self
        let otlp = OTLPProtocolChoice(configuration ?? OTLPExporterConfiguration(environment: self.environment), defaultProtocol)
        copy.exporterFactories["otlp"] = { logger in
            let configuration = try otlp.configuration(for: .metrics)
            if configuration.wireProtocol == .grpc { return try OTLPGRPCMetricExporter(configuration: configuration, logger: logger) }
            return try OTLPHTTPMetricExporter(configuration: configuration, logger: logger)
        }
        return copy
    }
}

extension TelemetryProvider.Configuration {
    /// Traces and metrics over OTLP, each over gRPC or HTTP as the protocol variables say, else
    /// `defaultProtocol`.
    public func withOTLP(_ configuration: OTLPExporterConfiguration? = nil, defaultProtocol: OTLPExporterConfiguration.WireProtocol) -> Self {
        var copy = self
        copy.tracing = self.tracing.withOTLP(configuration, defaultProtocol: defaultProtocol)
        copy.metrics = self.metrics.withOTLP(configuration, defaultProtocol: defaultProtocol)
        return copy
    }
}

/// A configuration whose protocol, when neither code nor environment names one, is the default given.
struct OTLPProtocolChoice: Sendable {
    let configuration: OTLPExporterConfiguration
    let defaultProtocol: OTLPExporterConfiguration.WireProtocol

    init(_ configuration: OTLPExporterConfiguration, _ defaultProtocol: OTLPExporterConfiguration.WireProtocol) {
        self.configuration = configuration
        self.defaultProtocol = defaultProtocol
    }

    /// The configuration for one signal, with the protocol it resolves to written in.
    func configuration(for signal: OTLPExporterConfiguration.Signal) throws -> OTLPExporterConfiguration {
        var configuration = self.configuration
        configuration.wireProtocol = try configuration.resolve(signal: signal, defaultProtocol: self.defaultProtocol).wireProtocol
        return configuration
    }
}
