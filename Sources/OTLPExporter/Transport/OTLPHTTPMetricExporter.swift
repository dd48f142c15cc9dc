import Foundation
import Logging
import MetricsSDK
import NIOCore
import SwiftProtobuf

/// Exports metrics to an OpenTelemetry collector: `POST {endpoint}/v1/metrics`
/// (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` overrides), protobuf or JSON, with the same retries,
/// gzip, headers, timeout and TLS as ``OTLPHTTPExporter`` — read from the
/// `OTEL_EXPORTER_OTLP_METRICS_*` variables, else the `OTEL_EXPORTER_OTLP_*` ones.
public final class OTLPHTTPMetricExporter: MetricExporter {
    /// The span exporter's transport, posting to the metrics path.
    private let transport: OTLPHTTPExporter

    /// The URL metrics are posted to.
    public var endpoint: String { self.transport.endpoint }

    /// Data points exported, failed (dropped after retries) and rejected by the collector.
    public var statistics: OTLPHTTPExporter.Statistics { self.transport.statistics }

    /// - Throws: ``OTLPExporterError`` for an invalid endpoint, protocol, header list or TLS file.
    public init(configuration: OTLPExporterConfiguration = OTLPExporterConfiguration(), logger: Logger = Logger(label: "otlp")) throws {
        self.transport = try OTLPHTTPExporter(configuration: configuration, logger: logger, signal: .metrics)
    }

    public func export(_ batch: MetricBatch) async throws {
        let points = OTLPMetricsEncoding.pointCount(batch)
        try await self.transport.counters.exporting(points) { try await self.transport.send(try self.encode(batch), spanCount: points) }
    }

    public func shutdown() async { await self.transport.shutdown() }

    func encode(_ batch: MetricBatch) throws -> ByteBuffer {
        let request = OTLPMetricsEncoding.request(batch)
        let bytes: [UInt8] =
            self.transport.sendsJSON
            ? Array(try OTLPJSONEncoding.encode(request))
            : try request.serializedBytes()
        return try self.transport.compressIfAsked(ByteBuffer(bytes: bytes))
    }
}
