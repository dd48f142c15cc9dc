import Foundation
import Kafka
import KafkaTracing
import Testing
import Tracing
import TracingSDK

extension KafkaIntegrationTests {
    @Test("runBatches closes the consumer when the handler's error ends it: offsets committed, partitions given back")
    func batchHandlerFailureCloses() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("batch-fail", partitions: 1)
            let producer = try cluster.makeProducer()
            for value in ["ok", "poison", "after"] {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: value))
            }
            await producer.close()
            let consumer = try self.tracedConsumer(cluster, topic: topic)
            let error = try await #require(throws: TracedConsumerError.self) {
                try await consumer.runBatches(maxMessages: 1) { batch in
                    if batch.first?.valueString == "poison" { throw TestFailure(reason: "poison") }
                }
            }
            #expect(error.message.valueString == "poison")
            // Closed by runBatches itself (the test does not call close): nothing is assigned any
            // more, and what was handled is committed, so the group resumes at the failed message.
            #expect(consumer.consumer.assignment.isEmpty)
            let again = try KafkaConsumer(configuration: consumer.consumer.configuration, logger: cluster.logger)
            #expect(try await collect(2, from: again).map(\.valueString) == ["poison", "after"])
            await again.close()
        }
    }

    @Test("a batch from several topics is named `process` with no destination; a batch from one topic names it")
    func batchAcrossTopics() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let first = try await cluster.makeTopic("batch-topic-a", partitions: 1)
            let second = try await cluster.makeTopic("batch-topic-b", partitions: 1)
            let producer = try cluster.makeProducer()
            for index in 0..<5 {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: first, value: "a\(index)"))
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: second, value: "b\(index)"))
            }
            await producer.close()
            let capture = TraceCapture()
            let consumer = try TracedConsumer(
                configuration: cluster.consumerConfiguration(group: "batch-topics-\(UUID())", topics: [first, second]),
                logger: cluster.logger
            )
            let batches = LockedValues<[String]>()
            try await withTracer(capture.tracer) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await consumer.runBatches(maxMessages: 3) { batch in
                            // The first batch (at most 3 of one topic's 5) waits until both
                            // partitions are assigned and fetched, so the next batch holds the
                            // rest of one topic and the start of the other.
                            if batches.count == 0 {
                                try await eventually("both topics assigned") { consumer.consumer.assignment.count == 2 }
                                try await Task.sleep(for: .seconds(2))
                            }
                            batches.append(batch.map(\.topic))
                        }
                    }
                    try await eventually("ten messages in batches") { batches.values.map(\.count).reduce(0, +) == 10 }
                    await consumer.close()
                    try await group.waitForAll()
                }
            }
            let spans = await capture.spans().filter { $0.kind == .consumer }
            #expect(spans.count == batches.count)
            var mixed = 0
            for (span, topics) in zip(spans, batches.values) {
                let distinct = Set(topics)
                if distinct.count > 1 {
                    mixed += 1
                    #expect(span.name == "process")
                    #expect(span.attributes.get("messaging.destination.name") == nil)
                } else {
                    #expect(span.name == "process \(topics[0])")
                    #expect(span.attributes.get("messaging.destination.name") == .string(topics[0]))
                }
            }
            #expect(mixed > 0, "no batch held both topics: \(batches.values)")
        }
    }
}
