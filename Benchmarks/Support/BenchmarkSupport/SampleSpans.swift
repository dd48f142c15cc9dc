import Tracing
import TracingSDK

/// A Kafka-like finished span with 8 attributes (as a tracer without attribute templates makes it),
/// for the exporter benchmarks.
public func kafkaSpan(_ index: Int, resource: Resource) -> FinishedSpan {
    var attributes = SpanAttributes()
    attributes.set("messaging.system", value: .string("kafka"))
    attributes.set("messaging.operation.name", value: .string("send"))
    attributes.set("messaging.operation.type", value: .string("send"))
    attributes.set("messaging.destination.name", value: .string("orders"))
    attributes.set("messaging.destination.partition.id", value: .string("\(index % 4)"))
    attributes.set("messaging.kafka.offset", value: .int64(Int64(index)))
    attributes.set("messaging.kafka.message.key", value: .string("order-\(index)"))
    attributes.set("server.port", value: .int64(9092))
    return FinishedSpan(
        spanContext: SpanContext(traceID: TraceID(high: UInt64(index) + 1, low: 7), spanID: SpanID(UInt64(index) + 1), flags: .sampled),
        parentSpanID: SpanID(99),
        isLocalRoot: false,
        hasRemoteParent: false,
        name: "send orders",
        kind: .producer,
        startNanosecondsSinceEpoch: 1_700_000_000_000_000_000 + UInt64(index),
        endNanosecondsSinceEpoch: 1_700_000_000_001_000_000 + UInt64(index),
        attributes: attributes,
        events: [],
        links: [],
        status: nil,
        droppedAttributeCount: 0,
        droppedEventCount: 0,
        droppedLinkCount: 0,
        resource: resource,
        instrumentationScope: InstrumentationScope(name: "kafka-tracing", version: "0.1.0")
    )
}
