import Foundation
import Kafka
import KafkaTracing
import Logging
import MetricsSDK
import OTLPExporter
import OTLPGRPCExporter
import Testing
import Tracing
import TracingSDK

// The README's Swift code, compiled here so that it cannot rot. Each region between
// "README snippet" markers is one ```swift block of the README, indented by four spaces;
// the test at the bottom fails when the README and this file disagree.

func readmeKafkaClientQuickstart(logger: Logger) async throws {
    // README snippet begin
    let broker = try EmbeddedKafkaBroker()              // or your cluster's bootstrap servers
    try broker.createTopic("orders", partitions: 4)

    let producer = try KafkaProducer(
        configuration: KafkaProducerConfiguration(bootstrapServers: [broker.bootstrapServers]),
        logger: logger
    )
    // Enqueue and return at once (millions per second from one task)…
    try await producer.send(KafkaProducerMessage(topic: "orders", key: "order-42", value: "{}"))
    // …receive the outcome in a callback…
    try await producer.send(KafkaProducerMessage(topic: "orders", value: "{}")) { result in
        if case .failure(let error) = result { print("not delivered: \(error)") }
    }
    // …or wait for the broker's answer.
    let report = try await producer.sendAndWait(KafkaProducerMessage(topic: "orders", value: "{}"))
    print("written to \(report.topic)[\(report.partition)] at offset \(report.offset!)")
    await producer.close()                               // delivers everything queued

    let consumer = try KafkaConsumer(
        configuration: KafkaConsumerConfiguration(
            bootstrapServers: [broker.bootstrapServers],
            groupID: "billing",
            topics: ["orders"],
            autoOffsetReset: .earliest
        ),
        logger: logger
    )
    for try await message in consumer.messages {
        print(message.keyString ?? "-", message.valueString ?? "<tombstone>", message.headers)
        // The offset is stored when the loop asks for the next message (at-least-once).
    }
    // README snippet end
}

func readmeTracingQuickstart(payload: String) async throws {
    @Sendable func reserveStock(for message: KafkaConsumerMessage) async throws {}
    // README snippet begin
    let provider = TracerProvider.bootstrap(configuration: TracerProvider.Configuration(serviceName: "orders").withOTLP())

    let producer = try TracedProducer(configuration: KafkaProducerConfiguration(bootstrapServers: ["localhost:9092"]))
    try await withSpan("place order") { _ in
        // A PRODUCER span "send orders", child of "place order", ended at the delivery report;
        // its context travels in the message's traceparent/tracestate/baggage headers.
        try await producer.send(KafkaProducerMessage(topic: "orders", key: "order-42", value: payload))
    }

    let consumer = try TracedConsumer(
        configuration: KafkaConsumerConfiguration(bootstrapServers: ["localhost:9092"], groupID: "inventory", topics: ["orders"]),
        failurePolicy: .deadLetter(topic: "orders-dlq", producer: producer.producer, retries: 3)
    )
    try await consumer.run { message in
        // Runs inside a CONSUMER span "process orders" continued from the message headers: spans
        // started here, and TracedProducer sends, belong to the same trace.
        try await reserveStock(for: message)
    }
    // README snippet end
    await provider.shutdown()
}

func readmeBuiltInTracer() async throws {
    // README snippet begin
    // One call to start: reads OTEL_* variables; code wins over the environment.
    let provider = TracerProvider.bootstrap(configuration: .init(serviceName: "checkout"))

    try await withSpan("place order") { span in
        span.attributes["order.id"] = "42"
    }

    await provider.shutdown()   // one call to stop: exports every ended span first
    // README snippet end
}

func readmeOTLP() async {
    // README snippet begin
    let provider = TracerProvider.bootstrap(
        configuration: TracerProvider.Configuration(serviceName: "checkout").withOTLP()
    )
    // README snippet end
    await provider.shutdown()
}

func readmeTelemetry() async {
    // README snippet begin
    // Traces and metrics over OTLP, with one resource; OTEL_* variables apply.
    let telemetry = TelemetryProvider.bootstrap(
        configuration: TelemetryProvider.Configuration(serviceName: "billing").withOTLP()
    )
    // Make TracedProducer and TracedConsumer after this: they take the metrics factory in force.
    await telemetry.shutdown()   // exports every ended span and a final metrics collection
    // README snippet end
}

func readmeOTLPOverGRPC() async {
    // README snippet begin
    // gRPC unless OTEL_EXPORTER_OTLP_PROTOCOL (or …_TRACES_PROTOCOL) says http/protobuf or http/json:
    let provider = TracerProvider.bootstrap(
        configuration: TracerProvider.Configuration(serviceName: "checkout").withOTLP(defaultProtocol: .grpc)
    )
    // README snippet end
    await provider.shutdown()
}

@Suite("README")
struct ReadmeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    /// The README's ```swift blocks, except those marked `<!-- not compiled: … -->` on the line before.
    static func readmeBlocks() throws -> [[String]] {
        let lines = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
            .components(separatedBy: "\n")
        var blocks: [[String]] = []
        var index = 0
        while index < lines.count {
            if lines[index] == "```swift", index == 0 || !lines[index - 1].hasPrefix("<!-- not compiled") {
                var block: [String] = []
                index += 1
                while index < lines.count, lines[index] != "```" {
                    block.append(lines[index])
                    index += 1
                }
                blocks.append(block)
            }
            index += 1
        }
        return blocks
    }

    /// The regions of this file between the snippet markers, without their indentation.
    static func compiledSnippets() throws -> (snippets: [[String]], imports: Set<String>) {
        let lines = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8).components(separatedBy: "\n")
        var snippets: [[String]] = []
        var current: [String]?
        for line in lines {
            if line.hasSuffix("// README snippet begin") {
                current = []
            } else if line.hasSuffix("// README snippet end") {
                snippets.append(current ?? [])
                current = nil
            } else if current != nil {
                current!.append(line.hasPrefix("    ") ? String(line.dropFirst(4)) : line)
            }
        }
        return (snippets, Set(lines.filter { $0.hasPrefix("import ") }))
    }

    @Test("every Swift block of the README is compiled by this target, unchanged")
    func readmeCodeIsCompiled() throws {
        let blocks = try Self.readmeBlocks()
        let (snippets, imports) = try Self.compiledSnippets()
        #expect(blocks.count == snippets.count, "the README has \(blocks.count) Swift blocks, this file compiles \(snippets.count)")
        for block in blocks {
            let code = Array(block.drop { $0.hasPrefix("import ") || $0.isEmpty })
            for line in block where line.hasPrefix("import ") {
                #expect(imports.contains(line), "README imports what this file does not: \(line)")
            }
            let compiled = snippets.contains(code)
            #expect(compiled, "this README block is not compiled by ReadmeTests.swift:\n\(block.joined(separator: "\n"))")
        }
    }
}
