import Foundation
import Kafka
import Locking
import Logging
import ServiceLifecycle
import Testing

extension KafkaIntegrationTests {
    @Test("retriable produce errors are retried; a non-retriable one fails exactly that message", .enabled(if: TestCluster.usesEmbeddedBroker, "fault injection needs the embedded broker"))
    func injectedProduceErrors() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let broker = try #require(cluster.embedded)
            let topic = try await cluster.makeTopic("faults", partitions: 1)
            var configuration = cluster.producerConfiguration()
            configuration.properties["retry.backoff.ms"] = "10"
            let producer = try KafkaProducer(configuration: configuration, logger: TestCluster.quietLogger)
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "warm-up"))

            broker.pushRequestErrors(.produce, [.notLeaderForPartition, .requestTimedOut])
            let retried = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "retried"))
            #expect(retried.offset == 1)

            broker.pushRequestErrors(.produce, [.invalidRecord])
            let error = try await #require(throws: KafkaError.self) {
                try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "refused"))
            }
            #expect(error.code == .invalidRecord)
            #expect(error.name == "INVALID_RECORD")
            #expect(!error.isRetriable)

            let after = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "after"))
            #expect(after.offset == 2)
            await producer.close()
            #expect(producer.statistics == .init(delivered: 3, failed: 1, queued: 0))
        }
    }

    @Test("messages sent while the only broker is down are delivered when it comes back", .enabled(if: TestCluster.usesEmbeddedBroker, "fault injection needs the embedded broker"))
    func brokerDownAndUp() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let broker = try #require(cluster.embedded)
            let topic = try await cluster.makeTopic("outage", partitions: 2)
            let producer = try KafkaProducer(configuration: cluster.producerConfiguration(), logger: TestCluster.quietLogger)
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "before"))

            try broker.setBrokerDown(1)
            let outcomes = Locked<[Int: KafkaProducer.DeliveryResult]>([:])
            for index in 0..<100 {
                try await producer.send(KafkaProducerMessage(topic: topic, key: "k\(index)", value: "during-\(index)")) {
                    result in outcomes.withLock { $0[index] = result }
                }
            }
            try await Task.sleep(for: .seconds(2))
            #expect(outcomes.withLock { $0.count } == 0)
            try broker.setBrokerUp(1)
            #expect(await producer.flush(timeout: .seconds(20)))
            let results = outcomes.withLock { $0 }
            #expect(results.count == 100)
            #expect(results.values.allSatisfy { (try? $0.get()) != nil })
            await producer.close()

            let consumer = try cluster.makeConsumer(group: "outage-\(UUID())", topic: topic)
            let received = try await collect(101, from: consumer)
            await consumer.close()
            #expect(Set(received.compactMap(\.valueString)) == Set(["before"] + (0..<100).map { "during-\($0)" }))
        }
    }

    @Test("in a ServiceGroup, graceful shutdown delivers what was queued and closes both clients")
    func serviceLifecycle() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("lifecycle", partitions: 2)
            let producer = try cluster.makeProducer()
            let consumer = try cluster.makeConsumer(group: "lifecycle-\(UUID())", topic: topic)
            let group = ServiceGroup(
                configuration: .init(services: [producer, consumer], logger: cluster.logger)
            )
            let received = LockedValues<String>()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                tasks.addTask {
                    for try await message in consumer.messages {
                        received.append(message.valueString ?? "")
                    }
                }
                for index in 0..<500 {
                    try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)"))
                }
                try await eventually("the consumer reads every message") { received.count == 500 }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(producer.statistics == .init(delivered: 500, failed: 0, queued: 0))
            #expect(Set(received.values) == Set((0..<500).map { "m\($0)" }))
            let late = try await #require(throws: KafkaError.self) {
                try await producer.send(KafkaProducerMessage(topic: topic, value: "late"))
            }
            #expect(late.code == .shutdown)
        }
    }

    @Test("KafkaAdmin creates a topic that clients can use (real Kafka only: the embedded broker has no controller)", .enabled(if: !TestCluster.usesEmbeddedBroker, "needs a real cluster: set KAFKA_BOOTSTRAP_SERVERS"))
    func adminCreatesTopics() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let admin = KafkaAdmin(bootstrapServers: [cluster.bootstrapServers], logger: cluster.logger)
            let name = "admin-\(UUID())"
            #expect(try await admin.createTopic(name, partitions: 3))
            let producer = try cluster.makeProducer()
            let report = try await producer.sendAndWait(KafkaProducerMessage(topic: name, partition: 2, value: "x"))
            #expect(report.partition == 2)
            await producer.close()
            await #expect(throws: KafkaError.self) { try await admin.createTopic("bad name", partitions: 1) }
        }
    }

    @Test("KafkaAdmin against an unreachable cluster fails within its timeout")
    func adminUnreachable() async throws {
        try await withLeakCheck {
            let admin = KafkaAdmin(bootstrapServers: ["127.0.0.1:1"], logger: TestCluster.quietLogger)
            let start = ContinuousClock.now
            let error = try await #require(throws: KafkaError.self) {
                try await admin.createTopic("orders", partitions: 1, timeout: .seconds(1))
            }
            #expect(error.isRetriable)
            #expect(ContinuousClock.now - start < .seconds(10))
        }
    }
}

/// Values appended from one task and read from another.
final class LockedValues<Value: Sendable>: Sendable {
    private let storage = Locked<[Value]>([])
    func append(_ value: Value) { self.storage.withLock { $0.append(value) } }
    var values: [Value] { self.storage.withLock { $0 } }
    var count: Int { self.storage.withLock { $0.count } }
}

/// Any state shared with callbacks and handlers, behind a lock (a class, so closures share it).
final class LockedState<State: Sendable>: Sendable {
    private let storage: Locked<State>
    init(_ state: State) { self.storage = Locked(state) }
    func withLock<Result>(_ body: (inout State) -> Result) -> Result { self.storage.withLock { body(&$0) } }
}
