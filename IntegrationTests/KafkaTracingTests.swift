import Foundation
import InMemoryTracing
import Kafka
import KafkaTracing
import Synchronization
import Testing
import Tracing
import TracingCapabilities
import TracingSDK

/// The built-in tracer exporting to memory, for the instrumentation tests.
struct TraceCapture {
    let exporter = InMemorySpanExporter()
    let provider: TracerProvider

    init(sampler: (any Sampler)? = nil, environment: [String: String] = [:]) {
        self.provider = TracerProvider(
            configuration: .init(serviceName: "tests", sampler: sampler, exporters: [self.exporter], exportsImmediately: true, environment: environment)
        )
    }

    var tracer: SDKTracer { self.provider.tracer }

    func spans() async -> [FinishedSpan] {
        await self.provider.forceFlush()
        return self.exporter.spans
    }

    func span(named name: String, in spans: [FinishedSpan]) throws -> FinishedSpan {
        try #require(spans.first { $0.name == name }, "no span named \(name) in \(spans.map(\.name))")
    }
}

extension KafkaIntegrationTests {
    func tracedConsumer(
        _ cluster: TestCluster,
        topic: String,
        options: KafkaTracingOptions = .init(),
        policy: TracedConsumer.FailurePolicy = .stop()
    ) throws -> TracedConsumer {
        try TracedConsumer(
            configuration: cluster.consumerConfiguration(group: "traced-\(UUID())", topics: [topic]),
            options: options,
            failurePolicy: policy,
            logger: cluster.logger
        )
    }

    /// Runs `consumer` with `handler` until `count` messages were handled, then closes it.
    func consume(
        _ count: Int,
        with consumer: TracedConsumer,
        _ handler: @escaping @Sendable (KafkaConsumerMessage) async throws -> Void
    ) async throws {
        let handled = LockedValues<Int64>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await consumer.run { message in
                    try await handler(message)
                    handled.append(message.offset)
                }
            }
            try await eventually("\(count) messages handled") { handled.count >= count }
            await consumer.close()
            try await group.waitForAll()
        }
    }

    @Test("producer → consumer → nested producer → consumer forms one trace with the right parents, kinds, names and attributes")
    func oneTraceAcrossTwoHops() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let orders = try await cluster.makeTopic("orders", partitions: 2)
            let payments = try await cluster.makeTopic("payments", partitions: 1)
            let capture = TraceCapture()
            let producer = TracedProducer(wrapping: try cluster.makeProducer())

            try await withTracer(capture.tracer) {
                try await withSpan("frontend") { _ in
                    var message = KafkaProducerMessage(topic: orders, key: "order-42", value: "{}")
                    message.headers = [
                        KafkaHeader(key: "traceparent", value: "00-11111111111111111111111111111111-2222222222222222-01"),
                        KafkaHeader(key: "app", value: "kept"),
                        KafkaHeader(key: "traceparent", value: "stale"),
                    ]
                    _ = try await producer.sendAndWait(message)
                }
                let inventory = try self.tracedConsumer(cluster, topic: orders)
                try await self.consume(1, with: inventory) { message in
                    #expect(message.headers.filter { $0.key == "traceparent" }.count == 1)
                    #expect(message.headers.map(\.key) == ["app", "traceparent"])
                    try await withSpan("reserve stock") { _ in }
                    _ = try await producer.sendAndWait(KafkaProducerMessage(topic: payments, key: "order-42", value: "pay"))
                }
                let payment = try self.tracedConsumer(cluster, topic: payments)
                try await self.consume(1, with: payment) { _ in }
            }
            await producer.close()

            let spans = await capture.spans()
            let frontend = try capture.span(named: "frontend", in: spans)
            let sendOrders = try capture.span(named: "send \(orders)", in: spans)
            let processOrders = try capture.span(named: "process \(orders)", in: spans)
            let reserve = try capture.span(named: "reserve stock", in: spans)
            let sendPayments = try capture.span(named: "send \(payments)", in: spans)
            let processPayments = try capture.span(named: "process \(payments)", in: spans)
            let all = [frontend, sendOrders, processOrders, reserve, sendPayments, processPayments]
            #expect(Set(all.map(\.spanContext.traceID)).count == 1)
            #expect(sendOrders.parentSpanID == frontend.spanContext.spanID)
            #expect(processOrders.parentSpanID == sendOrders.spanContext.spanID)
            #expect(processOrders.links.map(\.spanContext.spanID) == [sendOrders.spanContext.spanID])
            #expect(reserve.parentSpanID == processOrders.spanContext.spanID)
            #expect(sendPayments.parentSpanID == processOrders.spanContext.spanID)
            #expect(processPayments.parentSpanID == sendPayments.spanContext.spanID)
            #expect(sendOrders.kind == .producer && processOrders.kind == .consumer)

            let send = sendOrders.attributes
            #expect(send.get("messaging.system") == .string("kafka"))
            #expect(send.get("messaging.operation.name") == .string("send"))
            #expect(send.get("messaging.operation.type") == .string("send"))
            #expect(send.get("messaging.destination.name") == .string(orders))
            #expect(send.get("messaging.kafka.message.key") == .string("order-42"))
            #expect(send.get("messaging.client.id") == .string("integration-tests"))
            #expect(send.get("server.address") != nil && send.get("server.port") != nil)
            if case .string(let partition) = send.get("messaging.destination.partition.id") {
                #expect(["0", "1"].contains(partition))
            } else {
                Issue.record("no partition id on the send span")
            }
            #expect(send.get("messaging.kafka.offset") == .int64(0))
            #expect(send.get("messaging.kafka.message.tombstone") == nil)

            let process = processOrders.attributes
            #expect(process.get("messaging.operation.name") == .string("process"))
            #expect(process.get("messaging.operation.type") == .string("process"))
            #expect(process.get("messaging.consumer.group.name") != nil)
            #expect(process.get("messaging.kafka.offset") == .int64(0))
            #expect(process.get("messaging.destination.partition.id") == send.get("messaging.destination.partition.id"))
            #expect(process.get("messaging.kafka.message.key") == .string("order-42"))
            // One producer, two topics: each span names its own (the per-topic attribute templates).
            #expect(sendPayments.attributes.get("messaging.destination.name") == .string(payments))
            #expect(sendPayments.attributes.get("messaging.kafka.offset") == .int64(0))
            #expect(processPayments.attributes.get("messaging.destination.name") == .string(payments))
            #expect(send.get("messaging.destination.name") == .string(orders))
            // Under the built-in tracer, each span keeps its topic's attributes by reference (the
            // exporter encodes them once per topic) and holds only the message's own.
            let producerTemplate = try #require(sendOrders.attributeTemplate)
            #expect(producerTemplate.attributes.get("messaging.destination.name") == .string(orders))
            #expect(sendOrders.ownAttributes.get("messaging.system") == nil)
            #expect(sendOrders.ownAttributes.get("messaging.kafka.offset") == .int64(0))
            #expect(processOrders.attributeTemplate != nil && processOrders.attributeTemplate !== producerTemplate)
            #expect(sendPayments.attributeTemplate !== producerTemplate, "one template per topic")
        }
    }

    @Test("a failed delivery ends the producer span with an error status, error.type and an exception event", .enabled(if: TestCluster.usesEmbeddedBroker, "fault injection needs the embedded broker"))
    func failedDelivery() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let broker = try #require(cluster.embedded)
            let topic = try await cluster.makeTopic("refused", partitions: 1)
            let capture = TraceCapture()
            let producer = TracedProducer(wrapping: try KafkaProducer(configuration: cluster.producerConfiguration(), logger: TestCluster.quietLogger))
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "warm-up"))
            broker.pushRequestErrors(.produce, [.invalidRecord])
            let outcome = LockedValues<Bool>()
            try await withTracer(capture.tracer) {
                try await producer.send(KafkaProducerMessage(topic: topic, value: "refused")) { result in
                    outcome.append((try? result.get()) != nil)
                }
            }
            await producer.flush()
            #expect(outcome.values == [false])
            let span = try capture.span(named: "send \(topic)", in: await capture.spans())
            #expect(span.status?.code == .error)
            #expect(span.attributes.get("error.type") == .string("INVALID_RECORD"))
            #expect(span.events.map(\.name) == ["exception"])
            await producer.close()
        }
    }

    @Test("under a value length limit the topic's attributes are shortened too: the tracer declines the shared template and the spans get their own")
    func templateDeclinedUnderLimits() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("limited", partitions: 1)
            let capture = TraceCapture(environment: ["OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "5"])
            let producer = TracedProducer(wrapping: try KafkaProducer(configuration: cluster.producerConfiguration(), logger: TestCluster.quietLogger))
            try await withTracer(capture.tracer) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, key: "a-long-key", value: "v"))
                let consumer = try self.tracedConsumer(cluster, topic: topic)
                try await self.consume(1, with: consumer) { _ in }
            }
            let spans = await capture.spans()
            for name in ["send \(topic)", "process \(topic)"] {
                let span = try capture.span(named: name, in: spans)
                #expect(span.attributeTemplate == nil, "\(name) kept a template its values could not be shortened in")
                #expect(span.attributes.get("messaging.destination.name") == .string(String(topic.prefix(5))))
                #expect(span.attributes.get("messaging.kafka.message.key") == .string("a-lon"))
                #expect(span.attributes.get("messaging.system") == .string("kafka"))
                #expect(span.attributes.get("messaging.kafka.offset") == .int64(0))
            }
            await producer.close()
        }
    }

    @Test("a handler error is recorded; a retry that succeeds stores the offset once")
    func retryThenSuccess() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("retry", partitions: 1)
            let capture = TraceCapture()
            let producer = try cluster.makeProducer()
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "flaky"))
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "fine"))
            await producer.close()

            let attempts = LockedValues<String>()
            let consumer = try self.tracedConsumer(cluster, topic: topic, policy: .stop(retries: 2, backoff: .milliseconds(10)))
            try await withTracer(capture.tracer) {
                try await self.consume(2, with: consumer) { message in
                    attempts.append(message.valueString ?? "")
                    if message.valueString == "flaky" && attempts.values.filter({ $0 == "flaky" }).count == 1 {
                        throw TestFailure(reason: "first try")
                    }
                }
            }
            #expect(attempts.values == ["flaky", "flaky", "fine"])
            let spans = await capture.spans().filter { $0.name == "process \(topic)" }
            #expect(spans.count == 3)
            let failed = try #require(spans.first)
            #expect(failed.status?.code == .error)
            #expect(failed.attributes.get("error.type") == .string(String(reflecting: TestFailure.self)))
            #expect(failed.events.first?.name == "exception")
            #expect(spans[1].status == nil && spans[1].attributes.get("messaging.kafka.retry.attempt") == .int64(1))

            // Both offsets were committed: a new member of the group gets nothing.
            let again = try KafkaConsumer(configuration: consumer.consumer.configuration, logger: cluster.logger)
            await #expect(throws: TimeoutError.self) { _ = try await collect(1, from: again, timeout: .seconds(3)) }
            await again.close()
        }
    }

    @Test("a message that keeps failing goes to the dead-letter topic with why, where from and the failed span's context")
    func deadLetter() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("work", partitions: 1)
            let deadLetters = try await cluster.makeTopic("work-dlq", partitions: 1)
            let capture = TraceCapture()
            let producer = TracedProducer(wrapping: try cluster.makeProducer())
            try await withTracer(capture.tracer) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, key: "k1", value: "poison", headers: [KafkaHeader(key: "app", value: "1")]))
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, key: "k2", value: "good"))
                let consumer = try self.tracedConsumer(
                    cluster,
                    topic: topic,
                    policy: .deadLetter(topic: deadLetters, producer: producer.producer, retries: 1, backoff: .milliseconds(10))
                )
                let handled = LockedValues<String>()
                try await self.consume(1, with: consumer) { message in
                    if message.valueString == "poison" { throw TestFailure(reason: "cannot parse") }
                    handled.append(message.valueString ?? "")
                }
                #expect(handled.values == ["good"])
            }

            let reader = try cluster.makeConsumer(group: "dlq-\(UUID())", topic: deadLetters)
            let dead = try #require(try await collect(1, from: reader).first)
            await reader.close()
            #expect(dead.keyString == "k1" && dead.valueString == "poison")
            let headers = Dictionary(dead.headers.map { ($0.key, $0.stringValue ?? "") }, uniquingKeysWith: { $1 })
            #expect(headers["app"] == "1")
            #expect(headers["dlq.original.topic"] == topic)
            #expect(headers["dlq.original.partition"] == "0" && headers["dlq.original.offset"] == "0")
            #expect(headers["dlq.error.type"] == String(reflecting: TestFailure.self))
            #expect(headers["dlq.error.message"]?.contains("cannot parse") == true)
            #expect(dead.headers.filter { $0.key == "traceparent" }.count == 1)

            let spans = await capture.spans()
            let failedProcessing = spans.filter { $0.name == "process \(topic)" && $0.isError }
            #expect(failedProcessing.count == 2)  // the first try and one retry
            let parent = try #require(TraceParent.parse(headers["traceparent"] ?? ""))
            #expect(parent.spanID == failedProcessing.last?.spanContext.spanID)
            await producer.close()
        }
    }

    @Test("the stop policy ends run with the handler's error and does not commit the message", arguments: [1, 3])
    func stopPolicy(partitionConcurrency: Int) async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("stop", partitions: 1)
            let producer = try cluster.makeProducer()
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "poison"))
            await producer.close()
            let consumer = try self.tracedConsumer(cluster, topic: topic)
            let error = try await #require(throws: TracedConsumerError.self) {
                try await consumer.run(partitionConcurrency: partitionConcurrency) { _ in throw TestFailure(reason: "nope") }
            }
            #expect(error.message.valueString == "poison")
            await consumer.close()
            let again = try KafkaConsumer(configuration: consumer.consumer.configuration, logger: cluster.logger)
            #expect(try await collect(1, from: again).map(\.valueString) == ["poison"])
            await again.close()
        }
    }

    @Test("malformed or missing trace headers start a new trace; the last of duplicate headers wins")
    func malformedHeaders() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("headers", partitions: 1)
            let capture = TraceCapture()
            let producer = try cluster.makeProducer()
            let good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            let cases: [[KafkaHeader]] = [
                [KafkaHeader(key: "traceparent", value: "garbage")],
                [KafkaHeader(key: "traceparent", value: [0xff, 0xfe])],
                [KafkaHeader(key: "traceparent", value: nil)],
                [],
                [KafkaHeader(key: "traceparent", value: "garbage"), KafkaHeader(key: "traceparent", value: good)],
            ]
            for headers in cases {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "x", headers: headers))
            }
            _ = try await producer.sendAndWait(KafkaProducerMessage.tombstone(topic: topic, key: "gone"))
            await producer.close()
            let consumer = try self.tracedConsumer(cluster, topic: topic)
            try await withTracer(capture.tracer) {
                try await self.consume(6, with: consumer) { _ in }
            }
            let spans = await capture.spans().filter { $0.name == "process \(topic)" }
            #expect(spans.count == 6)
            #expect(spans[0..<4].allSatisfy { $0.parentSpanID == nil && $0.links.isEmpty })
            #expect(spans[4].spanContext.traceID.description == "0af7651916cd43dd8448eb211c80319c")
            #expect(spans[4].parentSpanID?.description == "b7ad6b7169203331")
            #expect(spans[5].attributes.get("messaging.kafka.message.tombstone") == .bool(true))
            #expect(spans[5].attributes.get("messaging.kafka.message.key") == .string("gone"))
        }
    }

    @Test("link-only mode starts a new trace per message linked to the producer; propagation can be turned off per topic")
    func linkOnlyAndPropagationOff() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let linked = try await cluster.makeTopic("linked", partitions: 1)
            let silent = try await cluster.makeTopic("silent", partitions: 1)
            let capture = TraceCapture()
            let options = KafkaTracingOptions(consumerParenting: .linkOnly, topicsWithoutPropagation: [silent], capturedHeaders: ["tenant"], semconvStabilityOptIn: .messagingDup)
            let producer = TracedProducer(wrapping: try cluster.makeProducer(), options: options)
            try await withTracer(capture.tracer) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: linked, value: "a", headers: [KafkaHeader(key: "tenant", value: "acme")]))
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: silent, value: "b"))
                let first = try self.tracedConsumer(cluster, topic: linked, options: options)
                try await self.consume(1, with: first) { _ in }
                let second = try self.tracedConsumer(cluster, topic: silent, options: options)
                try await self.consume(1, with: second) { message in
                    #expect(message.headers.isEmpty)
                }
            }
            await producer.close()
            let spans = await capture.spans()
            let send = try capture.span(named: "send \(linked)", in: spans)
            let process = try capture.span(named: "process \(linked)", in: spans)
            #expect(process.spanContext.traceID != send.spanContext.traceID)
            #expect(process.parentSpanID == nil)
            #expect(process.links.map(\.spanContext.spanID) == [send.spanContext.spanID])
            #expect(process.attributes.get("messaging.kafka.header.tenant") == .string("acme"))
            #expect(process.attributes.get("messaging.destination") == .string(linked))
            #expect(process.attributes.get("messaging.kafka.message.offset") == .int64(0))
            #expect(send.attributes.get("messaging.kafka.header.tenant") == .string("acme"))
            let silentProcess = try capture.span(named: "process \(silent)", in: spans)
            #expect(silentProcess.links.isEmpty)
        }
    }

    @Test("a batch handler runs in one span with the message count and a link to each message")
    func batches() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("batch", partitions: 1)
            let capture = TraceCapture()
            let producer = TracedProducer(wrapping: try cluster.makeProducer())
            try await withTracer(capture.tracer) {
                for index in 0..<5 { try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)")) }
            }
            await producer.close()
            let consumer = try self.tracedConsumer(cluster, topic: topic)
            let seen = LockedValues<Int>()
            try await withTracer(capture.tracer) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await consumer.runBatches(maxMessages: 10) { batch in seen.append(batch.count) }
                    }
                    try await eventually("five messages in batches") { seen.values.reduce(0, +) == 5 }
                    await consumer.close()
                    try await group.waitForAll()
                }
            }
            let spans = await capture.spans()
            let sends = spans.filter { $0.name == "send \(topic)" }
            let processes = spans.filter { $0.name == "process \(topic)" }
            #expect(processes.count == seen.count)
            let linked = Set(processes.flatMap(\.links).map(\.spanContext.spanID))
            #expect(linked == Set(sends.map(\.spanContext.spanID)))
            // A batch of several messages says how many; a batch of one carries that message's attributes.
            let counts: [Int] = processes.map { span in
                if case .int64(let count) = span.attributes.get("messaging.batch.message_count") { return Int(count) }
                return 1
            }
            #expect(counts.reduce(0, +) == 5)
        }
    }

    @Test("works the same under swift-distributed-tracing's InMemoryTracer; unsampled spans still propagate")
    func otherTracersAndUnsampled() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("in-memory", partitions: 1)
            let tracer = InMemoryTracer()
            let producer = TracedProducer(wrapping: try cluster.makeProducer())
            try await withTracer(tracer) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "x"))
            }
            let finished = tracer.finishedSpans
            #expect(finished.map(\.operationName) == ["send \(topic)"])
            #expect(finished.first?.kind == .producer)
            #expect(finished.first?.attributes.get("messaging.system") == .string("kafka"))

            // Not sampled: nothing is recorded, but the headers still carry the context (flag off).
            let unsampled = TraceCapture(sampler: AlwaysOffSampler())
            try await withTracer(unsampled.tracer) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "y"))
            }
            await producer.close()
            #expect(await unsampled.spans().isEmpty)
            let reader = try cluster.makeConsumer(group: "in-memory-\(UUID())", topic: topic)
            let messages = try await collect(2, from: reader)
            await reader.close()
            let traceparent = try #require(messages.last?.headers.first { $0.key == "traceparent" }?.stringValue)
            #expect(traceparent.hasSuffix("-02"))
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var reason: String
    var description: String { "TestFailure: \(self.reason)" }
}
