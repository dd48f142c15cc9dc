import Foundation
import Kafka
import KafkaTracing
import Testing
import Tracing
import TracingSDK

extension KafkaIntegrationTests {
    func settleConsumer(_ cluster: TestCluster, topic: String, settleSpans: SettleSpans, commitInterval: Duration) throws -> TracedConsumer {
        var configuration = cluster.consumerConfiguration(group: "settle-\(UUID())", topics: [topic])
        configuration.commitInterval = commitInterval
        return try TracedConsumer(
            configuration: configuration,
            options: KafkaTracingOptions(settleSpans: settleSpans),
            logger: cluster.logger
        )
    }

    @Test("settle spans: a manual commit and the commit on close each get a `commit {topic}` CLIENT span linking the process spans they settle")
    func settleSpansExplicit() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("settle", partitions: 1)
            let capture = TraceCapture()
            let producer = TracedProducer(wrapping: try cluster.makeProducer())
            // No periodic commit during the test: every commit is one the consumer makes itself.
            let consumer = try self.settleConsumer(cluster, topic: topic, settleSpans: .explicit, commitInterval: .seconds(600))
            try await withTracer(capture.tracer) {
                for index in 0..<5 { _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "m\(index)")) }
                try await self.consume(5, with: consumer) { message in
                    // Offsets 0 and 1 are stored by now (2's is stored when this handler returns).
                    if message.offset == 2 { try await consumer.consumer.commit() }
                }
            }
            await producer.close()
            let spans = await capture.spans()
            let processes = spans.filter { $0.name == "process \(topic)" }.sorted {
                ($0.attributes.get("messaging.kafka.offset")?.int64 ?? 0) < ($1.attributes.get("messaging.kafka.offset")?.int64 ?? 0)
            }
            #expect(processes.count == 5)
            let commits = spans.filter { $0.name == "commit \(topic)" }
            #expect(commits.map { $0.attributes.get("messaging.kafka.commit.reason") } == [.string("manual"), .string("close")])
            guard commits.count == 2 else { return }
            let (manual, close) = (commits[0], commits[1])
            for commit in commits {
                #expect(commit.kind == .client)
                #expect(commit.parentSpanID == nil)
                #expect(commit.status?.code != .error)
                #expect(commit.attributes.get("messaging.operation.type") == .string("settle"))
                #expect(commit.attributes.get("messaging.operation.name") == .string("commit"))
                #expect(commit.attributes.get("messaging.system") == .string("kafka"))
                #expect(commit.attributes.get("messaging.destination.name") == .string(topic))
                #expect(commit.attributes.get("messaging.destination.partition.id") == .string("0"))
                #expect(commit.attributes.get("messaging.consumer.group.name") != nil)
                #expect(commit.endNanosecondsSinceEpoch >= commit.startNanosecondsSinceEpoch)
            }
            #expect(manual.links.map(\.spanContext.spanID) == processes[0..<2].map(\.spanContext.spanID))
            #expect(manual.attributes.get("messaging.batch.message_count") == .int64(2))
            #expect(close.links.map(\.spanContext.spanID) == processes[2..<5].map(\.spanContext.spanID))
            #expect(close.attributes.get("messaging.batch.message_count") == .int64(3))
            // The manual commit ran inside the third message's handler.
            #expect(manual.startNanosecondsSinceEpoch >= processes[2].startNanosecondsSinceEpoch)
            #expect(manual.endNanosecondsSinceEpoch <= processes[2].endNanosecondsSinceEpoch)
        }
    }

    @Test("settle spans: at most 128 links, the rest counted; .all adds librdkafka's periodic commits; none by default")
    func settleSpansBoundedAndAutomatic() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("settle-many", partitions: 1)
            let capture = TraceCapture()
            let producer = try cluster.makeProducer()
            for index in 0..<150 {
                try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)"))
            }
            await producer.flush()
            await producer.close()

            let bounded = try self.settleConsumer(cluster, topic: topic, settleSpans: .explicit, commitInterval: .seconds(600))
            let automatic = try self.settleConsumer(cluster, topic: topic, settleSpans: .all, commitInterval: .milliseconds(100))
            let none = try TracedConsumer(
                configuration: cluster.consumerConfiguration(group: "settle-none-\(UUID())", topics: [topic]),
                logger: cluster.logger
            )
            try await withTracer(capture.tracer) {
                try await self.consume(150, with: bounded) { _ in }
                try await self.consume(150, with: automatic) { _ in
                    try await Task.sleep(for: .milliseconds(2))  // spread over several periodic commits
                }
                try await self.consume(150, with: none) { _ in }
            }
            let commits = await capture.spans().filter { $0.name == "commit \(topic)" }
            let reasons = commits.compactMap { $0.attributes.get("messaging.kafka.commit.reason")?.string }
            // bounded: one commit on close of all 150; automatic: periodic ones (and maybe the
            // close one for what was left); none: nothing.
            let closeOfBounded = try #require(commits.first)
            #expect(reasons.first == "close")
            #expect(closeOfBounded.links.count == 128)
            #expect(closeOfBounded.attributes.get("messaging.batch.message_count") == .int64(150))
            let automaticSpans = commits.dropFirst()
            #expect(automaticSpans.contains { $0.attributes.get("messaging.kafka.commit.reason") == .string("automatic") })
            let settledByAutomatic = automaticSpans.reduce(0) { total, span in
                total + Int(span.attributes.get("messaging.batch.message_count")?.int64 ?? 1)
            }
            #expect(settledByAutomatic == 150)
            #expect(commits.count == 1 + automaticSpans.count)  // and none from the third consumer
        }
    }
}

extension SpanAttribute {
    var int64: Int64? { if case .int64(let value) = self { value } else { nil } }
    var string: String? { if case .string(let value) = self { value } else { nil } }
}
