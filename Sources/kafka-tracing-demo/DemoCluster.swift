import Kafka
import Logging

/// The Kafka cluster the demo uses: an embedded broker, or the cluster at the given servers.
struct DemoCluster: CustomStringConvertible, Sendable {
    let bootstrapServers: String
    let embedded: EmbeddedKafkaBroker?

    init(bootstrapServers: String?, topics: [String], logger: Logger) async throws {
        if let bootstrapServers, !bootstrapServers.isEmpty {
            self.bootstrapServers = bootstrapServers
            self.embedded = nil
            let admin = KafkaAdmin(bootstrapServers: bootstrapServers.split(separator: ",").map(String.init), logger: logger)
            for topic in topics { try await admin.createTopic(topic, partitions: 4, timeout: .seconds(15)) }
        } else {
            let broker = try EmbeddedKafkaBroker(brokers: 1, logger: logger)
            for topic in topics { try broker.createTopic(topic, partitions: 4) }
            self.bootstrapServers = broker.bootstrapServers
            self.embedded = broker
        }
    }

    var description: String {
        self.embedded != nil ? "an embedded Kafka broker (\(self.bootstrapServers))" : "Kafka at \(self.bootstrapServers)"
    }

    var servers: [String] { self.bootstrapServers.split(separator: ",").map(String.init) }

    var producerConfiguration: KafkaProducerConfiguration {
        KafkaProducerConfiguration(bootstrapServers: self.servers, clientID: "kafka-tracing-demo", linger: .milliseconds(1))
    }

    func consumerConfiguration(group: String, topic: String) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(
            bootstrapServers: self.servers,
            groupID: group,
            topics: [topic],
            clientID: "kafka-tracing-demo",
            autoOffsetReset: .earliest,
            sessionTimeout: .seconds(6),
            heartbeatInterval: .milliseconds(300)
        )
    }

    func shutdown() { self.embedded?.shutdown() }
}
