import Benchmark
import BenchmarkSupport
import Foundation
import Kafka
import KafkaTracing
@_spi(Benchmarks) import KafkaTracing
import Logging
import Metrics
import MetricsSDK
import Tracing
import TracingSDK

// The cost of one send, raw and traced, in time and allocations, in steady state: librdkafka's
// queue fills, so every send also pays for the delivery work it causes. The broker is the one at
// KAFKA_BOOTSTRAP_SERVERS (run.sh starts one as its own process), else an embedded one.
// Side-by-side throughput with the C baseline comes from KafkaThroughput and run.sh.

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 200
    )
    var logger = Logger(label: "kafka-benchmarks")
    logger.logLevel = .error

    let embedded: EmbeddedKafkaBroker?
    let servers: String
    if let external = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"], !external.isEmpty {
        embedded = nil
        servers = external
    } else {
        embedded = try! EmbeddedKafkaBroker(brokers: 1, logger: logger)
        servers = embedded!.bootstrapServers
    }
    let topic = "kafka-benchmarks-\(getpid())"
    try? embedded?.createTopic(topic, partitions: 4)
    let producer = try! KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: [servers]), logger: logger)
    let traced = TracedProducer(wrapping: producer)
    let value = [UInt8](repeating: UInt8(ascii: "x"), count: 100)
    let message = KafkaProducerMessage(topic: topic, value: value)

    func tracer(sampled: Bool) -> SDKTracer {
        var batch = BatchSpanProcessor.Configuration()
        batch.maxQueueSize = 1 << 18
        return TracerProvider(
            configuration: .init(
                serviceName: "benchmarks",
                sampler: sampled ? AlwaysOnSampler() : AlwaysOffSampler(),
                exporters: [DiscardingExporter()],
                batch: batch,
                environment: [:]
            ),
            logger: logger
        ).tracer
    }
    let unsampled = tracer(sampled: false)
    let sampled = tracer(sampled: true)
    // Sampled, recording spans that go nowhere: the tracer's own work without an export thread
    // competing for the two cores (for rows that compare tens of nanoseconds).
    let recordingOnly = TracerProvider(
        configuration: .init(serviceName: "benchmarks", sampler: AlwaysOnSampler(), exporters: [], environment: [:]),
        logger: logger
    ).tracer

    Benchmark("producer send, raw", configuration: .init(setup: { _ = try await producer.sendAndWait(message) })) { benchmark in
        for _ in benchmark.scaledIterations {
            try await producer.send(message)
        }
    }
    Benchmark("TracedProducer send, tracing disabled (no-op tracer)") { benchmark in
        for _ in benchmark.scaledIterations {
            try await traced.send(message)
        }
    }
    Benchmark("TracedProducer send, unsampled") { benchmark in
        try await withTracer(unsampled) {
            for _ in benchmark.scaledIterations {
                try await traced.send(message)
            }
        }
    }
    // The messaging metrics' own cost (issue: ≤ 100 ns per message over the traced path): the
    // same send with a metrics backend that only counts; the difference between the two rows.
    // (A producer's instruments come from the factory in force when it is made.)
    let metered = withMetricsFactory(CountingMetricsFactory()) {
        TracedProducer(
            wrapping: try! KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: [servers]), logger: logger)
        )
    }
    Benchmark("TracedProducer send, unsampled, with messaging metrics") { benchmark in
        try await withTracer(unsampled) {
            for _ in benchmark.scaledIterations {
                try await metered.send(message)
            }
        }
    }
    // The same with the built-in pipeline as the backend (what `TelemetryProvider` installs): the
    // user's path, each delivery report recorded into its series (a counter and a histogram).
    let meters = MeterProvider(configuration: .init(exporters: [], environment: [:]))
    let builtIn = withMetricsFactory(meters) {
        TracedProducer(
            wrapping: try! KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: [servers]), logger: logger)
        )
    }
    Benchmark("TracedProducer send, unsampled, with messaging metrics (MetricsSDK)") { benchmark in
        try await withTracer(unsampled) {
            for _ in benchmark.scaledIterations {
                try await builtIn.send(message)
            }
        }
    }
    // Two tasks sending at once: the metrics add no lock that they contend on.
    for (producer, suffix) in [(traced, ""), (metered, ", with messaging metrics"), (builtIn, ", with messaging metrics (MetricsSDK)")] {
        Benchmark("TracedProducer send, unsampled, two tasks\(suffix)") { benchmark in
            let perTask = benchmark.scaledIterations.count / 2
            try await withTracer(unsampled) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<2 {
                        group.addTask {
                            for _ in 0..<perTask {
                                try await producer.send(message)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
    // The metrics' per-message work alone, by the instrumentation's own code (no broker, so no
    // librdkafka noise): what a delivery report and a handled message each add, recorded into the
    // built-in pipeline. Two tasks record into the same series at once, the worst case for
    // contention; cpuTotal per iteration is the CPU each message costs, both threads counted.
    let deliveryProbe = withMetricsFactory(meters) { MessagingMetricsProbe()! }
    let consumerProbe = withMetricsFactory(meters) { MessagingMetricsProbe(consumerGroup: "benchmarks")! }
    let handled = [
        KafkaConsumerMessage(
            topic: topic,
            partition: 0,
            offset: 0,
            key: nil,
            value: value,
            timestamp: KafkaTimestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000), kind: .createTime)
        )
    ]
    for tasks in [1, 2] {
        let suffix = tasks == 1 ? "" : ", two tasks"
        Benchmark("messaging metrics alone: one delivery report (MetricsSDK)\(suffix)") { benchmark in
            let perTask = benchmark.scaledIterations.count / tasks
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<tasks {
                    group.addTask {
                        for index in 0..<perTask {
                            deliveryProbe.delivered(topic: topic, topicIdentity: 1, partition: Int32(index & 3), latencyMicroseconds: 900)
                        }
                    }
                }
            }
        }
        Benchmark("messaging metrics alone: one handled message (MetricsSDK)\(suffix)") { benchmark in
            let perTask = benchmark.scaledIterations.count / tasks
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<tasks {
                    group.addTask {
                        var probe = consumerProbe  // this task's own loop, as each of TracedConsumer's
                        for _ in 0..<perTask { probe.processed(handled) }
                    }
                }
            }
        }
        // The metrics' cost over the sampled traced path: the consumer's process span alone (the
        // tracer reading its own clock), then the same span with the metrics, timed as
        // TracedConsumer times it (the tracer takes the metrics' clock readings). The difference is
        // what the metrics add to a traced message.
        Benchmark("consumer process span alone, sampled (no exporter)\(suffix)") { benchmark in
            let perTask = benchmark.scaledIterations.count / tasks
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<tasks {
                    group.addTask {
                        for _ in 0..<perTask { MessagingMetricsProbe.span(of: recordingOnly) }
                    }
                }
            }
        }
        Benchmark("consumer process span + messaging metrics, sampled (no exporter; MetricsSDK)\(suffix)") { benchmark in
            let perTask = benchmark.scaledIterations.count / tasks
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<tasks {
                    group.addTask {
                        var probe = consumerProbe
                        for _ in 0..<perTask { probe.processed(handled, inSpanOf: recordingOnly) }
                    }
                }
            }
        }
    }
    Benchmark("TracedProducer send, sampled (spans discarded)") { benchmark in
        try await withTracer(sampled) {
            for _ in benchmark.scaledIterations {
                try await traced.send(message)
            }
        }
    }
}
