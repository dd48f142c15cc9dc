import Tracing
@testable import TracingSDK

/// A tracer that exports every sampled span to memory as soon as it ends.
struct TestTracer {
    let exporter = InMemorySpanExporter()
    let tracer: SDKTracer

    init(
        sampler: any Sampler = AlwaysOnSampler(),
        limits: SpanLimits = SpanLimits(),
        serviceName: String = "test-service",
        wrap: (any SpanProcessor) -> any SpanProcessor = { $0 }
    ) {
        self.tracer = SDKTracer(
            resource: Resource(attributes: ["service.name": .string(serviceName)]),
            processor: wrap(SimpleSpanProcessor(exporter: self.exporter)),
            sampler: sampler,
            limits: limits
        )
    }

    /// Every span exported so far, after waiting for the export.
    func spans() async -> [FinishedSpan] {
        await self.tracer.flush()
        return self.exporter.spans
    }
}

/// A fixed instant, so durations in tests are exact.
struct FixedInstant: TracerInstant {
    var nanosecondsSinceEpoch: UInt64
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch }
}
