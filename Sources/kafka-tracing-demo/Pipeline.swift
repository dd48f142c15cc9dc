import ArgumentParser
import Foundation
import Kafka
import KafkaTracing
import Locking
import Logging
import MetricsSDK
import CoreMetrics
import OTLPExporter
import Tracing
import TracingSDK

/// The seed's order flow in one process: frontend → order-service → `orders` → inventory-service →
/// `payments` → payment-service, each service under its own `service.name`.
struct Pipeline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the order pipeline and print each trace as a tree.",
        discussion: """
            Runs on an embedded Kafka broker unless --bootstrap-servers (or KAFKA_BOOTSTRAP_SERVERS) \
            names a cluster. Traces are printed as trees; with --otlp-endpoint (or \
            OTEL_EXPORTER_OTLP_ENDPOINT) they are also exported over OTLP/HTTP, or OTLP/gRPC with \
            OTEL_EXPORTER_OTLP_PROTOCOL=grpc, for example to the Jaeger of docker-compose.yml.
            """
    )

    @Option(help: "How many orders to place.")
    var orders: Int = 3

    @Option(help: "Make one order in N fail payment (0: none fail).")
    var failEvery: Int = 3

    @Option(help: "Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS, else an embedded broker).")
    var bootstrapServers: String?

    @Option(help: "OTLP endpoint, such as http://localhost:4318, or http://localhost:4317 with OTEL_EXPORTER_OTLP_PROTOCOL=grpc (default: OTEL_EXPORTER_OTLP_ENDPOINT).")
    var otlpEndpoint: String?

    @Option(help: "How many traces to print as trees; the rest are counted in one line at the end.")
    var printedTraces: Int = 20

    @Option(help: "Appended to the topic names (orders, payments, payments-dlq), to run several pipelines on one cluster.")
    var topicSuffix: String = ""

    func validate() throws {
        guard self.orders >= 1 else { throw ValidationError("--orders must be at least 1") }
        guard self.printedTraces >= 0 else { throw ValidationError("--printed-traces must be 0 or more") }
        guard self.failEvery >= 0 else { throw ValidationError("--fail-every must be 0 or more") }
    }

    func run() async throws {
        var logger = Logger(label: "kafka-tracing-demo")
        logger.logLevel = .warning
        let environment = ProcessInfo.processInfo.environment

        let ordersTopic = "orders" + self.topicSuffix
        let paymentsTopic = "payments" + self.topicSuffix
        let deadLetterTopic = "payments-dlq" + self.topicSuffix

        // Tracing: one provider, one tracer per service.
        let endpoint = self.otlpEndpoint ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
        let provider = try await makeDemoProvider(
            serviceName: "frontend",
            otlpEndpoint: self.otlpEndpoint,
            printedTraces: self.printedTraces,
            logger: logger
        )
        // Metrics: the clients below take the factory in force when they are made.
        let meters = try makeDemoMeters(otlpEndpoint: self.otlpEndpoint, logger: logger)
        meters.start()
        // Kafka: an embedded broker unless a cluster was named.
        let cluster = try await DemoCluster(
            bootstrapServers: self.bootstrapServers ?? environment["KAFKA_BOOTSTRAP_SERVERS"],
            topics: [ordersTopic, paymentsTopic, deadLetterTopic],
            logger: logger
        )

        let frontend = provider.tracer
        let orderService = provider.tracer(serviceName: "order-service")
        let inventoryService = provider.tracer(serviceName: "inventory-service")
        let paymentService = provider.tracer(serviceName: "payment-service")

        print("Running \(self.orders) orders through \(cluster.description)\(endpoint.map { ", exporting to \($0)" } ?? "")…\n")

        var options = KafkaTracingOptions()
        // (A short run: librdkafka's statistics, for the lag, five times a second.)
        options.clientStatisticsInterval = .milliseconds(200)
        let (producer, inventory, payments) = try withMetricsFactory(meters) {
            let producer = try TracedProducer(configuration: cluster.producerConfiguration, options: options, logger: logger)
            let inventory = try TracedConsumer(
                configuration: cluster.consumerConfiguration(group: "inventory" + self.topicSuffix, topic: ordersTopic),
                options: options,
                logger: logger
            )
            let payments = try TracedConsumer(
                configuration: cluster.consumerConfiguration(group: "payments" + self.topicSuffix, topic: paymentsTopic),
                options: options,
                failurePolicy: .deadLetter(topic: deadLetterTopic, producer: producer.producer, retries: 1, backoff: .milliseconds(20)),
                logger: logger
            )
            return (producer, inventory, payments)
        }
        let finished = Counter()
        let failEvery = self.failEvery
        let orderCount = self.orders

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withTracer(inventoryService) {
                    try await inventory.run { message in
                        try await withSpan("reserve stock") { span in
                            span.attributes["order.id"] = message.keyString ?? ""
                            try await Task.sleep(for: .milliseconds(3))
                        }
                        // Wait for the broker before this message counts as handled (at-least-once).
                        _ = try await producer.sendAndWait(
                            KafkaProducerMessage(topic: paymentsTopic, key: message.key ?? [], value: message.value ?? [])
                        )
                    }
                }
            }
            group.addTask {
                try await withTracer(paymentService) {
                    try await payments.run { message in
                        defer { finished.increment() }
                        try await withSpan("charge card") { span in
                            let number = Int(message.keyString?.split(separator: "-").last ?? "") ?? 0
                            span.attributes["order.id"] = message.keyString ?? ""
                            try await Task.sleep(for: .milliseconds(2))
                            if failEvery > 0, number % failEvery == 0 {
                                throw PaymentDeclined(order: message.keyString ?? "?")
                            }
                        }
                    }
                }
            }

            for number in 1...orderCount {
                try await withTracer(frontend) {
                    try await withSpan("POST /orders", ofKind: .server) { span in
                        span.attributes["http.request.method"] = "POST"
                        try await withTracer(orderService) {
                            try await withSpan("create order") { _ in
                                _ = try await producer.sendAndWait(
                                    KafkaProducerMessage(topic: ordersTopic, key: "order-\(number)", value: "{\"id\":\(number)}")
                                )
                            }
                        }
                    }
                }
            }

            // Each order is charged once, or twice when it is declined (one retry), then dead-lettered.
            let declined = failEvery > 0 ? orderCount / failEvery : 0
            let expected = orderCount + declined
            let deadline = ContinuousClock.now + .seconds(60)
            while finished.value < expected, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            await inventory.close()
            await payments.close()
            try await group.waitForAll()
            let done = finished.value
            if done < expected {
                throw ValidationError("only \(done) of \(expected) payment attempts finished within 60 s")
            }
        }
        await producer.close()
        await provider.forceFlush()
        await provider.shutdown()
        let summary = metricsSummary(meters.collect())
        await meters.shutdown()
        cluster.shutdown()
        print("\n" + summary + "\n")
        print("Done: \(orderCount) orders, \(failEvery > 0 ? orderCount / failEvery : 0) declined and dead-lettered to \(deadLetterTopic).")
    }
}

struct PaymentDeclined: Error, CustomStringConvertible {
    var order: String
    var description: String { "card declined for \(self.order)" }
}

/// A count shared between the consumer tasks and the main task.
final class Counter: Sendable {
    private let storage = Locked(0)
    func increment() { self.storage.withLock { $0 += 1 } }
    var value: Int { self.storage.withLock { $0 } }
}
