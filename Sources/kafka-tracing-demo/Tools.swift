import ArgumentParser
import Foundation
import Kafka
import KafkaTracing
import Logging
import OTLPExporter
import ServiceLifecycle
import Tracing
import TracingSDK

/// What the produce, consume and relay commands share: where Kafka is, and how traces leave.
struct ClientOptions: ParsableArguments {
    @Option(help: "Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS, else localhost:9092).")
    var bootstrapServers: String?

    @Option(help: "OTLP endpoint, such as http://localhost:4318, or http://localhost:4317 with OTEL_EXPORTER_OTLP_PROTOCOL=grpc (default: OTEL_EXPORTER_OTLP_ENDPOINT; traces are printed either way).")
    var otlpEndpoint: String?

    @Option(help: "service.name of this tool's spans (default: OTEL_SERVICE_NAME, else the command's name).")
    var serviceName: String?

    @Option(help: "How many traces to print as trees; the rest are counted in one line at the end.")
    var printedTraces: Int = 20

    @Option(
        name: .customLong("kafka-property"),
        help: "A librdkafka property for the Kafka clients, key=value; repeat for more (e.g. security.protocol=ssl)."
    )
    var kafkaProperties: [String] = []

    /// The `--kafka-property` values.
    var properties: [String: String] {
        Dictionary(
            self.kafkaProperties.compactMap { text -> (String, String)? in
                guard let equals = text.firstIndex(of: "=") else { return nil }
                return (String(text[..<equals]), String(text[text.index(after: equals)...]))
            },
            uniquingKeysWith: { $1 }
        )
    }

    /// The tools' producer: these servers and properties.
    var producerConfiguration: KafkaProducerConfiguration {
        KafkaProducerConfiguration(bootstrapServers: self.servers, clientID: "kafka-tracing-demo", properties: self.properties)
    }

    /// The tools' consumer of `topic` in `group`: these servers and properties.
    func consumerConfiguration(group: String, topic: String, offsetReset: KafkaAutoOffsetReset = .earliest) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(
            bootstrapServers: self.servers,
            groupID: group,
            topics: [topic],
            clientID: "kafka-tracing-demo",
            autoOffsetReset: offsetReset,
            properties: self.properties
        )
    }

    func validate() throws {
        guard self.printedTraces >= 0 else { throw ValidationError("--printed-traces must be 0 or more") }
        for text in self.kafkaProperties where !text.contains("=") || text.hasPrefix("=") {
            throw ValidationError("--kafka-property takes key=value, not \(text)")
        }
    }

    var servers: [String] {
        let value = self.bootstrapServers ?? ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"] ?? "localhost:9092"
        return value.split(separator: ",").map { String($0) }
    }

    /// A tracer provider printing traces, and exporting them over OTLP when an endpoint is set.
    func makeProvider(defaultServiceName: String, logger: Logger) async throws -> TracerProvider {
        try await makeDemoProvider(
            serviceName: self.serviceName ?? ProcessInfo.processInfo.environment["OTEL_SERVICE_NAME"] ?? defaultServiceName,
            otlpEndpoint: self.otlpEndpoint,
            printedTraces: self.printedTraces,
            logger: logger
        )
    }
}

func quietLogger() -> Logger {
    var logger = Logger(label: "kafka-tracing-demo")
    logger.logLevel = .warning
    return logger
}

struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send messages, each under its own root span, with the pipelined (non-waiting) send."
    )

    @OptionGroup var client: ClientOptions
    @Option(help: "Topic to send to.") var topic: String
    @Option(help: "How many messages.") var count: Int = 10
    @Option(help: "Value size in bytes.") var size: Int = 100
    @Option(help: "Message key (default: none).") var key: String?
    @Option(help: "Messages per second at most (default: as fast as possible).") var rate: Int?

    func validate() throws {
        guard self.count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard self.size >= 0 else { throw ValidationError("--size must be 0 or more") }
        if let rate { guard rate >= 1 else { throw ValidationError("--rate must be at least 1") } }
    }

    func run() async throws {
        let logger = quietLogger()
        let provider = try await self.client.makeProvider(defaultServiceName: "kafka-tracing-demo-produce", logger: logger)
        let producer = try TracedProducer(
            configuration: self.client.producerConfiguration,
            logger: logger
        )
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: self.size)
        let start = ContinuousClock.now
        try await withTracer(provider.tracer) {
            for index in 0..<self.count {
                try await withSpan("produce \(index)") { _ in
                    try await producer.send(KafkaProducerMessage(topic: self.topic, key: self.key, value: value))
                }
                if let rate = self.rate, index % 100 == 99 {
                    // Pace in steps of 100 messages.
                    let due = start + .seconds(Double(index + 1) / Double(rate))
                    if due > .now { try await Task.sleep(until: due) }
                }
                if self.count >= 100_000, index > 0, index % 100_000 == 0 {
                    FileHandle.standardError.write("… \(index) messages enqueued\n".data(using: .utf8)!)
                }
            }
        }
        await producer.close()
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        await provider.shutdown()
        let statistics = producer.statistics
        print("Sent \(statistics.delivered) of \(self.count) messages to \(self.topic) (\(statistics.failed) failed) in \(String(format: "%.2f", seconds)) s: \(Int(Double(self.count) / seconds)) messages/s")
        if statistics.failed > 0 { throw ExitCode.failure }
    }
}

struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read messages with a traced handler; exit after --count.")

    @OptionGroup var client: ClientOptions
    @Option(help: "Topic to read.") var topic: String
    @Option(help: "Consumer group.") var group: String
    @Option(help: "How many messages to read before exiting.") var count: Int = 10
    @Option(help: "Where a new group starts: earliest or latest.") var offsetReset: String = "earliest"

    func validate() throws {
        guard self.count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard ["earliest", "latest"].contains(self.offsetReset) else {
            throw ValidationError("--offset-reset must be earliest or latest, not \(self.offsetReset)")
        }
    }

    func run() async throws {
        let logger = quietLogger()
        let provider = try await self.client.makeProvider(defaultServiceName: "kafka-tracing-demo-consume", logger: logger)
        let consumer = try TracedConsumer(
            configuration: self.client.consumerConfiguration(
                group: self.group,
                topic: self.topic,
                offsetReset: self.offsetReset == "latest" ? .latest : .earliest
            ),
            logger: logger
        )
        let seen = Counter()
        let target = self.count
        try await withTracer(provider.tracer) {
            try await consumer.run { message in
                print("\(message.topic)[\(message.partition)]@\(message.offset) key=\(message.keyString ?? "-") \(message.value?.count ?? 0) bytes")
                seen.increment()
                if seen.value >= target { consumer.consumer.requestClose() }
            }
        }
        await provider.shutdown()
    }
}

struct Relay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A traced hop: consume --from and re-produce each message (key, value, non-trace headers) to --to.",
        discussion: """
            Runs as a ServiceLifecycle service group: on SIGTERM or SIGINT it stops fetching, \
            finishes the message in hand, commits its offsets, delivers what it produced, exports \
            every span, and exits 0.
            """
    )

    @OptionGroup var client: ClientOptions
    @Option(help: "Topic to read.") var from: String
    @Option(help: "Topic to write.") var to: String
    @Option(help: "Consumer group.") var group: String
    @Option(help: "Stop after this many messages (default: run until interrupted).") var count: Int?
    @Option(help: "Simulated work per message, in milliseconds.") var workMs: Int = 0
    @Option(help: "Partitions relayed at once (each partition stays in order).") var partitionConcurrency: Int = 1

    func validate() throws {
        if let count { guard count >= 1 else { throw ValidationError("--count must be at least 1") } }
        guard self.workMs >= 0 else { throw ValidationError("--work-ms must be 0 or more") }
        guard self.partitionConcurrency >= 1 else { throw ValidationError("--partition-concurrency must be at least 1") }
    }

    func run() async throws {
        let logger = quietLogger()
        let provider = try await self.client.makeProvider(defaultServiceName: "kafka-tracing-demo-relay", logger: logger)
        let producer = try TracedProducer(
            configuration: self.client.producerConfiguration,
            logger: logger
        )
        let consumer = try TracedConsumer(
            configuration: self.client.consumerConfiguration(group: self.group, topic: self.from),
            logger: logger
        )
        let relayed = Counter()
        let limit = self.count
        let destination = self.to
        let work = Duration.milliseconds(self.workMs)
        let concurrency = self.partitionConcurrency
        let relay = HandlerService(tracer: provider.tracer) {
            try await consumer.run(partitionConcurrency: concurrency) { message in
                if work > .zero { try await Task.sleep(for: work) }
                // The new message's trace headers come from this processing span, so the trace continues.
                _ = try await producer.sendAndWait(
                    KafkaProducerMessage(
                        topic: destination,
                        key: message.key,
                        value: message.value,
                        headers: message.headers.filter { !["traceparent", "tracestate", "baggage"].contains($0.key) }
                    )
                )
                relayed.increment()
                if let limit, relayed.value >= limit { consumer.consumer.requestClose() }
            }
        }
        // Shut down in reverse order: the relay stops first, then the producer delivers what it
        // has, then the spans are exported.
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: provider),
                .init(service: producer),
                .init(service: relay, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = .seconds(30)
        try await ServiceGroup(configuration: configuration).run()
        print("Relayed \(relayed.value) messages from \(self.from) to \(self.to).")
        print(spanSummary(provider))
    }
}

/// `Spans: N started, N ended, E exported, D dropped`: what the tracer did, for scripts.
func spanSummary(_ provider: TracerProvider) -> String {
    let statistics = provider.batchProcessor?.statistics
    let exported = statistics?.exported ?? 0
    let dropped = (statistics?.droppedQueueFull ?? 0) + (statistics?.failedExport ?? 0)
    return "Spans: \(provider.spanCounts), \(exported) exported, \(dropped) dropped"
}

/// Runs a consumer loop as a ServiceLifecycle service, with a tracer.
struct HandlerService: Service {
    let tracer: SDKTracer
    let body: @Sendable () async throws -> Void

    func run() async throws {
        try await withTracer(self.tracer) { try await self.body() }
    }
}

struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an embedded Kafka broker as its own process (for the other commands and benchmarks); stop it with Ctrl-C."
    )

    @Option(help: "Topics to create, comma-separated.") var topics: String = ""
    @Option(help: "Partitions per topic.") var partitions: Int = 4
    @Option(help: "Stop by itself after this many seconds (default: run until interrupted).") var seconds: Int?

    func run() async throws {
        let broker = try EmbeddedKafkaBroker(brokers: 1, logger: quietLogger())
        for topic in self.topics.split(separator: ",") where !topic.isEmpty {
            try broker.createTopic(String(topic), partitions: self.partitions)
        }
        FileHandle.standardOutput.write((broker.bootstrapServers + "\n").data(using: .utf8)!)
        let deadline = self.seconds.map { ContinuousClock.now + .seconds($0) }
        while deadline.map({ ContinuousClock.now < $0 }) ?? true {
            try await Task.sleep(for: .milliseconds(200))
        }
        broker.shutdown()
    }
}
