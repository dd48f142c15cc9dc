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

@Suite("Configuration checks")
struct KafkaConfigurationCheckTests {
    @Test("consumer settings include at-least-once offset handling")
    func consumerProperties() throws {
        let configuration = KafkaConsumerConfiguration(
            bootstrapServers: ["a:9092"],
            groupID: "billing",
            topics: ["orders"],
            autoOffsetReset: .earliest,
            sessionTimeout: .seconds(10),
            heartbeatInterval: .milliseconds(1500),
            commitInterval: .milliseconds(250)
        )
        let properties = configuration.clientProperties
        #expect(properties["group.id"] == "billing")
        #expect(properties["auto.offset.reset"] == "earliest")
        #expect(properties["session.timeout.ms"] == "10000")
        #expect(properties["heartbeat.interval.ms"] == "1500")
        #expect(properties["auto.commit.interval.ms"] == "250")
        #expect(properties["enable.auto.commit"] == "true")
        #expect(properties["enable.auto.offset.store"] == "false")
        try configuration.validate()
    }

    @Test(
        "invalid consumer configurations say what to fix",
        arguments: [
            (KafkaConsumerConfiguration(bootstrapServers: ["a:9092"], groupID: "", topics: ["t"]), "groupID"),
            (KafkaConsumerConfiguration(bootstrapServers: ["a:9092"], groupID: "g", topics: []), "topics"),
            (KafkaConsumerConfiguration(bootstrapServers: ["a:9092"], groupID: "g", topics: ["bad topic"]), "invalid topic name"),
            (KafkaConsumerConfiguration(bootstrapServers: [" "], groupID: "g", topics: ["t"]), "bootstrapServers"),
            (
                KafkaConsumerConfiguration(
                    bootstrapServers: ["a:9092"], groupID: "g", topics: ["t"], properties: ["enable.auto.commit": "false"]
                ), "offsetStorage"
            ),
            (
                KafkaConsumerConfiguration(
                    bootstrapServers: ["a:9092"], groupID: "g", topics: ["t"], properties: ["session.timeout.ms": "-5"]
                ), "session.timeout.ms"
            ),
        ]
    )
    func invalidConsumer(configuration: KafkaConsumerConfiguration, mentions: String) {
        #expect {
            try configuration.validate()
        } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.code == .invalidArgument || error.code == .invalidTopic
                ? error.message.contains(mentions) : false
        }
    }

    @Test("a producer configuration validates against librdkafka without connecting")
    func producerValidation() throws {
        try KafkaProducerConfiguration(bootstrapServers: ["a:9092"], compression: .lz4).validate()
        #expect(throws: KafkaError.self) {
            try KafkaProducerConfiguration(bootstrapServers: ["a:9092"], properties: ["acks": "some"]).validate()
        }
    }

    @Test("secrets are masked in descriptions", arguments: [
        "sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret",
        "ssl.key.pem", "sasl.oauthbearer.config",
    ])
    func masking(key: String) {
        #expect(KafkaClientProperties.isSecret(key))
        let configuration = KafkaProducerConfiguration(bootstrapServers: ["a:9092"], properties: [key: "s3cr3t"])
        #expect(!configuration.description.contains("s3cr3t"))
        #expect(configuration.description.contains("\(key)=***"))
    }

    @Test("ordinary properties are printed")
    func notMasked() {
        #expect(!KafkaClientProperties.isSecret("bootstrap.servers"))
        #expect(!KafkaClientProperties.isSecret("ssl.key.location"))
        #expect(KafkaProducerConfiguration(bootstrapServers: ["a:9092"]).description.contains("bootstrap.servers=a:9092"))
    }
}
