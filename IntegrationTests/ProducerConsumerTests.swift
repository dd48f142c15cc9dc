import Foundation
import Kafka
import Locking
import Testing

/// Every integration test runs one at a time: they share process-wide librdkafka state, and the
/// handle-leak checks need no other test's clients alive.
@Suite("Kafka against a broker", .serialized)
struct KafkaIntegrationTests {
    @Test("produce → consume keeps keys, values, tombstones and headers (duplicates, nulls) across partitions")
    func roundTrip() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("round-trip", partitions: 4)
            let producer = try cluster.makeProducer()

            var sent: [KafkaProducerMessage<String, [UInt8]>] = []
            for index in 0..<24 {
                let value: [UInt8]? =
                    switch index % 6 {
                    case 0: nil  // tombstone
                    case 1: []  // empty, not null
                    default: Array("value-\(index)".utf8) + [0, 255]
                    }
                sent.append(
                    KafkaProducerMessage(
                        topic: topic,
                        partition: Int32(index % 4),
                        key: index % 5 == 0 ? nil : "key-\(index)",
                        value: value,
                        headers: [
                            KafkaHeader(key: "dup", value: "first"),
                            KafkaHeader(key: "null", value: nil),
                            KafkaHeader(key: "empty", value: []),
                            KafkaHeader(key: "dup", value: "second-\(index)"),
                        ]
                    )
                )
            }
            var reports: [KafkaDeliveryReport] = []
            for message in sent {
                reports.append(try await producer.sendAndWait(message))
            }
            #expect(reports.map(\.partition) == sent.map { $0.partition! })
            #expect(reports.allSatisfy { $0.topic == topic && $0.offset != nil && $0.timestamp != nil })
            await producer.close()

            let consumer = try cluster.makeConsumer(group: "round-trip-\(UUID())", topic: topic)
            let received = try await collect(sent.count, from: consumer)
            await consumer.close()

            #expect(received.count == sent.count)
            let byPosition = Dictionary(uniqueKeysWithValues: received.map { ("\($0.partition)@\($0.offset)", $0) })
            for (message, report) in zip(sent, reports) {
                let got = try #require(byPosition["\(report.partition)@\(report.offset!)"])
                #expect(got.topic == topic)
                #expect(got.keyString == message.key)
                #expect(got.value == message.value)
                #expect(got.isTombstone == (message.value == nil))
                #expect(got.headers == message.headers)
                #expect(got.timestamp?.kind == .createTime)
            }
            // Within each partition, messages arrive in offset order.
            for partition in 0..<Int32(4) {
                let offsets = received.filter { $0.partition == partition }.map(\.offset)
                #expect(offsets == offsets.sorted())
                #expect(offsets.count == 6)
            }
        }
    }

    @Test("a consumed message reads librdkafka's buffers in place, even after close, and the handle goes with the last one held")
    func heldMessagesOutliveClose() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let clusterHandles = KafkaDiagnostics.liveHandleCount  // the embedded broker's, if any
            let topic = try await cluster.makeTopic("held", partitions: 1)
            let producer = try cluster.makeProducer()
            let headers = [
                KafkaHeader(key: "traceparent", value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                KafkaHeader(key: "null", value: nil),
                KafkaHeader(key: "dup", value: "a"),
                KafkaHeader(key: "dup", value: "b"),
            ]
            for index in 0..<3 {
                let message = KafkaProducerMessage(topic: topic, key: "key-\(index)", value: "value-\(index)", headers: headers)
                _ = try await producer.sendAndWait(message)
            }
            await producer.close()
            try await eventually(timeout: .seconds(15), "the producer's handle is destroyed") {
                KafkaDiagnostics.liveHandleCount == clusterHandles
            }

            let consumer = try cluster.makeConsumer(group: "held-\(UUID())", topic: topic)
            var held: [KafkaConsumerMessage]? = try await collect(3, from: consumer)
            await consumer.close()
            // The consumer closed (committed, left its group), but librdkafka's handle waits for
            // the messages still held, whose bytes point into its buffers.
            #expect(KafkaDiagnostics.liveHandleCount == clusterHandles + 1)

            do {
                let messages = try #require(held)
                // Headers parsed for the first time after close, by eight tasks at once on one message.
                let first = messages[0]
                let seen = await withTaskGroup(of: [KafkaHeader].self) { group in
                    for _ in 0..<8 { group.addTask { first.headers } }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                #expect(seen.count == 8 && seen.allSatisfy { $0 == headers })
                for (index, message) in messages.enumerated() {
                    #expect(message.keyString == "key-\(index)")
                    #expect(message.valueString == "value-\(index)")
                    #expect(message.headerCount == 4)
                    #expect(message.headerValue(forKey: "dup") == "b")
                    #expect(message.headerValues(forKey: "null") == [nil])
                    // A consumed message equals (and hashes as) the same message made in Swift.
                    let made = KafkaConsumerMessage(
                        topic: topic,
                        partition: message.partition,
                        offset: message.offset,
                        key: Array("key-\(index)".utf8),
                        value: Array("value-\(index)".utf8),
                        headers: headers,
                        timestamp: message.timestamp
                    )
                    #expect(message == made)
                    #expect(message.hashValue == made.hashValue)
                    var changed = message
                    changed.headers = Array(headers.dropLast())
                    #expect(changed != message)
                    #expect(changed.headerCount == 3 && message.headerCount == 4)
                }
                #expect(messages[0] != messages[1])
            }
            // The last copies go: librdkafka's handle with them.
            held = nil
            try await eventually(timeout: .seconds(15), "the consumer's handle is destroyed once no message is held") {
                KafkaDiagnostics.liveHandleCount == clusterHandles
            }
        }
    }

    @Test("every message sent with send(_:onDelivery:) gets exactly one delivery report")
    func deliveryReportForEveryMessage() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("reports", partitions: 4)
            let producer = try cluster.makeProducer()
            let count = 5_000
            let reports = Locked<[Int: [KafkaProducer.DeliveryResult]]>([:])
            for index in 0..<count {
                try await producer.send(KafkaProducerMessage(topic: topic, key: "k\(index % 97)", value: "v\(index)")) {
                    result in
                    reports.withLock { $0[index, default: []].append(result) }
                }
            }
            // Fire-and-forget messages are counted too.
            for index in 0..<1_000 {
                try await producer.send(KafkaProducerMessage(topic: topic, value: "plain-\(index)"))
            }
            await producer.flush()
            let results = reports.withLock { $0 }
            #expect(results.count == count)
            #expect(results.values.allSatisfy { $0.count == 1 })
            let delivered = results.values.compactMap { try? $0[0].get() }
            #expect(delivered.count == count)
            // No two messages share a partition and offset.
            #expect(Set(delivered.map { "\($0.partition)@\($0.offset!)" }).count == count)
            #expect(producer.statistics == .init(delivered: count + 1_000, failed: 0, queued: 0))
            await producer.close()
        }
    }

    @Test("a full local queue makes send wait instead of dropping")
    func backpressure() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("backpressure", partitions: 1)
            var configuration = cluster.producerConfiguration()
            configuration.maxQueuedMessages = 10
            let producer = try KafkaProducer(configuration: configuration, logger: cluster.logger)
            for index in 0..<1_000 {
                try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)"))
            }
            await producer.close()
            #expect(producer.statistics == .init(delivered: 1_000, failed: 0, queued: 0))

            let consumer = try cluster.makeConsumer(group: "backpressure-\(UUID())", topic: topic)
            let received = try await collect(1_000, from: consumer)
            await consumer.close()
            #expect(received.map(\.valueString) == (0..<1_000).map { "m\($0)" })
        }
    }

    @Test("two consumers in one group split the partitions, and the survivor takes all when one leaves")
    func groupRebalance() async throws {
        // A rebalance of the embedded broker takes 3–10 s; under ThreadSanitizer up to ~35 s was seen.
        let rebalanceTimeout = Duration.seconds(90)
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("group", partitions: 4)
            let group = "group-\(UUID())"
            let first = try cluster.makeConsumer(group: group, topic: topic)
            first.start()
            try await eventually(timeout: rebalanceTimeout, "the first consumer gets every partition") { first.assignment.count == 4 }
            let second = try cluster.makeConsumer(group: group, topic: topic)
            second.start()
            try await eventually(timeout: rebalanceTimeout, "the partitions are split two and two") {
                first.assignment.count == 2 && second.assignment.count == 2
            }
            #expect(first.assignment.isDisjoint(with: second.assignment))
            #expect(first.assignment.union(second.assignment).map(\.partition).sorted() == [0, 1, 2, 3])

            // Messages on every partition reach the member that owns it.
            let producer = try cluster.makeProducer()
            for partition in Int32(0)..<4 {
                _ = try await producer.sendAndWait(
                    KafkaProducerMessage(topic: topic, partition: partition, value: "p\(partition)")
                )
            }
            async let fromFirst = collect(2, from: first)
            async let fromSecond = collect(2, from: second)
            let (a, b) = try await (fromFirst, fromSecond)
            #expect(Set(a.map(\.partition)) == Set(first.assignment.map(\.partition)))
            #expect(Set(b.map(\.partition)) == Set(second.assignment.map(\.partition)))
            // The embedded broker refuses commits while its group rebalances (a real broker accepts
            // them from the current generation), so commit before the group changes.
            try await first.commit()
            try await second.commit()

            await second.close()
            try await eventually(timeout: rebalanceTimeout, "the first consumer takes every partition back") { first.assignment.count == 4 }
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, partition: 3, value: "after"))
            let after = try await collect(1, from: first)
            #expect(after.map(\.valueString) == ["after"])
            await first.close()
            await producer.close()
        }
    }

    @Test("commit() commits an offset stored just before it, while the poll thread is not polling (its buffer is full)")
    func commitTakesTheOffsetJustStored() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("commit-now", partitions: 1)
            let producer = try cluster.makeProducer()
            for index in 0..<20 { try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)")) }
            await producer.flush()
            var configuration = cluster.consumerConfiguration(group: "commit-now-\(UUID())", topics: [topic])
            configuration.offsetStorage = .manual
            configuration.maxBufferedMessages = 4
            configuration.commitInterval = .seconds(600)  // no periodic commit: only ours
            let consumer = try KafkaConsumer(configuration: configuration, logger: cluster.logger)
            let reports = Locked<[KafkaCommitReport]>([])
            consumer.onCommit { report in reports.withLock { $0.append(report) } }
            var iterator = consumer.messages.makeAsyncIterator()
            let first = try #require(try await iterator.next())
            // The poll thread buffers more than 4 messages and then waits for room, polling no more:
            // the offset stored now reaches librdkafka only through the commit itself.
            try await Task.sleep(for: .milliseconds(500))
            try consumer.storeOffset(first)
            try await consumer.commit()
            let manual = reports.withLock { $0.first { $0.reason == .manual } }
            #expect(manual?.offsets == [KafkaTopicPartition(topic: topic, partition: 0): first.offset + 1])
            await consumer.close()
            await producer.close()
        }
    }

    @Test("a consumer that restarts resumes from its committed offset: nothing lost, nothing repeated")
    func restartResumesFromCommittedOffset() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("restart", partitions: 2)
            let group = "restart-\(UUID())"
            let producer = try cluster.makeProducer()
            for index in 0..<100 {
                try await producer.send(KafkaProducerMessage(topic: topic, partition: Int32(index % 2), value: "m\(index)"))
            }
            await producer.flush()

            let firstRun = try cluster.makeConsumer(group: group, topic: topic)
            let processed = try await collect(60, from: firstRun)
            await firstRun.close()

            let secondRun = try cluster.makeConsumer(group: group, topic: topic)
            let rest = try await collect(40, from: secondRun)
            // Nothing more than the 40 remaining arrives.
            await #expect(throws: TimeoutError.self) { _ = try await collect(1, from: secondRun, timeout: .seconds(2)) }
            await secondRun.close()
            await producer.close()

            let all = (processed + rest).compactMap(\.valueString)
            #expect(all.count == 100)
            #expect(Set(all) == Set((0..<100).map { "m\($0)" }))
        }
    }
}

/// Runs `body`, then checks that every librdkafka handle it created is destroyed.
func withLeakCheck(_ body: () async throws -> Void) async throws {
    try await body()
    try await eventually(timeout: .seconds(15), "every librdkafka handle is destroyed") {
        KafkaDiagnostics.liveHandleCount == 0
    }
    #expect(KafkaDiagnostics.waitForAllHandlesDestroyed(timeout: .seconds(10)))
}
