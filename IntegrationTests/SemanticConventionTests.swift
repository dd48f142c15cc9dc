import Foundation
import InMemoryTracing
import Kafka
import KafkaTracing
import Testing
import Tracing
import TracingSDK

/// Messaging semantic conventions v1.44.0: the cluster id, the ambient link, settle spans, and
/// `OTEL_SEMCONV_STABILITY_OPT_IN`.
extension KafkaIntegrationTests {
    @Test("messaging.kafka.cluster.id is on producer and consumer spans once the client knows the cluster's id")
    func clusterID() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("cluster-id", partitions: 1)
            let capture = TraceCapture()
            let producer = TracedProducer(wrapping: try cluster.makeProducer())
            producer.producer.start()  // its poll thread learns the cluster id
            try await eventually("the producer knows the cluster id") { producer.producer.clusterID != nil }
            let clusterID = try #require(producer.producer.clusterID)
            #expect(!clusterID.isEmpty)
            try await withTracer(capture.tracer) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "x"))
                let consumer = try self.tracedConsumer(cluster, topic: topic)
                try await self.consume(1, with: consumer) { _ in }
                #expect(consumer.consumer.clusterID == clusterID)
            }
            await producer.close()
            let spans = await capture.spans()
            for name in ["send \(topic)", "process \(topic)"] {
                let span = try capture.span(named: name, in: spans)
                #expect(span.attributes.get("messaging.kafka.cluster.id") == .string(clusterID), "\(name)")
            }
        }
    }

    @Test("a client that never reached its cluster sends no cluster id, and is not held up by it")
    func clusterIDUnknown() async throws {
        try await withLeakCheck {
            var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])
            configuration.messageTimeout = .milliseconds(500)
            let producer = TracedProducer(wrapping: try KafkaProducer(configuration: configuration, logger: TestCluster.quietLogger))
            let capture = TraceCapture()
            await #expect(throws: KafkaError.self) {
                try await withTracer(capture.tracer) {
                    _ = try await producer.sendAndWait(KafkaProducerMessage(topic: "nowhere", value: "x"))
                }
            }
            await producer.close()
            let send = try capture.span(named: "send nowhere", in: await capture.spans())
            #expect(producer.producer.clusterID == nil)
            #expect(send.attributes.get("messaging.kafka.cluster.id") == nil)
            #expect(send.attributes.get("messaging.system") == .string("kafka"))
        }
    }

    @Test("a handler run inside an application span: the process span's parent is the creation context, and it links the ambient span")
    func ambientLink() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("ambient", partitions: 1)
            let capture = TraceCapture()
            let producer = TracedProducer(wrapping: try cluster.makeProducer())
            try await withTracer(capture.tracer) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "x"))
                let consumer = try self.tracedConsumer(cluster, topic: topic)
                try await withSpan("worker") { _ in
                    try await self.consume(1, with: consumer) { _ in }
                }
            }
            await producer.close()
            let spans = await capture.spans()
            let send = try capture.span(named: "send \(topic)", in: spans)
            let worker = try capture.span(named: "worker", in: spans)
            let process = try capture.span(named: "process \(topic)", in: spans)
            #expect(process.parentSpanID == send.spanContext.spanID)
            #expect(process.spanContext.traceID == send.spanContext.traceID)
            #expect(process.links.map(\.spanContext.spanID) == [send.spanContext.spanID, worker.spanContext.spanID])

            // Without an ambient span there is only the creation context's link (checked in
            // oneTraceAcrossTwoHops); under link-only parenting the ambient context is not linked
            // either, since nothing replaced it as the parent.
        }
    }

    @Test("OTEL_SEMCONV_STABILITY_OPT_IN: messaging (the default) and messaging/dup", arguments: [
        ([:], false),
        (["OTEL_SEMCONV_STABILITY_OPT_IN": "messaging"], false),
        (["OTEL_SEMCONV_STABILITY_OPT_IN": "http, messaging/dup"], true),
        (["OTEL_SEMCONV_STABILITY_OPT_IN": "messaging,messaging/dup"], true),
        (["OTEL_SEMCONV_STABILITY_OPT_IN": "database/dup"], false),
    ] as [([String: String], Bool)])
    func semconvOptInFromEnvironment(environment: [String: String], duplicates: Bool) {
        #expect(SemconvStabilityOptIn.fromEnvironment(environment).emitsPreviousNames == duplicates)
    }

    @Test("messaging/dup emits the current and the pre-1.27 names; messaging the current ones only; emitsLegacyAttributes still works")
    func semconvDup() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("semconv-dup", partitions: 1)
            let previous = [
                "messaging.destination", "messaging.operation", "messaging.kafka.partition",
                "messaging.kafka.destination.partition", "messaging.kafka.message.offset",
            ]
            for optIn in [SemconvStabilityOptIn.messaging, .messagingDup] {
                let capture = TraceCapture()
                let options = KafkaTracingOptions(semconvStabilityOptIn: optIn)
                var configuration = cluster.producerConfiguration()
                configuration.clientID = "semconv-client"
                let producer = TracedProducer(wrapping: try KafkaProducer(configuration: configuration, logger: cluster.logger), options: options)
                try await withTracer(capture.tracer) {
                    _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "x"))
                    let consumer = try self.tracedConsumer(cluster, topic: topic, options: options)
                    try await self.consume(1, with: consumer) { _ in }
                }
                await producer.close()
                let spans = await capture.spans()
                let send = try capture.span(named: "send \(topic)", in: spans)
                let process = try capture.span(named: "process \(topic)", in: spans)
                for span in [send, process] {
                    #expect(span.attributes.get("messaging.destination.name") == .string(topic))
                    #expect(span.attributes.get("messaging.destination.partition.id") == .string("0"))
                    for name in previous {
                        #expect((span.attributes.get(name) != nil) == optIn.emitsPreviousNames, "\(span.name) \(name) under \(optIn)")
                    }
                }
                #expect(send.attributes.get("messaging.operation") == (optIn.emitsPreviousNames ? .string("publish") : nil))
                #expect(send.attributes.get("messaging.client_id") == (optIn.emitsPreviousNames ? .string("semconv-client") : nil))
                #expect((process.attributes.get("messaging.kafka.consumer.group") != nil) == optIn.emitsPreviousNames)
                #expect(process.attributes.get("messaging.consumer.group.name") != nil)
            }
            // The deprecated switch is an alias of messaging/dup (this use warns, on purpose).
            var legacy = KafkaTracingOptions(semconvStabilityOptIn: .messaging)
            legacy.emitsLegacyAttributes = true
            #expect(legacy.semconvStabilityOptIn == .messagingDup)
        }
    }
}
