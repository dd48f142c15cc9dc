import Foundation
import Kafka
import Testing

extension KafkaIntegrationTests {
    @Test("an unknown property or a bad value fails at construction with librdkafka's text")
    func badConfiguration() async throws {
        try await withLeakCheck {
            var configuration = KafkaProducerConfiguration(bootstrapServers: ["localhost:9092"])
            configuration.properties["no.such.property"] = "1"
            let unknown = try #require(throws: KafkaError.self) { try KafkaProducer(configuration: configuration) }
            #expect(unknown.code == .invalidArgument)
            #expect(unknown.message.contains("no.such.property"))
            #expect(unknown.message.contains("No such configuration property"))

            configuration.properties = ["linger.ms": "soon"]
            let badValue = try #require(throws: KafkaError.self) { try KafkaProducer(configuration: configuration) }
            #expect(badValue.message.contains("linger.ms"))
            #expect(badValue.message.contains("Invalid value"))

            let consumer = KafkaConsumerConfiguration(bootstrapServers: ["localhost:9092"], groupID: "", topics: ["t"])
            let noGroup = try #require(throws: KafkaError.self) { try KafkaConsumer(configuration: consumer) }
            #expect(noGroup.message.contains("groupID"))

            let noServers = try #require(throws: KafkaError.self) {
                try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: []))
            }
            #expect(noServers.message.contains("bootstrapServers"))
        }
    }

    @Test("secrets never appear in descriptions or errors")
    func secretsStayHidden() async throws {
        try await withLeakCheck {
            let secret = "hunter2-secret-value"
            var configuration = KafkaProducerConfiguration(
                bootstrapServers: ["localhost:9092"],
                security: KafkaSecurity(
                    securityProtocol: .saslSSL,
                    keyPassword: secret,
                    saslMechanism: .plain,
                    saslUsername: "svc",
                    saslPassword: secret
                )
            )
            #expect(!"\(configuration)".contains(secret))
            #expect("\(configuration)".contains("sasl.password=***"))
            #expect(!String(reflecting: configuration.clientProperties).contains(secret))

            configuration.properties["sasl.oauthbearer.client.secret"] = secret
            configuration.properties["no.such.property"] = secret
            let error = try #require(throws: KafkaError.self) { try KafkaProducer(configuration: configuration) }
            #expect(!"\(error)".contains(secret))
        }
    }

    @Test("invalid topic names and oversize messages fail at send; what was queued is still delivered")
    func badMessages() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("bad-messages", partitions: 1)
            var configuration = cluster.producerConfiguration()
            configuration.properties["message.max.bytes"] = "10000"
            let producer = try KafkaProducer(configuration: configuration, logger: cluster.logger)
            let queued = Task {
                try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "queued before"))
            }
            for name in ["", "has space", "ünïcode", ".", "..", String(repeating: "x", count: 250)] {
                let error = try await #require(throws: KafkaError.self) {
                    try await producer.send(KafkaProducerMessage(topic: name, value: "x"))
                }
                #expect(error.code == .invalidTopic)
                #expect(error.message.contains("invalid topic name"))
            }
            let tooLarge = try await #require(throws: KafkaError.self) {
                try await producer.send(KafkaProducerMessage(topic: topic, value: [UInt8](repeating: 1, count: 20_000)))
            }
            #expect(tooLarge.code == .messageSizeTooLarge)
            #expect(!tooLarge.isRetriable)

            let report = try await queued.value
            #expect(report.offset == 0)
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "after"))
            await producer.close()
            #expect(producer.statistics == .init(delivered: 2, failed: 0, queued: 0))

            let closed = try await #require(throws: KafkaError.self) {
                try await producer.send(KafkaProducerMessage(topic: topic, value: "too late"))
            }
            #expect(closed.code == .shutdown)
        }
    }

    @Test("unreachable brokers: a delivery fails after message.timeout.ms, and closing never hangs")
    func unreachableBrokers() async throws {
        try await withLeakCheck {
            // A port nothing listens on.
            let address = "127.0.0.1:1"
            let producer = try KafkaProducer(
                configuration: KafkaProducerConfiguration(bootstrapServers: [address], messageTimeout: .seconds(2)),
                logger: TestCluster.quietLogger
            )
            let start = ContinuousClock.now
            let error = try await #require(throws: KafkaError.self) {
                try await producer.sendAndWait(KafkaProducerMessage(topic: "nowhere", value: "x"))
            }
            #expect(error.code == .messageTimedOut)
            #expect(error.isRetriable)
            #expect(ContinuousClock.now - start < .seconds(10))
            await producer.close()
            #expect(producer.statistics == .init(delivered: 0, failed: 1, queued: 0))

            let consumer = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(bootstrapServers: [address], groupID: "g", topics: ["nowhere"]),
                logger: TestCluster.quietLogger
            )
            try await Task.sleep(for: .milliseconds(500))
            let closeStart = ContinuousClock.now
            await consumer.close()
            #expect(ContinuousClock.now - closeStart < .seconds(10))
            var iterator = consumer.messages.makeAsyncIterator()
            #expect(try await iterator.next() == nil)
        }
    }

    @Test("a producer dropped without close still delivers what it queued and frees its handle")
    func droppedProducerDelivers() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("dropped", partitions: 1)
            do {
                let producer = try cluster.makeProducer()
                for index in 0..<200 {
                    try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)"))
                }
            }
            let consumer = try cluster.makeConsumer(group: "dropped-\(UUID())", topic: topic)
            let received = try await collect(200, from: consumer)
            await consumer.close()
            #expect(received.compactMap(\.valueString) == (0..<200).map { "m\($0)" })
        }
    }
}
