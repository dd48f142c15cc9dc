import Foundation
import Kafka
import KafkaTracing
import OTLPTestReceiver
import Synchronization
import Testing
import Tracing
import TracingSDK

@testable import OTLPExporter

/// Broker faults, bad luck in handlers, hostile headers and SIGTERM: nothing lost, nothing hung.
extension KafkaIntegrationTests {
    @Test("TracedProducer through produce errors and a broker outage: one outcome and one span per message, errors only where delivery failed", .enabled(if: TestCluster.usesEmbeddedBroker, "fault injection needs the embedded broker"))
    func tracedProducerThroughFaults() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let broker = try #require(cluster.embedded)
            let topic = try await cluster.makeTopic("traced-faults", partitions: 1)
            var configuration = cluster.producerConfiguration()
            configuration.properties["retry.backoff.ms"] = "10"
            let producer = TracedProducer(wrapping: try KafkaProducer(configuration: configuration, logger: TestCluster.quietLogger))
            let capture = TraceCapture()
            let outcomes = LockedState<[Int: [Bool]]>([:])  // index → the outcomes seen (delivered or not)
            let total = 300

            try await withTracer(capture.tracer) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "warm-up"))
                func send(_ range: Range<Int>) async throws {
                    for index in range {
                        try await producer.send(KafkaProducerMessage(topic: topic, key: "k\(index)", value: "v\(index)")) { result in
                            outcomes.withLock { $0[index, default: []].append((try? result.get()) != nil) }
                        }
                    }
                }
                // Retriable errors: retried, delivered.
                broker.pushRequestErrors(.produce, [.notLeaderForPartition, .requestTimedOut, .notLeaderForPartition])
                try await send(0..<100)
                #expect(await producer.producer.flush(timeout: .seconds(20)))
                // The only broker goes away for two seconds, then comes back.
                try broker.setBrokerDown(1)
                try await send(100..<200)
                try await Task.sleep(for: .seconds(2))
                try broker.setBrokerUp(1)
                #expect(await producer.producer.flush(timeout: .seconds(30)))
                // A non-retriable error fails the request it hits, and nothing else.
                broker.pushRequestErrors(.produce, [.invalidRecord])
                try await send(200..<total)
                #expect(await producer.producer.flush(timeout: .seconds(20)))
            }
            await producer.close()

            let results = outcomes.withLock { $0 }
            #expect(results.count == total, "every message has an outcome")
            #expect(results.values.allSatisfy { $0.count == 1 }, "no message has two outcomes")
            let failed = Set(results.filter { $0.value == [false] }.keys)
            let delivered = Set(results.filter { $0.value == [true] }.keys)
            #expect(!failed.isEmpty && failed.allSatisfy { $0 >= 200 }, "only the request hit by INVALID_RECORD fails: \(failed.sorted())")

            // One PRODUCER span per message, ended once; error status exactly on the failed ones.
            let spans = await capture.spans().filter { $0.name == "send \(topic)" && $0.attributes.get("messaging.kafka.message.key") != nil }
            #expect(spans.count == total)
            #expect(Set(spans.map(\.spanContext.spanID)).count == total)
            let errorKeys = Set(
                spans.filter { $0.status?.code == .error }.compactMap { span -> String? in
                    guard case .string(let key)? = span.attributes.get("messaging.kafka.message.key") else { return nil }
                    return key
                }
            )
            #expect(errorKeys == Set(failed.map { "k\($0)" }))
            for span in spans where span.status?.code == .error {
                #expect(span.attributes.get("error.type") == .string("INVALID_RECORD"))
            }

            // Every delivered message is on the topic; no failed one is.
            let consumer = try cluster.makeConsumer(group: "traced-faults-\(UUID())", topic: topic)
            let received = try await collect(1 + delivered.count, from: consumer)
            await consumer.close()
            #expect(Set(received.compactMap(\.keyString)) == Set(delivered.map { "k\($0)" }))
        }
    }

    @Test("a traced consumer rides out a broker outage and a restart resumes from its committed offsets without loss", .enabled(if: TestCluster.usesEmbeddedBroker, "fault injection needs the embedded broker"))
    func tracedConsumerThroughOutage() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let broker = try #require(cluster.embedded)
            let topic = try await cluster.makeTopic("consumer-outage", partitions: 2)
            let group = "consumer-outage-\(UUID())"
            let producer = try cluster.makeProducer()
            for index in 0..<100 { try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)")) }
            #expect(await producer.flush(timeout: .seconds(20)))

            let handled = LockedValues<String>()
            let consumer = try TracedConsumer(configuration: cluster.consumerConfiguration(group: group, topics: [topic]), logger: TestCluster.quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await consumer.run { message in handled.append(message.valueString ?? "") } }
                try await eventually("the first messages are handled") { handled.count >= 100 }
                try broker.setBrokerDown(1)
                try await Task.sleep(for: .seconds(3))
                try broker.setBrokerUp(1)
                for index in 100..<200 { try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)")) }
                #expect(await producer.flush(timeout: .seconds(30)))
                try await eventually("the messages sent after the outage are handled") { Set(handled.values).count == 200 }
                // Commit until the group's coordinator, found again after the outage, takes it:
                // once (of many runs, under TSan) nothing was committed at all, neither by the
                // periodic commits nor by close, and the restart below read from the start. What
                // the restart checks is that the offsets committed are the handled ones.
                try await eventually("the offsets are committed after the outage") {
                    (try? await consumer.consumer.commit()) != nil
                }
                await consumer.close()
                try await tasks.waitForAll()
            }
            #expect(Set(handled.values) == Set((0..<200).map { "m\($0)" }))

            // A restart in the same group reads only what came after: its offsets were committed.
            for index in 200..<220 { try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)")) }
            await producer.close()
            let restarted = try cluster.makeConsumer(group: group, topic: topic)
            let resumed = try await collect(20, from: restarted)
            await restarted.close()
            #expect(Set(resumed.compactMap(\.valueString)) == Set((200..<220).map { "m\($0)" }))
        }
    }

    @Test("a handler that throws sometimes never loses or skips a message, with two small lanes; a poison message is dead-lettered and the rest go on")
    func failuresUnderLoad() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("flaky", partitions: 4)
            let deadLetters = try await cluster.makeTopic("flaky-dlq", partitions: 1)
            let producer = try cluster.makeProducer()
            let total = 400
            let consumer = try TracedConsumer(
                configuration: cluster.consumerConfiguration(group: "flaky-\(UUID())", topics: [topic]),
                failurePolicy: .deadLetter(topic: deadLetters, producer: producer, retries: 3, backoff: .milliseconds(5)),
                logger: TestCluster.quietLogger
            )
            let attempts = LockedState<[String: Int]>([:])
            let succeeded = LockedValues<String>()
            let order = LockedState<[Int32: [Int64]]>([:])
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    // Two lanes of four buffered messages: reading often waits for a full lane.
                    try await consumer.run(partitionConcurrency: 2, bufferedPerLane: 4) { message in
                        let value = message.valueString ?? ""
                        let attempt = attempts.withLock { counts -> Int in
                            counts[value, default: 0] += 1
                            return counts[value]!
                        }
                        // Every 7th message fails its first two attempts; the poison one always fails.
                        if value == "poison" || (Int(value.dropFirst()).map { $0 % 7 == 0 } == true && attempt <= 2) {
                            throw FlakyFailure(value: value, attempt: attempt)
                        }
                        order.withLock { $0[message.partition, default: []].append(message.offset) }
                        succeeded.append(value)
                    }
                }
                // A steady stream across the partitions, the poison message in the middle.
                for index in 0..<total {
                    if index == total / 2 {
                        try await producer.send(KafkaProducerMessage(topic: topic, partition: 2, value: "poison"))
                    }
                    try await producer.send(KafkaProducerMessage(topic: topic, key: "k\(index)", value: "m\(index)"))
                    if index % 50 == 0 { try await Task.sleep(for: .milliseconds(10)) }
                }
                try await eventually("every good message is handled") { Set(succeeded.values).count == total }
                await consumer.close()
                try await tasks.waitForAll()
            }
            #expect(Set(succeeded.values) == Set((0..<total).map { "m\($0)" }))
            #expect(succeeded.count == total, "a message succeeded twice")
            #expect(attempts.withLock { $0["poison"] } == 4, "the poison message is tried once and retried three times")
            // Within each partition, offsets were handled in order: none skipped, none repeated.
            for (partition, offsets) in order.withLock({ $0 }) {
                let expected = Array(offsets.sorted())
                #expect(offsets == expected, "partition \(partition) was handled out of order")
                #expect(Set(offsets).count == offsets.count)
            }
            let dlqConsumer = try cluster.makeConsumer(group: "flaky-dlq-\(UUID())", topic: deadLetters)
            let dead = try await collect(1, from: dlqConsumer)
            await dlqConsumer.close()
            await producer.close()
            #expect(dead.map(\.valueString) == ["poison"])
            #expect(dead.first?.headers.contains { $0.key == "dlq.original.partition" && $0.stringValue == "2" } == true)
        }
    }

    @Test("with partition concurrency, a poison message retries and is dead-lettered on its partition while the others keep progressing, each in order")
    func poisonHoldsUpOnlyItsPartition() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("lanes", partitions: 4)
            let deadLetters = try await cluster.makeTopic("lanes-dlq", partitions: 1)
            let producer = try cluster.makeProducer()
            let perPartition = 60
            let group = "lanes-\(UUID())"
            let consumer = try TracedConsumer(
                configuration: cluster.consumerConfiguration(group: group, topics: [topic]),
                // About 1.4 s of retries: 200 + 400 + 800 ms.
                failurePolicy: .deadLetter(topic: deadLetters, producer: producer, retries: 3, backoff: .milliseconds(200)),
                logger: TestCluster.quietLogger
            )
            enum Event { case handled(partition: Int32, offset: Int64), poisonAttempt }
            let events = LockedState<[Event]>([])
            let running = LockedState<(now: Int, most: Int)>((0, 0))
            // Partition 0 starts with the poison message; every partition then gets a steady stream.
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, partition: 0, value: "poison"))
            for index in 0..<perPartition {
                for partition in Int32(0)..<4 {
                    try await producer.send(KafkaProducerMessage(topic: topic, partition: partition, value: "p\(partition)-\(index)"))
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await consumer.run(partitionConcurrency: 4) { message in
                        running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                        defer { running.withLock { $0.now -= 1 } }
                        if message.valueString == "poison" {
                            events.withLock { $0.append(.poisonAttempt) }
                            throw FlakyFailure(value: "poison", attempt: 0)
                        }
                        try await Task.sleep(for: .milliseconds(2))
                        events.withLock { $0.append(.handled(partition: message.partition, offset: message.offset)) }
                    }
                }
                try await eventually("every good message is handled") {
                    events.withLock { $0.filter { if case .handled = $0 { true } else { false } }.count } >= 4 * perPartition
                }
                await consumer.close()
                try await tasks.waitForAll()
            }
            let timeline = events.withLock { $0 }
            let attempts = timeline.indices.filter { if case .poisonAttempt = timeline[$0] { true } else { false } }
            #expect(attempts.count == 4, "the poison message is tried once and retried three times")
            // While partition 0 was stuck retrying, the other partitions were handled.
            let duringRetries = timeline[(attempts.first ?? 0)...(attempts.last ?? 0)].filter {
                if case .handled(let partition, _) = $0 { partition != 0 } else { false }
            }
            #expect(duringRetries.count > 30, "other partitions should progress during the retries (\(duringRetries.count) handled)")
            #expect(running.withLock { $0.most } > 1, "handlers of different partitions should run at once")
            // Every message handled exactly once, in offset order within its partition.
            var byPartition: [Int32: [Int64]] = [:]
            for case .handled(let partition, let offset) in timeline { byPartition[partition, default: []].append(offset) }
            for partition in Int32(0)..<4 {
                let offsets = byPartition[partition] ?? []
                #expect(offsets.count == perPartition, "partition \(partition)")
                #expect(offsets == offsets.sorted() && Set(offsets).count == offsets.count, "partition \(partition) out of order")
            }
            let dlqConsumer = try cluster.makeConsumer(group: "lanes-dlq-\(UUID())", topic: deadLetters)
            let dead = try await collect(1, from: dlqConsumer)
            await dlqConsumer.close()
            #expect(dead.map(\.valueString) == ["poison"])
            // Everything was committed on close: the group has nothing left to read.
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, partition: 1, value: "after"))
            let again = try cluster.makeConsumer(group: group, topic: topic)
            let rest = try await collect(1, from: again)
            await again.close()
            await producer.close()
            #expect(rest.map(\.valueString) == ["after"])
        }
    }

    @Test("hostile trace headers: random bytes, 64 KB values, a thousand duplicates, non-UTF-8, nulls: a new root trace each, no crash")
    func hostileHeaders() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("hostile", partitions: 1)
            let producer = try cluster.makeProducer()
            var generator = SystemRandomNumberGenerator()
            func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }
            let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let hostile: [(String, [KafkaHeader])] = [
                ("random", [KafkaHeader(key: "traceparent", value: randomBytes(55)), KafkaHeader(key: "tracestate", value: randomBytes(300))]),
                ("huge", [KafkaHeader(key: "traceparent", value: String(repeating: "0", count: 64 * 1024)),
                          KafkaHeader(key: "tracestate", value: String(repeating: "a=b,", count: 16 * 1024)),
                          KafkaHeader(key: "baggage", value: String(repeating: "k=v,", count: 16 * 1024))]),
                ("duplicates", Array(repeating: KafkaHeader(key: "traceparent", value: valid), count: 999) + [KafkaHeader(key: "traceparent", value: "garbage")]),
                ("non-utf8", [KafkaHeader(key: "traceparent", value: [0xff, 0xfe] + Array(valid.utf8.dropFirst(2)))]),
                ("null", [KafkaHeader(key: "traceparent", value: nil), KafkaHeader(key: "baggage", value: nil)]),
            ]
            for (name, headers) in hostile {
                try await producer.send(KafkaProducerMessage(topic: topic, key: name, value: name, headers: headers))
            }
            #expect(await producer.flush(timeout: .seconds(20)))
            await producer.close()

            let capture = TraceCapture()
            let consumer = try self.tracedConsumer(cluster, topic: topic)
            let seen = LockedValues<String>()
            try await withTracer(capture.tracer) {
                try await self.consume(hostile.count, with: consumer) { message in seen.append(message.keyString ?? "") }
            }
            #expect(Set(seen.values) == Set(hostile.map(\.0)))
            let spans = await capture.spans().filter { $0.name == "process \(topic)" }
            #expect(spans.count == hostile.count)
            for span in spans {
                #expect(span.parentSpanID == nil, "\(String(describing: span.attributes.get("messaging.kafka.message.key"))) continued a hostile context")
                #expect(span.spanContext.traceID.description != "4bf92f3577b34da6a3ce929d0e0e4736")
                #expect(span.links.isEmpty)
            }
        }
    }

    @Test(
        "relay under SIGTERM: the messages in hand finish, offsets are committed, every relayed message is delivered and its spans exported; a restart loses nothing",
        arguments: [1, 2]
    )
    func relayGracefulShutdown(partitionConcurrency: Int) async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let source = try await cluster.makeTopic("sigterm-in", partitions: 2)
            let destination = try await cluster.makeTopic("sigterm-out", partitions: 2)
            let group = "sigterm-\(UUID())"
            let total = 150
            let producer = try cluster.makeProducer()
            for index in 0..<total { try await producer.send(KafkaProducerMessage(topic: source, value: "m\(index)")) }
            #expect(await producer.flush(timeout: .seconds(20)))
            await producer.close()

            let receiver = try await OTLPReceiver.start()
            defer { Task { await receiver.stop() } }
            let arguments = [
                "relay", "--from", source, "--to", destination, "--group", group, "--work-ms", "20",
                "--partition-concurrency", "\(partitionConcurrency)",
                "--bootstrap-servers", cluster.bootstrapServers, "--otlp-endpoint", "http://127.0.0.1:\(receiver.port)",
            ] + Self.quickGroups
            let environment = ["OTEL_BSP_SCHEDULE_DELAY": "100"]
            let first = try DemoProcess.start(arguments, environment: environment)
            try await eventually("the relay is under way") {
                try ExportedSpan.decode(receiver.requests).contains { $0.span.name == "send \(destination)" }
            }
            first.terminate()
            let stopped = try await first.wait(timeout: .seconds(60))
            #expect(stopped.status == 0, "SIGTERM should end the relay cleanly: \(stopped.errors)")
            let summary = try #require(stopped.output.split(separator: "\n").last { $0.hasPrefix("Relayed ") }, "\(stopped.output)")
            let relayedText = try #require(summary.split(separator: " ").dropFirst().first)
            let relayed = try #require(Int(relayedText))
            #expect(relayed > 0 && relayed < total, "the signal should arrive mid-stream (relayed \(relayed))")
            // Every span it started was ended and exported (two per message: process and send).
            #expect(
                stopped.output.contains("Spans: \(2 * relayed) started, \(2 * relayed) ended, \(2 * relayed) exported, 0 dropped"),
                "\(stopped.output.split(separator: "\n").filter { $0.hasPrefix("Spans:") })"
            )

            // Everything it relayed was delivered, and every span of it exported.
            let spans = try ExportedSpan.decode(receiver.requests)
            #expect(spans.filter { $0.span.name == "send \(destination)" }.count == relayed)
            #expect(spans.filter { $0.span.name == "process \(source)" }.count == relayed)
            let reader = try cluster.makeConsumer(group: "sigterm-check-\(UUID())", topic: destination)
            let delivered = try await collect(relayed, from: reader)
            #expect(Set(delivered.compactMap(\.valueString)).count == relayed)

            // A restart takes over from the committed offsets: the rest, and nothing twice.
            let second = try await DemoProcess.run(
                ["relay", "--from", source, "--to", destination, "--group", group, "--count", "\(total - relayed)",
                 "--bootstrap-servers", cluster.bootstrapServers] + Self.quickGroups,
                environment: ["OTEL_TRACES_EXPORTER": "none"]
            )
            #expect(second.status == 0, "\(second.errors)")
            let rest = try await collect(total - relayed, from: reader)
            await reader.close()
            let all = (delivered + rest).compactMap(\.valueString)
            #expect(Set(all) == Set((0..<total).map { "m\($0)" }), "first run: \(stopped.errors)\nsecond run: \(second.errors)")
            #expect(all.count == total, "\(all.count - Set(all).count) messages were relayed twice")
        }
    }
}

extension KafkaIntegrationTests {
    /// The embedded broker ignores a consumer's LeaveGroup (librdkafka 2.0.2's mock; plain C
    /// clients see the same), so a restarted member waits for the old one's session to expire.
    static let quickGroups = ["--kafka-property", "session.timeout.ms=6000", "--kafka-property", "heartbeat.interval.ms=300"]
}

struct FlakyFailure: Error {
    var value: String
    var attempt: Int
}
