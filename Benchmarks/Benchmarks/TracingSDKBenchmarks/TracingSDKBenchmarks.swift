import Benchmark
import BenchmarkSupport
import Foundation
import Tracing
import TracingSDK

/// Kafka-header-like carrier: an ordered list of (key, value) pairs, as messages carry them.
struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [(String, String)]) {
        carrier.append((key, value))
    }
}

struct HeaderExtractor: Extractor {
    func extract(key: String, from carrier: [(String, String)]) -> String? {
        carrier.last(where: { $0.0 == key })?.1
    }
}

/// The SDK tracer behind a struct: the same tracer, to measure swift-distributed-tracing's
/// dynamic casts of the installed instrument when it is a value type rather than a class.
struct StructTracer: Tracer {
    typealias Span = SDKSpan
    let base: SDKTracer

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> InstrumentationContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> SDKSpan {
        self.base.startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func forceFlush() { self.base.forceFlush() }

    func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        self.base.inject(context, into: &carrier, using: injector)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        self.base.extract(carrier, into: &context, using: extractor)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )

    let unsampled = SDKTracer(resource: Resource(), processor: MultiSpanProcessor([]), sampler: AlwaysOffSampler())
    Benchmark("span start+end, unsampled") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(unsampled.startSpan("work").end())
        }
    }

    // The user's own root span goes through swift-distributed-tracing's `withSpan`, which finds
    // the tracer with `InstrumentationSystem.legacyTracer`: two dynamic casts of the instrument to
    // `any LegacyTracer` per span (inside the API, not ours to remove). These isolate that floor.
    Benchmark("InstrumentationSystem.legacyTracer, a tracer installed (withSpan's lookup, per span)") { benchmark in
        withTracer(unsampled) {
            for _ in benchmark.scaledIterations {
                blackHole(InstrumentationSystem.legacyTracer)
            }
        }
    }
    Benchmark("InstrumentationSystem.legacyTracer, the same tracer behind a struct (the casts on a value type)") { benchmark in
        withTracer(StructTracer(base: unsampled)) {
            for _ in benchmark.scaledIterations {
                blackHole(InstrumentationSystem.legacyTracer)
            }
        }
    }
    Benchmark("withSpan (global function), unsampled: lookup + span as any Span + task-local binding") { benchmark in
        withTracer(unsampled) {
            for _ in benchmark.scaledIterations {
                withSpan("request") { span in blackHole(span) }
            }
        }
    }
    Benchmark("tracer.withSpan on the SDKTracer itself, unsampled: no lookup, concrete span") { benchmark in
        for _ in benchmark.scaledIterations {
            unsampled.withSpan("request") { span in blackHole(span) }
        }
    }

    var batchConfiguration = BatchSpanProcessor.Configuration()
    batchConfiguration.maxQueueSize = 100_000
    let batch = BatchSpanProcessor(exporter: DiscardingExporter(), configuration: batchConfiguration)
    let sampled = SDKTracer(resource: Resource.detected(), processor: batch, sampler: AlwaysOnSampler())
    Benchmark("span start+end, sampled, batch processor") { benchmark in
        for _ in benchmark.scaledIterations {
            sampled.startSpan("work").end()
        }
    }

    Benchmark("span with 5 attributes, sampled, batch processor") { benchmark in
        for index in benchmark.scaledIterations {
            let span = sampled.startSpan("send orders", ofKind: .producer)
            span.attributes["messaging.system"] = "kafka"
            span.attributes["messaging.destination.name"] = "orders"
            span.attributes["messaging.operation.type"] = "send"
            span.attributes["messaging.kafka.offset"] = index
            span.attributes["messaging.destination.partition.id"] = "3"
            span.end()
        }
    }

    // The same five attributes given in one assignment, as instrumentation that knows them up
    // front does: one lock round trip and one dictionary built at its final size.
    Benchmark("span with 5 attributes given at once, sampled, batch processor") { benchmark in
        for index in benchmark.scaledIterations {
            let span = sampled.startSpan("send orders", ofKind: .producer)
            span.attributes = [
                "messaging.system": "kafka",
                "messaging.destination.name": "orders",
                "messaging.operation.type": "send",
                "messaging.kafka.offset": .int64(Int64(index)),
                "messaging.destination.partition.id": "3",
            ]
            span.end()
        }
    }

    let parent = sampled.startSpan("parent")
    let context = parent.context
    Benchmark("inject traceparent") { benchmark in
        for _ in benchmark.scaledIterations {
            var headers: [(String, String)] = []
            headers.reserveCapacity(4)
            sampled.inject(context, into: &headers, using: HeaderInjector())
            blackHole(headers)
        }
    }

    var headers: [(String, String)] = []
    sampled.inject(context, into: &headers, using: HeaderInjector())
    Benchmark("extract traceparent") { benchmark in
        for _ in benchmark.scaledIterations {
            var extracted = InstrumentationContext.topLevel
            sampled.extract(headers, into: &extracted, using: HeaderExtractor())
            blackHole(extracted)
        }
    }

    // The floor under "extract": writing a span context into an empty ServiceContext allocates its
    // dictionary storage and boxes the value, whatever the tracer (swift-distributed-tracing's type).
    let extractedContext = context.spanContext!
    Benchmark("ServiceContext write of a span context (part of extract)") { benchmark in
        for _ in benchmark.scaledIterations {
            var written = InstrumentationContext.topLevel
            written.spanContext = extractedContext
            blackHole(written)
        }
    }

    Benchmark(
        "batch processor, 2 producing threads",
        configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .kilo, maxDuration: .seconds(3))
    ) { benchmark in
        // Two threads end spans concurrently into one processor; the exporter discards them.
        var configuration = BatchSpanProcessor.Configuration()
        configuration.maxQueueSize = 1_000_000
        configuration.maxExportBatchSize = 512
        let processor = BatchSpanProcessor(exporter: DiscardingExporter(), configuration: configuration)
        let tracer = SDKTracer(resource: Resource(), processor: processor, sampler: AlwaysOnSampler())
        let perThread = benchmark.scaledIterations.count / 2
        benchmark.startMeasurement()
        let group = DispatchGroup()
        for _ in 0..<2 {
            DispatchQueue.global().async(group: group) {
                for _ in 0..<perThread { tracer.startSpan("work").end() }
            }
        }
        group.wait()
        benchmark.stopMeasurement()
    }
}
