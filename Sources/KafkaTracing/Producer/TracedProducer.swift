import Kafka
import Logging
import ServiceLifecycle
import Tracing

/// A drop-in replacement for ``KafkaProducer`` that traces every message.
///
/// Each send starts a PRODUCER span `send {topic}` as a child of the caller's current span,
/// injects its context into the message headers (`traceparent`, `tracestate`, `baggage`
/// replaced, other headers kept in order), and ends the span when the broker's delivery report
/// arrives, with the partition and offset, or with an error status, `error.type` (librdkafka's
/// error name) and an exception event.
///
/// It talks only to swift-distributed-tracing: the tracer is looked up at each send
/// (`withTracer`'s task-local one, else `InstrumentationSystem`'s), so it works with the built-in
/// `TracingSDK`, swift-otel or any other tracer.
public final class TracedProducer: Service, Sendable {
    /// The producer doing the sending.
    public let producer: KafkaProducer
    public let options: KafkaTracingOptions
    let client: ClientAttributes

    /// Creates a producer and traces it.
    /// - Throws: ``KafkaError`` as ``KafkaProducer/init(configuration:logger:)``.
    public convenience init(
        configuration: KafkaProducerConfiguration,
        options: KafkaTracingOptions = KafkaTracingOptions(),
        logger: Logger = Logger(label: "kafka.producer")
    ) throws {
        self.init(wrapping: try KafkaProducer(configuration: configuration, logger: logger), options: options)
    }

    /// Traces an existing producer.
    public init(wrapping producer: KafkaProducer, options: KafkaTracingOptions = KafkaTracingOptions()) {
        self.producer = producer
        self.options = options
        self.client = ClientAttributes(
            bootstrapServers: producer.configuration.bootstrapServers,
            clientID: producer.configuration.clientID
        )
    }

    /// Enqueues a message under a PRODUCER span and returns without waiting for the broker; the
    /// span ends at the delivery report.
    /// - Throws: as ``KafkaProducer/send(_:)``; the span then ends with the error.
    nonisolated(nonsending) public func send<Key, Value>(_ message: KafkaProducerMessage<Key, Value>) async throws {
        try await self.send(message, onDelivery: nil)
    }

    /// Enqueues a message under a PRODUCER span; `onDelivery` gets its outcome after the span ended.
    nonisolated(nonsending) public func send<Key, Value>(
        _ message: KafkaProducerMessage<Key, Value>,
        onDelivery: (@Sendable (KafkaProducer.DeliveryResult) -> Void)?
    ) async throws {
        var message = message
        let span = self.startSpan(for: &message)
        do {
            if span.isRecording || onDelivery != nil {
                try await self.producer.send(message) { result in
                    Self.finish(span, result)
                    onDelivery?(result)
                }
            } else {
                // Nothing is recorded: the span needs no delivery report to end.
                try await self.producer.send(message)
                span.end()
            }
        } catch {
            Self.fail(span, error)
            throw error
        }
    }

    /// Sends a message under a PRODUCER span and waits for the broker's answer.
    nonisolated(nonsending) public func sendAndWait<Key, Value>(_ message: KafkaProducerMessage<Key, Value>) async throws -> KafkaDeliveryReport {
        var message = message
        let span = self.startSpan(for: &message)
        do {
            let report = try await self.producer.sendAndWait(message)
            Self.finish(span, .success(report))
            return report
        } catch {
            Self.fail(span, error)
            throw error
        }
    }

    /// See ``KafkaProducer/flush()``.
    public func flush() async { await self.producer.flush() }

    /// See ``KafkaProducer/close()``: every queued message is delivered (and its span ended) first.
    public func close() async { await self.producer.close() }

    public func run() async throws { try await self.producer.run() }

    public var statistics: KafkaProducer.Statistics { self.producer.statistics }

    // MARK: Spans

    private func startSpan<Key, Value>(for message: inout KafkaProducerMessage<Key, Value>) -> any Span {
        let tracer = InstrumentationSystem.tracer
        let span = tracer.startAnySpan("send \(message.topic)", context: .current ?? .topLevel, ofKind: .producer)
        if span.isRecording {
            // Attributes a sampler or dashboard may use, set as the span starts.
            span.updateAttributes { attributes in
                attributes[MessagingAttribute.system] = "kafka"
                attributes[MessagingAttribute.operationName] = "send"
                attributes[MessagingAttribute.operationType] = "send"
                attributes[MessagingAttribute.destinationName] = message.topic
                if let partition = message.partition {
                    attributes[MessagingAttribute.partitionID] = String(partition)
                }
                if let key = message.key {
                    key.withUnsafeBytes { bytes in
                        if let text = String(validating: bytes, as: UTF8.self), !(key is KafkaNull) {
                            attributes[MessagingAttribute.messageKey] = text
                        }
                    }
                }
                if message.value == nil || message.value is KafkaNull {
                    attributes[MessagingAttribute.tombstone] = true
                }
                if self.options.recordsBodySize, let value = message.value {
                    attributes[MessagingAttribute.bodySize] = value.withUnsafeBytes { $0.count }
                }
                for name in self.options.capturedHeaders {
                    if let value = message.headers.last(where: { $0.key == name })?.stringValue {
                        attributes[MessagingAttribute.headerPrefix + name] = value
                    }
                }
                self.client.apply(to: &attributes)
                if self.options.emitsLegacyAttributes {
                    attributes[MessagingAttribute.legacyDestination] = message.topic
                    attributes[MessagingAttribute.legacyOperation] = "publish"
                }
            }
        }
        if !self.options.topicsWithoutPropagation.contains(message.topic) {
            // The headers carry the context even when the span is not sampled, with the flag off,
            // so downstream honours the decision.
            tracer.inject(span.context, into: &message.headers, using: KafkaHeadersInjector())
        }
        return span
    }

    static func finish(_ span: any Span, _ result: KafkaProducer.DeliveryResult) {
        switch result {
        case .success(let report):
            if span.isRecording {
                span.updateAttributes { attributes in
                    attributes[MessagingAttribute.partitionID] = String(report.partition)
                    if let offset = report.offset { attributes[MessagingAttribute.offset] = Int(offset) }
                }
            }
            span.end()
        case .failure(let error):
            fail(span, error)
        }
    }

    static func fail(_ span: any Span, _ error: any Error) {
        if span.isRecording {
            span.attributes[MessagingAttribute.errorType] = errorType(error)
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error, message: (error as? KafkaError)?.message ?? "\(error)"))
        }
        span.end()
    }
}

/// `error.type`: librdkafka's error name for Kafka errors, the type's name otherwise.
func errorType(_ error: any Error) -> String {
    if let kafka = error as? KafkaError { return kafka.name }
    return String(reflecting: type(of: error))
}
