import Kafka
import Logging
import ServiceLifecycle
import Tracing
import TracingCapabilities

/// A drop-in replacement for ``KafkaProducer`` that traces every message.
///
/// Each send starts a PRODUCER span `send {topic}` as a child of the caller's current span,
/// injects its context into the message headers (every trace header the message had —
/// `traceparent`, `tracestate`, `baggage` and ``KafkaTracingOptions/traceHeaders`` — removed first,
/// other headers kept in order), and ends the span when the broker's delivery report
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
    let templates: AttributeTemplates
    /// `send {topic}` for each topic, made once.
    @usableFromInline let spanNames = TopicSpanNames(prefix: "send ")
    /// `nil` when no metrics backend was in force when this producer was made.
    let metrics: MessagingMetrics?

    /// Creates a producer and traces it.
    /// - Throws: ``KafkaError`` as ``KafkaProducer/init(configuration:logger:)``.
    public convenience init(
        configuration: KafkaProducerConfiguration,
        options: KafkaTracingOptions = KafkaTracingOptions(),
        logger: Logger = Logger(label: "kafka.producer")
    ) throws {
        var configuration = configuration
        MessagingMetrics.askForStatistics(&configuration.statisticsInterval, configuration.properties, options)
        self.init(wrapping: try KafkaProducer(configuration: configuration, logger: logger), options: options)
    }

    /// Traces an existing producer.
    public init(wrapping producer: KafkaProducer, options: KafkaTracingOptions = KafkaTracingOptions()) {
        self.producer = producer
        self.options = options
        let client = ClientAttributes(
            bootstrapServers: producer.configuration.bootstrapServers,
            clientID: producer.configuration.clientID
        )
        self.templates = AttributeTemplates(
            operationName: "send",
            legacyOperation: options.emitsPreviousNames ? "publish" : nil,
            client: client,
            clusterID: { [producer] in producer.clusterID },
            // partition, offset, key; the opt-in ones when asked for
            perMessage: 3 + (options.emitsPreviousNames ? 3 : 0) + (options.recordsBodySize ? 1 : 0)
                + options.capturedHeaders.count
        )
        let metrics = MessagingMetrics(operation: "send", client: client)
        self.metrics = metrics
        if let metrics {
            // Every delivery report is counted where it is served: no closure per send.
            producer.onDeliveryReport { report in metrics.delivered(report) }
            producer.onStatistics { statistics in metrics.observed(statistics) }
        }
    }

    /// Enqueues a message under a PRODUCER span and returns without waiting for the broker; the
    /// span ends at the delivery report.
    /// - Throws: as ``KafkaProducer/send(_:)``; the span then ends with the error.
    @inlinable
    nonisolated(nonsending) public func send<Key, Value>(_ message: KafkaProducerMessage<Key, Value>) async throws {
        try await self.send(message, onDelivery: nil)
    }

    /// Enqueues a message under a PRODUCER span; `onDelivery` gets its outcome after the span ended.
    @inlinable
    nonisolated(nonsending) public func send<Key, Value>(
        _ message: KafkaProducerMessage<Key, Value>,
        onDelivery: (@Sendable (KafkaProducer.DeliveryResult) -> Void)?
    ) async throws {
        // (Inlinable, so that callers specialize it for their key and value types: unspecialized
        // generics cost more than the tracing.)
        // (Metrics need nothing here: the producer reports every delivery to them.)
        guard let tracer = TracerLookup.active() else {
            // No tracer installed: nothing to record or propagate, and no other trace's context
            // is sent on either.
            var message = message
            self.removeTraceHeaders(from: &message.headers)
            do {
                if let onDelivery {
                    try await self.producer.send(message, onDelivery: onDelivery)
                } else {
                    try await self.producer.send(message)
                }
            } catch {
                self.enqueueFailed(message.topic, message.partition, error)
                throw error
            }
            return
        }
        var message = message
        let span = self.startSpan(for: &message, tracer: tracer)
        do {
            if span.isRecording || onDelivery != nil {
                let previousNames = self.options.emitsPreviousNames
                try await self.producer.send(message) { result in
                    Self.finish(span, result, previousNames: previousNames, tracer: tracer)
                    onDelivery?(result)
                }
            } else {
                // Nothing is recorded: the span needs no delivery report to end.
                try await self.producer.send(message)
                span.end()
            }
        } catch {
            Self.fail(span, error)
            self.enqueueFailed(message.topic, message.partition, error)
            throw error
        }
    }

    /// Sends a message under a PRODUCER span and waits for the broker's answer.
    @inlinable
    nonisolated(nonsending) public func sendAndWait<Key, Value>(_ message: KafkaProducerMessage<Key, Value>) async throws -> KafkaDeliveryReport {
        let tracer = TracerLookup.active()
        var message = message
        let span = tracer.map { self.startSpan(for: &message, tracer: $0) }
        if tracer == nil { self.removeTraceHeaders(from: &message.headers) }
        // Enqueue, then wait for the report (as KafkaProducer.sendAndWait does): a refusal to
        // enqueue is counted here, a failed delivery at its report.
        let outcome = DeliveryOutcome()
        do {
            try await self.producer.send(message) { outcome.resolve($0) }
        } catch {
            if let span { Self.fail(span, error) }
            self.enqueueFailed(message.topic, message.partition, error)
            throw error
        }
        do {
            let report = try await outcome.value
            if let span, let tracer { Self.finish(span, .success(report), previousNames: self.options.emitsPreviousNames, tracer: tracer) }
            return report
        } catch {
            if let span { Self.fail(span, error) }
            throw error
        }
    }

    /// See ``KafkaProducer/flush()``.
    public func flush() async { await self.producer.flush() }

    /// See ``KafkaProducer/close()``: every queued message is delivered (and its span ended) first.
    public func close() async { await self.producer.close() }

    /// See ``KafkaProducer/close(timeout:)``: what is not delivered within `timeout` is purged,
    /// and each purged message's span ends with its error.
    @discardableResult
    public func close(timeout: Duration) async -> Bool { await self.producer.close(timeout: timeout) }

    /// See ``KafkaProducer/flush(timeout:)``.
    public func flush(timeout: Duration) async -> Bool { await self.producer.flush(timeout: timeout) }

    public func run() async throws { try await self.producer.run() }

    public var statistics: KafkaProducer.Statistics { self.producer.statistics }

    // MARK: Spans

    /// Starts the span, sets its attributes when it records, and injects its context.
    @inlinable
    func startSpan<Key, Value>(for message: inout KafkaProducerMessage<Key, Value>, tracer: ActiveTracer) -> any Span {
        let span = tracer.tracer.startAnySpan(self.spanNames.name(for: message.topic), context: .current ?? .topLevel, ofKind: .producer)
        if span.isRecording {
            // The generic parts are read here, specialized; the rest is shared code.
            let key: String? =
                message.key is KafkaNull
                ? nil : message.key.flatMap { key in key.withUnsafeBytes { String(validating: $0, as: UTF8.self) } }
            let isTombstone = message.value == nil || message.value is KafkaNull
            let bodySize = self.options.recordsBodySize ? message.value?.withUnsafeBytes { $0.count } : nil
            self.recordAttributes(
                on: span,
                tracer: tracer,
                topic: message.topic,
                partition: message.partition,
                key: key,
                isTombstone: isTombstone,
                bodySize: bodySize,
                headers: message.headers
            )
        }
        self.inject(span, topic: message.topic, into: &message.headers, tracer: tracer)
        return span
    }

    /// The attributes a sampler or dashboard may use, set as the span starts.
    @usableFromInline
    func recordAttributes(
        on span: any Span,
        tracer: ActiveTracer,
        topic: String,
        partition: Int32?,
        key: String?,
        isTombstone: Bool,
        bodySize: Int?,
        headers: [KafkaHeader]
    ) {
        tracer.setStartAttributes(of: span, template: self.templates.template(for: topic), reserving: self.templates.perMessage) { attributes in
            if let partition { attributes.set(MessagingAttribute.partitionID, value: .string(String(partition))) }
            if let key { attributes.set(MessagingAttribute.messageKey, value: .string(key)) }
            if isTombstone { attributes.set(MessagingAttribute.tombstone, value: .bool(true)) }
            if let bodySize { attributes.set(MessagingAttribute.bodySize, value: .int64(Int64(bodySize))) }
            self.options.captureHeaders(headers, into: &attributes)
        }
    }

    /// The headers carry the context even when the span is not sampled, with the flag off, so
    /// downstream honours the decision. A tracer that can write them from the span itself
    /// (`SpanContextInjectingTracer`, as the built-in one does) is spared building `span.context`.
    /// Every trace header the message already had goes first:
    /// what a tracer does not write (a `tracestate` or `baggage` the new context lacks, or any
    /// header under a tracer that writes none) must not survive from another trace.
    @usableFromInline
    func inject(_ span: any Span, topic: String, into headers: inout [KafkaHeader], tracer: ActiveTracer) {
        self.removeTraceHeaders(from: &headers)
        guard self.options.propagates(on: topic) else { return }
        tracer.inject(span, into: &headers, using: KafkaHeadersInjector())
    }

    /// Counts a send that librdkafka refused (no delivery report will count it).
    @usableFromInline
    func enqueueFailed(_ topic: String, _ partition: Int32?, _ error: any Error) {
        self.metrics?.failedToEnqueue(topic: topic, partition: partition, error)
    }

    @usableFromInline
    func removeTraceHeaders(from headers: inout [KafkaHeader]) {
        if !headers.isEmpty { self.options.traceHeaders.remove(from: &headers) }
    }

    @usableFromInline
    static func finish(_ span: any Span, _ result: KafkaProducer.DeliveryResult, previousNames: Bool, tracer: ActiveTracer) {
        switch result {
        case .success(let report):
            if span.isRecording {
                tracer.addAttributes(to: span) { Self.addDelivery(report, to: &$0, previousNames: previousNames) }
            }
            span.end()
        case .failure(let error):
            fail(span, error)
        }
    }

    @usableFromInline
    static func addDelivery(_ report: KafkaDeliveryReport, to attributes: inout SpanAttributeList, previousNames: Bool) {
        attributes.set(MessagingAttribute.partitionID, value: .string(String(report.partition)))
        if let offset = report.offset { attributes.set(MessagingAttribute.offset, value: .int64(offset)) }
        if previousNames {
            attributes.set(MessagingAttribute.legacyPartition, value: .int64(Int64(report.partition)))
            attributes.set(MessagingAttribute.legacyDestinationPartition, value: .int64(Int64(report.partition)))
            if let offset = report.offset { attributes.set(MessagingAttribute.legacyOffset, value: .int64(offset)) }
        }
    }

    @usableFromInline
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
