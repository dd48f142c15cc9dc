import MetricsSDK
import NIOCore
import TracingSDK

/// Maps a collection to OTLP's `ExportMetricsServiceRequest` (opentelemetry-proto
/// `metrics/v1/metrics.proto`): one resource, one scope, each instrument a `Metric` whose points
/// are a `Sum` (monotonic), a `Gauge` or an explicit-bucket `Histogram`.
package enum OTLPMetricsEncoding {
    typealias Request = Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest

    static func request(_ batch: MetricBatch) -> Request {
        var scopeMetrics = Opentelemetry_Proto_Metrics_V1_ScopeMetrics()
        scopeMetrics.scope.name = batch.scopeName
        scopeMetrics.scope.version = batch.scopeVersion
        scopeMetrics.metrics = batch.metrics.map(self.metric)
        var resourceMetrics = Opentelemetry_Proto_Metrics_V1_ResourceMetrics()
        resourceMetrics.resource.attributes = OTLPEncoding.keyValues(batch.resource.attributes)
        resourceMetrics.scopeMetrics = [scopeMetrics]
        var request = Request()
        request.resourceMetrics = [resourceMetrics]
        return request
    }

    /// Data points in a batch (for the exporter's counts).
    /// The request's protobuf bytes, as a request body.
    package static func requestBody(_ batch: MetricBatch) throws -> ByteBuffer {
        ByteBuffer(bytes: try self.request(batch).serializedBytes() as [UInt8])
    }

    package static func pointCount(_ batch: MetricBatch) -> Int { batch.metrics.reduce(0) { $0 + $1.points.count } }

    private static func metric(_ data: MetricData) -> Opentelemetry_Proto_Metrics_V1_Metric {
        var metric = Opentelemetry_Proto_Metrics_V1_Metric()
        metric.name = data.name
        metric.unit = data.unit
        let temporality: Opentelemetry_Proto_Metrics_V1_AggregationTemporality = data.temporality == .delta ? .delta : .cumulative
        switch data.kind {
        case .sum:
            var sum = Opentelemetry_Proto_Metrics_V1_Sum()
            sum.isMonotonic = true
            sum.aggregationTemporality = temporality
            sum.dataPoints = data.points.map(self.number)
            metric.sum = sum
        case .gauge:
            var gauge = Opentelemetry_Proto_Metrics_V1_Gauge()
            gauge.dataPoints = data.points.map(self.number)
            metric.gauge = gauge
        case .histogram(let bounds):
            var histogram = Opentelemetry_Proto_Metrics_V1_Histogram()
            histogram.aggregationTemporality = temporality
            histogram.dataPoints = data.points.map { point in
                var out = Opentelemetry_Proto_Metrics_V1_HistogramDataPoint()
                out.attributes = self.attributes(point.attributes)
                out.startTimeUnixNano = point.startNanoseconds
                out.timeUnixNano = point.timeNanoseconds
                out.count = point.count
                out.sum = point.sum
                out.bucketCounts = point.bucketCounts
                out.explicitBounds = bounds
                if let min = point.min { out.min = min }
                if let max = point.max { out.max = max }
                return out
            }
            metric.histogram = histogram
        }
        return metric
    }

    private static func number(_ point: MetricData.Point) -> Opentelemetry_Proto_Metrics_V1_NumberDataPoint {
        var out = Opentelemetry_Proto_Metrics_V1_NumberDataPoint()
        out.attributes = self.attributes(point.attributes)
        out.startTimeUnixNano = point.startNanoseconds
        out.timeUnixNano = point.timeNanoseconds
        if point.isInteger, let integer = Int64(exactly: point.value) {
            out.asInt = integer
        } else {
            out.asDouble = point.value
        }
        return out
    }

    private static func attributes(_ pairs: [(String, String)]) -> [Opentelemetry_Proto_Common_V1_KeyValue] {
        pairs.map { key, value in
            var pair = Opentelemetry_Proto_Common_V1_KeyValue()
            pair.key = key
            pair.value.stringValue = value
            return pair
        }
    }
}
