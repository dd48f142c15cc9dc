import Benchmark
import Dispatch
import BenchmarkSupport
import Logging
import OTLPExporter
import OTLPGRPCExporter
import Tracing
import TracingSDK

let benchmarks: @Sendable () -> Void = {
    let resource = Resource.detected()
    let batch = (0..<512).map { kafkaSpan($0, resource: resource) }
    let exporter = try! OTLPHTTPExporter(configuration: .init(environment: [:]))

    Benchmark(
        "OTLP protobuf encoding, 512-span batch (8 attributes each)",
        configuration: .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput], maxDuration: .seconds(3))
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try exporter.encodeForBenchmark(batch))
        }
    }

    // The same spans as one tracer makes them: sharing its resource and scope by reference (the
    // batch above gives each span its own, the worst case for grouping spans by them).
    let prototype = kafkaSpan(0, resource: resource)
    let oneTracersBatch = batch.map { span in
        var shared = prototype
        shared.spanContext = span.spanContext
        shared.startNanosecondsSinceEpoch = span.startNanosecondsSinceEpoch
        shared.endNanosecondsSinceEpoch = span.endNanosecondsSinceEpoch
        shared.attributes = span.attributes
        return shared
    }
    Benchmark(
        "OTLP protobuf encoding, 512-span batch (8 attributes each), spans of one tracer",
        configuration: .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput], maxDuration: .seconds(3))
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try exporter.encodeForBenchmark(oneTracersBatch))
        }
    }

    // Spans/s exported over gRPC and over HTTP, by the same batch processor, to collectors on
    // loopback that accept everything: each iteration ends 4096 spans (each a copy of the batch's
    // spans) into a BatchSpanProcessor and flushes it; the throughput row × 4096 is spans/s.
    var quiet = Logger(label: "otlp-benchmarks")
    quiet.logLevel = .error
    let (httpSink, httpPort) = try! awaitSync { try await startOTLPHTTPSink() }
    let (grpcSink, grpcPort) = try! awaitSync { try await startOTLPGRPCSink() }
    _ = (httpSink, grpcSink)  // (serving until the process ends)
    let transports: [(String, any SpanExporter)] = [
        ("HTTP", try! OTLPHTTPExporter(configuration: .init(endpoint: "http://127.0.0.1:\(httpPort)/v1/traces", environment: [:]), logger: quiet)),
        ("gRPC", try! OTLPGRPCExporter(configuration: .init(endpoint: "http://127.0.0.1:\(grpcPort)", environment: [:]), logger: quiet)),
    ]
    let spans = (0..<4096).map { kafkaSpan($0, resource: resource) }
    for (name, exporter) in transports {
        var batchConfiguration = BatchSpanProcessor.Configuration()
        batchConfiguration.maxQueueSize = 8192
        batchConfiguration.maxExportBatchSize = 512
        let processor = BatchSpanProcessor(exporter: exporter, configuration: batchConfiguration, logger: quiet)
        Benchmark(
            "OTLP/\(name) export through the batch processor, 4096 spans per iteration",
            configuration: .init(metrics: [.wallClock, .cpuTotal, .throughput], maxDuration: .seconds(3), maxIterations: 100)
        ) { benchmark in
            for _ in benchmark.scaledIterations {
                for span in spans { processor.onEnd(span) }
                await processor.forceFlush()
            }
            // Every span must have been exported: a drop or a failed export would flatter the row.
            let statistics = processor.statistics
            precondition(statistics.droppedQueueFull == 0 && statistics.failedExport == 0, "spans lost: \(statistics)")
        }
    }
}

/// Runs async setup from the synchronous benchmark registration.
private func awaitSync<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

private final class ResultBox<T>: @unchecked Sendable {  // (written before the semaphore is signalled)
    var result: Result<T, any Error>?
}
