// Throughput of the Swift Kafka client, raw and traced, measured exactly as the C baseline
// (CBaseline/kafka_bench.c) measures librdkafka: same broker process, message count and size,
// timed from the first send until every delivery report (and, when sampled, every span exported).
// Run by Benchmarks/run.sh, which prints the side-by-side table.
//
//   KafkaThroughput produce SCENARIO SERVERS TOPIC COUNT SIZE [OTLP_ENDPOINT]
//       SCENARIO: raw | raw-header (a constant traceparent header on each message, no span) |
//                 traced-disabled | traced-unsampled | traced-sampled |
//                 traced-sampled-collector-down (the default 2048-span queue; spans are not
//                 waited for: with a collector that refuses or never answers, they are dropped) |
//                 root-unsampled | root-sampled (the user's path: each message sent under its own
//                 root span, `withSpan("request")`, as one request producing one message; sampled,
//                 every span exported with a 65536-span queue and batches of 4096) |
//                 root-direct-unsampled (the same root span through `tracer.withSpan` on the
//                 built-in tracer the application holds: no global tracer lookup) |
//                 floor-minimal-tracer | floor-sdk-root (the user's root span, `withSpan("request")`,
//                 around a raw send of a message carrying a constant traceparent header: the floor
//                 of the user's path for any instrumentation, under the cheapest tracer the API
//                 allows — `MinimalTracer` below — and under the built-in tracer, unsampled)
//   KafkaThroughput consume SCENARIO SERVERS TOPIC COUNT [OTLP_ENDPOINT]
//       SCENARIO: raw | traced-unsampled | traced-sampled (every span exported when an endpoint
//                 is given; without one, recorded and dropped: the export's share) |
//                 floor-minimal-tracer (the least any tracer's handler span costs through the API:
//                 the raw loop, each message's `traceparent` read, a span of `MinimalTracer`
//                 made current around a handler closure) | floor-minimal-tracer-unbound (the same
//                 without making the span current: the binding's share). Timed, like the C
//                 consumer, from the first message to the last one handled (sampled: and the spans
//                 flushed), not the close; CPU time of every thread over the same span.
//   KafkaThroughput export ROUNDS BATCH OTLP_ENDPOINT encode|send|post-nio|post-ahc-future
//       The OTLP/HTTP exporter alone, no Kafka: a batch of BATCH Kafka-like spans (8 attributes
//       each, no template) encoded, or encoded and sent, ROUNDS times one after another; CPU per
//       export. post-nio: a POST of as many bytes over one connection of SwiftNIO's with no client
//       library (the least a request costs through NIO and the kernel); post-ahc-future: the same
//       POST through AsyncHTTPClient's EventLoopFuture API.
//   KafkaThroughput process COUNT OTLP_ENDPOINT
//       The built-in tracer's pipeline alone, no Kafka: COUNT sampled spans started, given an
//       attribute, ended, batched and exported over OTLP/HTTP; CPU per span.
//   KafkaThroughput sink [hang] an OTLP/HTTP collector that accepts everything (or, with hang,
//                               reads requests and never answers); prints its port
//
// BENCH_BATCH: the export batch size of the scenarios that use the default (512, OpenTelemetry's).
//
// Each prints `result messages=N seconds=S allocations=A …` like the C program, plus the peak
// resident memory.
import BenchmarkSupport
import AsyncHTTPClient
import Foundation
import Kafka
import KafkaTracing
import Logging
import MallocInterposerSwift
import NIOCore
import NIOHTTP1
import NIOPosix
import OTLPExporter
import Synchronization
import Tracing
import TracingSDK

func usage() -> Never {
    FileHandle.standardError.write(
        Data(
            """
            usage: KafkaThroughput produce raw|raw-header|traced-disabled|traced-unsampled|traced-sampled|traced-sampled-collector-down|root-unsampled|root-sampled|root-direct-unsampled|floor-minimal-tracer|floor-sdk-root SERVERS TOPIC COUNT SIZE [OTLP_ENDPOINT]
                   KafkaThroughput consume raw|traced-unsampled|traced-sampled|floor-minimal-tracer|floor-minimal-tracer-unbound SERVERS TOPIC COUNT [OTLP_ENDPOINT]
                   KafkaThroughput export ROUNDS BATCH OTLP_ENDPOINT encode|send|post-nio|post-ahc-future
                   KafkaThroughput process COUNT OTLP_ENDPOINT
                   KafkaThroughput sink [hang]

            """.utf8
        )
    )
    exit(2)
}

let logger: Logger = {
    var logger = Logger(label: "kafka-throughput")
    logger.logLevel = .warning
    return logger
}()

/// Allocations counted process-wide (every thread, librdkafka's included) between start and stop.
enum Allocations {
    static func start() {
        MallocInterposerSwift.initialize()
        MallocInterposerSwift.hook()
    }
    static func stop() -> Int {
        MallocInterposerSwift.unhook()
        return MallocInterposerSwift.getStatistics().mallocCount
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// The built-in tracer exporting over OTLP with a queue deep enough that no span is dropped.
func makeProvider(
    sampled: Bool,
    endpoint: String?,
    count: Int,
    deepQueue: Bool = true,
    batchSize: Int = ProcessInfo.processInfo.environment["BENCH_BATCH"].flatMap { Int($0) } ?? 512
) -> TracerProvider {
    var batch = BatchSpanProcessor.Configuration()
    batch.maxQueueSize = deepQueue ? min(max(count, 2048), 1 << 20) : 2048
    batch.maxExportBatchSize = batchSize
    batch.scheduleDelay = .milliseconds(200)
    var exporters: [any SpanExporter] = []
    if let endpoint {
        exporters.append(try! OTLPHTTPExporter(configuration: .init(endpoint: endpoint, environment: [:]), logger: logger))
    }
    return TracerProvider(
        configuration: .init(
            serviceName: "kafka-throughput",
            sampler: sampled ? AlwaysOnSampler() : AlwaysOffSampler(),
            exporters: exporters,
            batch: batch,
            environment: [:]
        ),
        logger: logger
    )
}

/// CPU time the process has used so far (every thread, user and system), in seconds.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The process's peak resident memory, for the result line.
func peakMemory() -> String {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return " peak_rss_mb=\(usage.ru_maxrss / 1024)"
}

/// Span figures for the result line: exported and dropped (must be 0) when sampled.
func spanFigures(_ provider: TracerProvider?) -> String {
    guard let statistics = provider?.batchProcessor?.statistics else { return "" }
    return " spans_exported=\(statistics.exported) spans_dropped=\(statistics.droppedQueueFull + statistics.failedExport)"
}

func produce(scenario: String, servers: String, topic: String, count: Int, size: Int, endpoint: String?) async throws {
    let configuration = KafkaProducerConfiguration(bootstrapServers: [servers])
    let raw = try KafkaProducer(configuration: configuration, logger: logger)
    var provider: TracerProvider?
    switch scenario {
    case "raw", "raw-header", "traced-disabled": break  // disabled: no tracer bootstrapped, the no-op one answers
    case "traced-unsampled": provider = makeProvider(sampled: false, endpoint: endpoint, count: count)
    case "traced-sampled": provider = makeProvider(sampled: true, endpoint: endpoint, count: count)
    case "traced-sampled-collector-down":
        provider = makeProvider(sampled: true, endpoint: endpoint, count: count, deepQueue: false)
    case "root-unsampled", "root-direct-unsampled", "floor-sdk-root": provider = makeProvider(sampled: false, endpoint: endpoint, count: count)
    case "floor-minimal-tracer": InstrumentationSystem.bootstrap(MinimalTracer())
    case "root-sampled":
        // As the issue measured the demo: OTEL_BSP_MAX_QUEUE_SIZE=65536, ..._MAX_EXPORT_BATCH_SIZE=4096.
        provider = makeProvider(sampled: true, endpoint: endpoint, count: 65_536, batchSize: 4096)
    default: usage()
    }
    if let provider { InstrumentationSystem.bootstrap(provider.tracer) }
    let value = [UInt8](repeating: UInt8(ascii: "x"), count: size)
    // Connect and fetch the topic's metadata before timing, as the C producer's first message
    // does not wait for it either (librdkafka queues it).
    _ = try await raw.sendAndWait(KafkaProducerMessage(topic: topic, value: value))

    let traced = TracedProducer(wrapping: raw)
    // The floor rows' header: what a traced message carries, made once.
    let traceparentHeader = KafkaHeader(key: "traceparent", value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
    let start = ContinuousClock.now
    let cpuStart = cpuSeconds()
    Allocations.start()
    if scenario == "raw" {
        for _ in 0..<count {
            try await raw.send(KafkaProducerMessage(topic: topic, value: value))
        }
    } else if scenario == "raw-header" {
        // What librdkafka and the raw client pay for the header alone, with no span at all.
        for _ in 0..<count {
            try await raw.send(KafkaProducerMessage(topic: topic, value: value, headers: [traceparentHeader]))
        }
    } else if scenario.hasPrefix("floor-") {
        // What any instrumentation of this path has to do at the least: the user's span (its
        // tracer found, started, made current), and the message sent with its trace header.
        for _ in 0..<count {
            try await withSpan("request") { _ in
                try await raw.send(KafkaProducerMessage(topic: topic, value: value, headers: [traceparentHeader]))
            }
        }
    } else if scenario == "root-direct-unsampled", let tracer = provider?.tracer {
        // The way around the global function's tracer lookup: the application holds the tracer.
        for _ in 0..<count {
            try await tracer.withSpan("request") { _ in
                try await traced.send(KafkaProducerMessage(topic: topic, value: value))
            }
        }
    } else if scenario.hasPrefix("root-") {
        for _ in 0..<count {
            try await withSpan("request") { _ in
                try await traced.send(KafkaProducerMessage(topic: topic, value: value))
            }
        }
    } else {
        for _ in 0..<count {
            try await traced.send(KafkaProducerMessage(topic: topic, value: value))
        }
    }
    await raw.flush()
    if scenario != "traced-sampled-collector-down" { await provider?.forceFlush() }
    let allocations = Allocations.stop()
    let elapsed = ContinuousClock.now - start
    let cpu = cpuSeconds() - cpuStart
    let statistics = raw.statistics
    print(
        "result messages=\(count) seconds=\(seconds(elapsed)) allocations=\(allocations) cpu_seconds=\(cpu) delivered=\(statistics.delivered - 1) failed=\(statistics.failed)"
            + spanFigures(provider) + peakMemory()
    )
    await raw.close()
    await provider?.shutdown()
}

func consume(scenario: String, servers: String, topic: String, count: Int, endpoint: String?) async throws {
    let configuration = KafkaConsumerConfiguration(
        bootstrapServers: [servers],
        groupID: "swift-\(scenario)-\(getpid())",
        topics: [topic],
        autoOffsetReset: .earliest
    )
    var provider: TracerProvider?
    var received = 0
    var start = ContinuousClock.now
    // Like the C consumer, from the first message to the last one handled: closing (commit,
    // leaving the group) is not part of the rate.
    var end: ContinuousClock.Instant?
    var allocations = 0
    // CPU time over the same span (all threads: poll thread, handlers, exporter).
    var cpuStart = 0.0
    var cpuEnd: Double?
    switch scenario {
    case "raw", "floor-minimal-tracer", "floor-minimal-tracer-unbound":
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        // The floor rows: what a traced handler costs at the least through
        // swift-distributed-tracing, whatever the tracer: the producer's context found in the
        // headers (here only read: the minimal tracer parses nothing), a span started and made
        // current for the handler (the task-local binding), the handler called as a closure, the
        // span ended. The tracer is held (no lookup) and records nothing.
        let floor = scenario != "raw"
        let bindsSpan = scenario == "floor-minimal-tracer"
        let tracer = MinimalTracer()
        let seen = Atomic<Int>(0)
        let handler: @Sendable (KafkaConsumerMessage) async throws -> Void = { _ in seen.add(1, ordering: .relaxed) }
        for try await message in consumer.messages {
            if received == 0 {
                start = .now
                cpuStart = cpuSeconds()
                Allocations.start()
            }
            if floor {
                var context = ServiceContext.topLevel
                if message.headerValue(forKey: "traceparent") != nil {
                    tracer.extract(message, into: &context, using: KafkaConsumerMessageExtractor())
                }
                let span = tracer.startSpan("process bench", context: context, ofKind: .consumer)
                if bindsSpan {
                    try await ServiceContext.withValue(span.context) { try await handler(message) }
                } else {
                    // Not a design anyone can ship (the handler would not see its span as
                    // current): measures what the task-local binding costs of the floor.
                    try await handler(message)
                }
                span.end()
            }
            received += 1
            if received == count {
                end = .now
                cpuEnd = cpuSeconds()
                allocations = Allocations.stop()
                break
            }
        }
        await consumer.close()
    case "traced-sampled", "traced-unsampled":
        let tracing = makeProvider(sampled: scenario == "traced-sampled", endpoint: endpoint, count: count)
        provider = tracing
        InstrumentationSystem.bootstrap(tracing.tracer)
        let consumer = try TracedConsumer(configuration: configuration, logger: logger)
        let seen = Atomic<Int>(0)
        let began = Mutex<(ContinuousClock.Instant, Double)?>(nil)
        let ended = Mutex<(ContinuousClock.Instant, Int, Double)?>(nil)
        try await consumer.run { _ in
            let seenNow = seen.add(1, ordering: .relaxed).newValue
            if seenNow == 1 {
                began.withLock { $0 = (.now, cpuSeconds()) }
                Allocations.start()
            }
            if seenNow == count {
                // The spans exported (all but this handler's own) are part of the cost, as the
                // producer rows flush theirs.
                await tracing.forceFlush()
                ended.withLock { $0 = (.now, Allocations.stop(), cpuSeconds()) }
                consumer.consumer.requestClose()
            }
        }
        received = seen.load(ordering: .relaxed)
        if let (instant, cpu) = began.withLock({ $0 }) { (start, cpuStart) = (instant, cpu) }
        if let (instant, counted, cpu) = ended.withLock({ $0 }) { (end, allocations, cpuEnd) = (instant, counted, cpu) }
        await tracing.forceFlush()
    default:
        usage()
    }
    if end == nil { allocations = Allocations.stop() }
    let elapsed = (end ?? .now) - start
    let cpu = (cpuEnd ?? cpuSeconds()) - cpuStart
    print(
        "result messages=\(received) seconds=\(seconds(elapsed)) allocations=\(allocations) cpu_seconds=\(cpu)"
            + spanFigures(provider) + peakMemory()
    )
    await provider?.shutdown()
}

/// The cheapest tracer swift-distributed-tracing's API allows: its span records nothing and
/// holds only the context it makes current (the context it started in, with the span in it: the
/// one `ServiceContext` write any tracer needs so that child spans and injection find the span).
/// Under it, `withSpan` costs what the API itself costs: finding the tracer, the existential
/// span, the context write and the task-local binding.
final class MinimalTracer: Tracer {
    final class MinimalSpan: Tracing.Span {
        private enum Key: ServiceContextKey { typealias Value = MinimalSpan }
        private let parent: ServiceContext
        init(parent: ServiceContext) { self.parent = parent }
        var context: ServiceContext {
            var context = self.parent
            context[Key.self] = self
            return context
        }
        var operationName: String {
            get { "" }
            set {}
        }
        var attributes: SpanAttributes {
            get { [:] }
            set {}
        }
        var isRecording: Bool { false }
        func setStatus(_ status: SpanStatus) {}
        func addEvent(_ event: SpanEvent) {}
        func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {}
        func addLink(_ link: SpanLink) {}
        func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {}
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> MinimalSpan {
        MinimalSpan(parent: context())
    }

    func forceFlush() {}
    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {}
    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {}
}

/// An OTLP/HTTP collector that answers 200 to everything, as fast as it can (or never answers),
/// until stdin closes; prints its port.
func sink(hangs: Bool) async throws {
    let (channel, port) = try await startOTLPHTTPSink(hangs: hangs)
    FileHandle.standardOutput.write(Data("\(port)\n".utf8))
    while let line = readLine(strippingNewline: false), !line.isEmpty {}
    try await channel.close()
}


/// An OTLP/HTTP exporter to `endpoint`, and a batch of `batchSize` Kafka-like spans for it.
func exportFixture(batchSize: Int, endpoint: String) throws -> (exporter: OTLPHTTPExporter, batch: [FinishedSpan]) {
    let resource = Resource.detected()
    let batch = (0..<batchSize).map { kafkaSpan($0, resource: resource) }
    return (try OTLPHTTPExporter(configuration: .init(endpoint: endpoint, environment: [:]), logger: logger), batch)
}

/// CPU per OTLP/HTTP export of `batchSize` spans (encoded only, or sent), `rounds` times.
func exportLoop(rounds: Int, batchSize: Int, endpoint: String, sends: Bool) async throws {
    let (exporter, batch) = try exportFixture(batchSize: batchSize, endpoint: endpoint)
    try await exporter.export(batch)  // (the connection made)
    try await measureExports(rounds: rounds, batchSize: batchSize) {
        if sends {
            try await exporter.export(batch)
        } else {
            _ = try exporter.encodeForBenchmark(batch)
        }
    }
}

/// Runs `export` `rounds` times and prints the CPU time, allocations and CPU per export.
func measureExports(rounds: Int, batchSize: Int, _ export: () async throws -> Void) async throws {
    let cpuStart = cpuSeconds()
    let start = ContinuousClock.now
    Allocations.start()
    for _ in 0..<rounds { try await export() }
    let allocations = Allocations.stop()
    let elapsed = ContinuousClock.now - start
    let cpu = cpuSeconds() - cpuStart
    print(
        "result messages=\(rounds * batchSize) seconds=\(seconds(elapsed)) allocations=\(allocations) cpu_seconds=\(cpu)"
            + " cpu_us_per_export=\(cpu / Double(rounds) * 1e6)"
    )
}

/// The size of the request body `export … send` sends for `batchSize` spans.
func exportBodySize(batchSize: Int, endpoint: String) throws -> Int {
    let (exporter, batch) = try exportFixture(batchSize: batchSize, endpoint: endpoint)
    return try exporter.encodeForBenchmark(batch)
}

/// The same request as `export … send` (a POST of the same number of bytes to the same
/// collector), over one HTTP/1.1 connection of SwiftNIO's with no client library: what a request
/// costs at the least through NIO and the kernel on this machine, `rounds` times one after another.
func postLoop(rounds: Int, batchSize: Int, endpoint: String) async throws {
    let bodySize = try exportBodySize(batchSize: batchSize, endpoint: endpoint)
    guard let url = URL(string: endpoint), let host = url.host, let port = url.port else { usage() }

    final class ResponseWaiter: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        var pending: EventLoopPromise<Void>?
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .end = self.unwrapInboundIn(data) { self.pending?.succeed(); self.pending = nil }
        }
    }
    let waiter = ResponseWaiter()
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
            channel.pipeline.addHTTPClientHandlers().flatMap { channel.pipeline.addHandler(waiter) }
        }
        .connect(host: host, port: port)
        .get()
    let body = ByteBuffer(repeating: 0x2A, count: bodySize)
    var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: url.path)
    head.headers.add(name: "Host", value: "\(host):\(port)")
    head.headers.add(name: "Content-Type", value: "application/x-protobuf")
    head.headers.add(name: "Content-Length", value: "\(bodySize)")
    func post() async throws {
        let done = channel.eventLoop.makePromise(of: Void.self)
        channel.eventLoop.execute {
            waiter.pending = done
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        try await done.futureResult.get()
    }
    try await post()  // (the connection made)
    try await measureExports(rounds: rounds, batchSize: batchSize, post)
    try await channel.close()
}

struct CollectorRefused: Error {
    var status: UInt
}

/// The same POST through AsyncHTTPClient's EventLoopFuture API (`HTTPClient.Request`, the body
/// in one buffer), for comparison with the async API the exporter uses.
func postFutureLoop(rounds: Int, batchSize: Int, endpoint: String) async throws {
    let bodySize = try exportBodySize(batchSize: batchSize, endpoint: endpoint)
    let body = ByteBuffer(repeating: 0x2A, count: bodySize)
    var configuration = HTTPClient.Configuration()
    configuration.tracing.tracer = nil
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    func post() async throws {
        var request = try HTTPClient.Request(url: endpoint, method: .POST)
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        request.body = .byteBuffer(body)
        let response = try await client.execute(request: request, deadline: .now() + .seconds(10)).get()
        guard response.status == .ok else { throw CollectorRefused(status: response.status.code) }
    }
    try await post()  // (the connection made)
    try await measureExports(rounds: rounds, batchSize: batchSize, post)
    try await client.shutdown()
}

/// CPU per span started, ended and exported by the built-in tracer's batch processor over
/// OTLP/HTTP (the default batch size unless BENCH_BATCH says otherwise).
func processLoop(count: Int, endpoint: String) async throws {
    let provider = makeProvider(sampled: true, endpoint: endpoint, count: count)
    let tracer = provider.tracer
    let cpuStart = cpuSeconds()
    let start = ContinuousClock.now
    Allocations.start()
    for index in 0..<count {
        let span = tracer.startSpan("process orders", ofKind: .consumer)
        span.attributes["messaging.kafka.offset"] = index
        span.end()
        if index % 64 == 0 { await Task.yield() }
    }
    await provider.forceFlush()
    let allocations = Allocations.stop()
    let elapsed = ContinuousClock.now - start
    let cpu = cpuSeconds() - cpuStart
    print("result messages=\(count) seconds=\(seconds(elapsed)) allocations=\(allocations) cpu_seconds=\(cpu)" + spanFigures(provider))
    await provider.shutdown()
}

let arguments = CommandLine.arguments
switch (arguments.count > 1 ? arguments[1] : "", arguments.count) {
case ("produce", 7), ("produce", 8):
    guard let count = Int(arguments[5]), let size = Int(arguments[6]) else { usage() }
    try await produce(
        scenario: arguments[2],
        servers: arguments[3],
        topic: arguments[4],
        count: count,
        size: size,
        endpoint: arguments.count == 8 ? arguments[7] : nil
    )
case ("consume", 6), ("consume", 7):
    guard let count = Int(arguments[5]) else { usage() }
    try await consume(scenario: arguments[2], servers: arguments[3], topic: arguments[4], count: count, endpoint: arguments.count == 7 ? arguments[6] : nil)
case ("export", 6):
    guard let rounds = Int(arguments[2]), let batchSize = Int(arguments[3]), ["encode", "send", "post-nio", "post-ahc-future"].contains(arguments[5]) else { usage() }
    if arguments[5] == "post-nio" {
        try await postLoop(rounds: rounds, batchSize: batchSize, endpoint: arguments[4])
    } else if arguments[5] == "post-ahc-future" {
        try await postFutureLoop(rounds: rounds, batchSize: batchSize, endpoint: arguments[4])
    } else {
        try await exportLoop(rounds: rounds, batchSize: batchSize, endpoint: arguments[4], sends: arguments[5] == "send")
    }
case ("process", 4):
    guard let count = Int(arguments[2]) else { usage() }
    try await processLoop(count: count, endpoint: arguments[3])
case ("sink", 2):
    try await sink(hangs: false)
case ("sink", 3) where arguments[2] == "hang":
    try await sink(hangs: true)
default:
    usage()
}
