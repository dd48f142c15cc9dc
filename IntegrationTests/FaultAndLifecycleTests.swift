import Foundation
import Kafka
import KafkaTracing
import Locking
import Logging
import ServiceLifecycle
import Testing
import Tracing

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

    @Test("close(timeout:) with the broker down returns in time; every queued message fails (purged) and its span ends with the error", .enabled(if: TestCluster.usesEmbeddedBroker, "fault injection needs the embedded broker"))
    func closeWithTimeout() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let broker = try #require(cluster.embedded)
            let topic = try await cluster.makeTopic("close-timeout", partitions: 2)
            var configuration = cluster.producerConfiguration()
            configuration.messageTimeout = .seconds(300)  // librdkafka's default: what close would wait for
            let capture = TraceCapture()
            let producer = TracedProducer(wrapping: try KafkaProducer(configuration: configuration, logger: TestCluster.quietLogger))
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "before"))

            try broker.setBrokerDown(1)
            let outcomes = Locked<[Int: KafkaProducer.DeliveryResult]>([:])
            try await withTracer(capture.tracer) {
                for index in 0..<50 {
                    try await producer.send(KafkaProducerMessage(topic: topic, value: "stuck-\(index)")) { result in
                        outcomes.withLock { $0[index] = result }
                    }
                }
            }
            let started = ContinuousClock.now
            #expect(await producer.close(timeout: .milliseconds(500)) == false)
            let elapsed = ContinuousClock.now - started
            #expect(elapsed < .seconds(3), "close(timeout: 0.5 s) took \(elapsed)")
            let results = outcomes.withLock { $0 }
            #expect(results.count == 50, "every message has an outcome")
            #expect(results.values.allSatisfy { if case .failure = $0 { true } else { false } })
            let spans = await capture.spans().filter { $0.name == "send \(topic)" }
            #expect(spans.count == 50)
            #expect(spans.allSatisfy { $0.status?.code == .error })
            let late = try await #require(throws: KafkaError.self) {
                try await producer.send(KafkaProducerMessage(topic: topic, value: "late"))
            }
            #expect(late.code == .shutdown)
        }
    }

    @Test("a cancelled run() with the broker down ends within about a second; the queued messages fail, none is left without an outcome", .enabled(if: TestCluster.usesEmbeddedBroker, "fault injection needs the embedded broker"))
    func cancelledRun() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let broker = try #require(cluster.embedded)
            let topic = try await cluster.makeTopic("cancelled-run", partitions: 2)
            var configuration = cluster.producerConfiguration()
            configuration.messageTimeout = .seconds(300)
            let producer = try KafkaProducer(configuration: configuration, logger: TestCluster.quietLogger)
            let run = Task { try await producer.run() }
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "before"))

            try broker.setBrokerDown(1)
            let outcomes = Locked<[Int: KafkaProducer.DeliveryResult]>([:])
            for index in 0..<50 {
                try await producer.send(KafkaProducerMessage(topic: topic, value: "stuck-\(index)")) { result in
                    outcomes.withLock { $0[index] = result }
                }
            }
            // A flush in a cancelled task returns at once, undelivered.
            let flush = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return await producer.flush(timeout: .seconds(60))
            }
            #expect(await flush.value == false)

            let started = ContinuousClock.now
            run.cancel()
            try await run.value
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .seconds(1), "a cancelled run still tries to deliver for a second")
            #expect(elapsed < .seconds(3), "a cancelled run took \(elapsed)")
            let results = outcomes.withLock { $0 }
            #expect(results.count == 50)
            #expect(results.values.allSatisfy { if case .failure = $0 { true } else { false } })
            #expect(producer.statistics == .init(delivered: 1, failed: 50, queued: 0))
        }
    }

    @Test("a cancelled TracedConsumer.run() returns within a second after the handler in progress ends, and commits what was handled")
    func cancelledConsumerRun() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("cancelled-consumer", partitions: 1)
            let producer = try cluster.makeProducer()
            for index in 0..<20 {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "m\(index)"))
            }
            await producer.close()
            let group = "cancelled-consumer-\(UUID())"
            let consumer = try TracedConsumer(configuration: cluster.consumerConfiguration(group: group, topics: [topic]), logger: TestCluster.quietLogger)
            let handled = LockedValues<String>()
            let inHandler = LockedValues<Bool>()
            let run = Task {
                try await consumer.run { message in
                    handled.append(message.valueString ?? "")
                    if handled.count == 3 {
                        inHandler.append(true)
                        // A handler that ignores cancellation and takes 500 ms more.
                        let until = ContinuousClock.now + .milliseconds(500)
                        while ContinuousClock.now < until { try? await Task.sleep(for: .milliseconds(10)) }
                    }
                }
            }
            try await eventually("the third message is in its handler") { inHandler.count == 1 }
            let started = ContinuousClock.now
            run.cancel()
            _ = try? await run.value
            let elapsed = ContinuousClock.now - started
            #expect(elapsed < .milliseconds(500) + .seconds(1) + .milliseconds(500), "a cancelled run took \(elapsed)")
            #expect(handled.values == ["m0", "m1", "m2"], "no handler starts after the cancellation")

            // What was handled is committed: the group goes on from m3.
            let next = try cluster.makeConsumer(group: group, topic: topic)
            let rest = try await collect(17, from: next)
            await next.close()
            #expect(rest.first?.valueString == "m3")
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
