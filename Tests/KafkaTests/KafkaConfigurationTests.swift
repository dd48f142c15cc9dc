import Kafka
import Testing

@Suite("Configuration")
struct KafkaConfigurationTests {
    @Test("typed settings become librdkafka properties, and passthrough properties win")
    func typedSettings() {
        let configuration = KafkaProducerConfiguration(
            bootstrapServers: ["a:9092", "b:9092"],
            clientID: "orders",
            acks: .all,
            linger: .milliseconds(5),
            batchSize: 65_536,
            compression: .zstd,
            enableIdempotence: true,
            messageTimeout: .seconds(30),
            security: KafkaSecurity(securityProtocol: .saslSSL, saslMechanism: .scramSHA512, saslUsername: "svc"),
            properties: ["linger.ms": "7", "socket.keepalive.enable": "true"]
        )
        let properties = configuration.clientProperties
        #expect(properties["bootstrap.servers"] == "a:9092,b:9092")
        #expect(properties["client.id"] == "orders")
        #expect(properties["acks"] == "all")
        #expect(properties["batch.size"] == "65536")
        #expect(properties["compression.codec"] == "zstd")
        #expect(properties["enable.idempotence"] == "true")
        #expect(properties["message.timeout.ms"] == "30000")
        #expect(properties["security.protocol"] == "sasl_ssl")
        #expect(properties["sasl.mechanisms"] == "SCRAM-SHA-512")
        #expect(properties["sasl.username"] == "svc")
        #expect(properties["socket.keepalive.enable"] == "true")
        #expect(properties["linger.ms"] == "7")
    }
}
