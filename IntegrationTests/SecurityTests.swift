import Foundation
import Kafka
import KafkaTracing
import Logging
import OTLPTestReceiver
import Synchronization
import Testing
import TracingSDK

@testable import OTLPExporter

extension KafkaIntegrationTests {
    @Test("TLS and SASL settings reach librdkafka: a missing CA file and an unknown mechanism fail with a clear message")
    func securitySettingsFailClearly() async throws {
        try await withLeakCheck {
            let missingCA = KafkaProducerConfiguration(
                bootstrapServers: ["localhost:9093"],
                security: KafkaSecurity(securityProtocol: .ssl, caCertificateLocation: "/nonexistent/ca.pem")
            )
            let caError = try #require(throws: KafkaError.self) { try KafkaProducer(configuration: missingCA) }
            #expect(caError.message.contains("ssl.ca.location"), "\(caError.message)")
            #expect(caError.message.contains("/nonexistent/ca.pem"), "\(caError.message)")

            var mechanism = KafkaConsumerConfiguration(bootstrapServers: ["localhost:9093"], groupID: "g", topics: ["t"])
            mechanism.security.securityProtocol = .saslPlaintext
            mechanism.properties["sasl.mechanisms"] = "BOGUS"
            let mechanismError = try #require(throws: KafkaError.self) { try KafkaConsumer(configuration: mechanism) }
            #expect(mechanismError.message.contains("BOGUS"), "\(mechanismError.message)")
        }
    }

    @Test("a SASL password and OTLP header values never appear in any log line, at any level")
    func secretsNeverLogged() async throws {
        try await withLeakCheck {
            let logs = LogCapture()
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("secrets", partitions: 1)
            let password = "sasl-hunter2-\(UUID())"
            let token = "Bearer otlp-token-\(UUID())"

            // The embedded broker speaks no SASL: the client fails to authenticate and says so.
            let producer = try KafkaProducer(
                configuration: KafkaProducerConfiguration(
                    bootstrapServers: [cluster.bootstrapServers],
                    messageTimeout: .seconds(2),
                    security: KafkaSecurity(securityProtocol: .saslPlaintext, saslMechanism: .plain, saslUsername: "svc", saslPassword: password),
                    properties: ["debug": "security,broker"]
                ),
                logger: logs.logger(label: "kafka")
            )
            await #expect(throws: KafkaError.self) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "x"))
            }
            await producer.close()

            // A collector that cannot be reached: the exporter warns, with the endpoint, not the token.
            let exporter = try OTLPHTTPExporter(
                configuration: .init(endpoint: "http://127.0.0.1:9/v1/traces", headers: ["authorization": token], timeout: .milliseconds(300), environment: [:]),
                logger: logs.logger(label: "otlp")
            )
            let provider = TracerProvider(
                configuration: .init(serviceName: "secrets", exporters: [exporter], exportsImmediately: false, environment: [:]),
                logger: logs.logger(label: "tracing")
            )
            provider.tracer.startSpan("s").end()
            await provider.forceFlush()
            await provider.shutdown()

            let lines = logs.lines
            #expect(lines.count > 5, "expected librdkafka's security debug logs and the exporter's warning: \(lines)")
            #expect(lines.contains { $0.contains("otlp") && $0.contains("dropped") })
            #expect(!lines.contains { $0.contains(password) }, "a SASL password was logged")
            #expect(!lines.contains { $0.contains("otlp-token") }, "an OTLP header value was logged")
        }
    }
}
