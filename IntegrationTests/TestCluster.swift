import Foundation
import Kafka
import Logging

/// The Kafka cluster the integration tests run against: the one at `KAFKA_BOOTSTRAP_SERVERS`
/// when that is set (the docker-compose Kafka), otherwise an embedded broker started per test.
final class TestCluster: Sendable {
    let bootstrapServers: String
    let embedded: EmbeddedKafkaBroker?
    let logger: Logger

    init(brokers: Int = 1) throws {
        var logger = Logger(label: "integration-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .notice
        self.logger = logger
        if let external = Self.externalBootstrapServers {
            self.bootstrapServers = external
            self.embedded = nil
            print("IntegrationTests: using the Kafka cluster at KAFKA_BOOTSTRAP_SERVERS=\(external)")
        } else {
            let broker = try EmbeddedKafkaBroker(brokers: brokers, logger: logger)
            self.bootstrapServers = broker.bootstrapServers
            self.embedded = broker
            print("IntegrationTests: using an embedded broker at \(broker.bootstrapServers)")
        }
    }

    /// `KAFKA_BOOTSTRAP_SERVERS`, when the tests run against a real cluster.
    static let externalBootstrapServers: String? = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"]
        .flatMap { $0.isEmpty ? nil : $0 }

    /// Whether the tests run on the embedded broker: fault injection needs it, and a test that
    /// needs a real cluster is skipped (visibly) on it.
    static var usesEmbeddedBroker: Bool { Self.externalBootstrapServers == nil }

    /// For tests that expect librdkafka to complain (unreachable brokers): only errors show.
    static var quietLogger: Logger {
        var logger = Logger(label: "integration-tests")
        // Quiet unless TEST_LOG_LEVEL asks (as for `logger`): then the clients of the tests that
        // expect failures log too.
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    /// A topic with a unique name and `partitions` partitions.
    func makeTopic(_ prefix: String, partitions: Int) async throws -> String {
        let name = "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
        if let embedded {
            try embedded.createTopic(name, partitions: partitions)
        } else {
            try await KafkaAdmin(bootstrapServers: [self.bootstrapServers], logger: self.logger)
                .createTopic(name, partitions: partitions)
        }
        return name
    }

    func producerConfiguration() -> KafkaProducerConfiguration {
        KafkaProducerConfiguration(
            bootstrapServers: [self.bootstrapServers],
            clientID: "integration-tests",
            linger: .milliseconds(2),
            messageTimeout: .seconds(30)
        )
    }

    func makeProducer() throws -> KafkaProducer {
        try KafkaProducer(configuration: self.producerConfiguration(), logger: self.logger)
    }

    /// A consumer in `group` reading `topic` from the earliest offset.
    func makeConsumer(group: String, topic: String) throws -> KafkaConsumer {
        try KafkaConsumer(configuration: self.consumerConfiguration(group: group, topics: [topic]), logger: self.logger)
    }

    func consumerConfiguration(group: String, topics: [String]) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(
            bootstrapServers: [self.bootstrapServers],
            groupID: group,
            topics: topics,
            autoOffsetReset: .earliest,
            sessionTimeout: .seconds(6),
            heartbeatInterval: .milliseconds(300),
            commitInterval: .milliseconds(200)
        )
    }
}

/// Collects messages from a consumer until `count` arrived or `timeout` passed.
func collect(
    _ count: Int,
    from consumer: KafkaConsumer,
    timeout: Duration = .seconds(30)
) async throws -> [KafkaConsumerMessage] {
    try await withThrowingTaskGroup(of: [KafkaConsumerMessage].self) { group in
        group.addTask {
            var received: [KafkaConsumerMessage] = []
            var iterator = consumer.messages.makeAsyncIterator()
            while received.count < count, let message = try await iterator.next() {
                received.append(message)
            }
            // The loop ends without asking for another message, so store the last one here.
            if let last = received.last { try consumer.storeOffset(last) }
            return received
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimeoutError(what: "waiting for \(count) messages")
        }
        let result = try await group.next()!
        group.cancelAll()
        return result
    }
}

struct TimeoutError: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out \(self.what)" }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(
    timeout: Duration = .seconds(30),
    _ what: String,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TimeoutError(what: what)
}
