import TracingSDK

/// Drops every batch: measures the tracer and instrumentation, not an exporter.
public struct DiscardingExporter: SpanExporter {
    public init() {}
    public func export(_ batch: [FinishedSpan]) async throws {}
    public func forceFlush() async throws {}
    public func shutdown() async {}
}
