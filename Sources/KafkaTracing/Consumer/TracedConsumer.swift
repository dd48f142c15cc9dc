import Kafka
import Logging
import ServiceLifecycle
import Tracing
import TracingCapabilities

/// Consumes messages with a handler closure that runs inside a CONSUMER span per message.
///
/// For each message, a span `process {topic}` is started whose parent is the context found in
/// the message headers (the last header wins for repeated keys; a missing or invalid context
/// starts a new trace), and which also links to that context. The handler runs with the span as
/// its current context, so its own spans are children and a ``TracedProducer`` send inside it
/// continues the same trace. The span ends when the handler returns.
///
/// Delivery is at-least-once: a message's offset is stored (and later committed) only after its
/// handler succeeded, or after it was dead-lettered. A handler that throws is retried per the
/// ``FailurePolicy``, then the consumer stops with the error or sends the message to a dead-letter
/// topic and goes on.
///
/// ```swift
/// let consumer = try TracedConsumer(configuration: .init(bootstrapServers: ["localhost:9092"], groupID: "billing", topics: ["orders"]))
/// try await consumer.run { message in
///     try await handle(message)   // spans started here are children of `process orders`
/// }
/// ```
public final class TracedConsumer: Sendable {
    /// What happens when a handler throws.
    public struct FailurePolicy: Sendable {
        enum Final: Sendable {
            case stop
            case deadLetter(topic: String, producer: KafkaProducer)
        }

        /// Attempts after the first one.
        public var retries: Int
        /// The wait before the first retry; it doubles for each further retry (at most 30 s).
        public var backoff: Duration
        let final: Final

        /// Retries, then stops the consumer with the handler's error (the message is not committed).
        public static func stop(retries: Int = 0, backoff: Duration = .milliseconds(100)) -> FailurePolicy {
            FailurePolicy(retries: retries, backoff: backoff, final: .stop)
        }

        /// Retries, then sends the message to `topic` (original key, value and headers, plus
        /// `dlq.*` headers saying why and where it came from, and the trace context of the failed
        /// processing span) and goes on with the next message.
        public static func deadLetter(
            topic: String,
            producer: KafkaProducer,
            retries: Int = 0,
            backoff: Duration = .milliseconds(100)
        ) -> FailurePolicy {
            FailurePolicy(retries: retries, backoff: backoff, final: .deadLetter(topic: topic, producer: producer))
        }
    }

    /// The consumer doing the reading (its offsets are stored by this type).
    public let consumer: KafkaConsumer
    public let options: KafkaTracingOptions
    public let failurePolicy: FailurePolicy
    let client: ClientAttributes
    let templates: AttributeTemplates
    /// `process {topic}` for each topic, made once (as the producer's `send {topic}`).
    let spanNames = TopicSpanNames(prefix: "process ")
    let settle: SettleSpanRecorder?
    /// `nil` when no metrics backend was in force when this consumer was made.
    let metrics: MessagingMetrics?
    let logger: Logger

    /// Creates a consumer and joins its group. Offsets are stored by the traced handler
    /// (the configuration's `offsetStorage` is set to manual).
    public init(
        configuration: KafkaConsumerConfiguration,
        options: KafkaTracingOptions = KafkaTracingOptions(),
        failurePolicy: FailurePolicy = .stop(),
        logger: Logger = Logger(label: "kafka.consumer")
    ) throws {
        var configuration = configuration
        configuration.offsetStorage = .manual
        MessagingMetrics.askForStatistics(&configuration.statisticsInterval, configuration.properties, options)
        self.consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        self.options = options
        self.failurePolicy = failurePolicy
        self.logger = logger
        let client = ClientAttributes(
            bootstrapServers: configuration.bootstrapServers,
            clientID: configuration.clientID,
            consumerGroup: configuration.groupID
        )
        self.client = client
        let consumer = self.consumer
        self.templates = AttributeTemplates(
            operationName: "process",
            legacyOperation: options.emitsPreviousNames ? "process" : nil,
            client: client,
            clusterID: { [consumer] in consumer.clusterID },
            // partition, offset, key; the opt-in ones when asked for
            perMessage: 3 + (options.emitsPreviousNames ? 3 : 0) + (options.recordsBodySize ? 1 : 0)
                + options.capturedHeaders.count
        )
        let metrics = MessagingMetrics(operation: "process", client: client)
        self.metrics = metrics
        if let metrics { self.consumer.onStatistics { statistics in metrics.observed(statistics) } }
        if options.settleSpans.isEnabled {
            let recorder = SettleSpanRecorder(
                settleSpans: options.settleSpans,
                templates: AttributeTemplates(
                    operationName: "commit",
                    operationType: "settle",
                    legacyOperation: options.emitsPreviousNames ? "settle" : nil,
                    client: client,
                    clusterID: { [consumer] in consumer.clusterID },
                    perMessage: 4
                )
            )
            self.settle = recorder
            // (The recorder holds no reference to the consumer: no cycle through its observer.)
            self.consumer.onCommit { report in recorder.committed(report) }
        } else {
            self.settle = nil
        }
    }

    /// Runs `handler` for each message until the consumer closes (``close()``, or a graceful
    /// shutdown when run in a ServiceLifecycle service) or the failure policy stops it.
    ///
    /// With `partitionConcurrency` 1 (the default), messages are handled one at a time. With more,
    /// up to that many handlers run at once, for different partitions: the messages of one
    /// partition are always handled one at a time and in order (so its offsets are stored in
    /// order), and a message being retried holds up only its own partition. Each of the
    /// `partitionConcurrency` lanes buffers at most `bufferedPerLane` messages; when the lane of a
    /// stuck partition is full, reading waits (memory stays bounded). Partitions are spread over
    /// the lanes in the order they first deliver. On close or graceful shutdown, handlers in
    /// progress finish and buffered messages are left for the group to read again. After a
    /// rebalance, messages already buffered for a partition that moved away are still handled
    /// here (their offsets are not stored), so its new owner may handle them again: delivery stays
    /// at-least-once.
    ///
    /// When `run` returns or throws, the consumer is closed: stored offsets are committed.
    /// Cancelled (the task, or ServiceLifecycle on a second signal), `run` starts no new handler,
    /// lets the ones in progress finish (a handler sees the cancellation: `Task.sleep` throws,
    /// and a `CancellationError` is not retried) and closes: it returns within about a second
    /// and a half after the last handler in progress ends (tested with the embedded broker).
    /// - Throws: ``TracedConsumerError`` when the policy is ``FailurePolicy/stop(retries:backoff:)``
    ///   and a message's handler kept failing (the other lanes are cancelled).
    public func run(
        partitionConcurrency: Int = 1,
        bufferedPerLane: Int = 256,
        _ handler: @escaping @Sendable (KafkaConsumerMessage) async throws -> Void
    ) async throws {
        do {
            try await withGracefulShutdownHandler {
                if partitionConcurrency > 1 {
                    try await self.runConcurrently(lanes: partitionConcurrency, bufferedPerLane: bufferedPerLane, handler)
                } else {
                    var lastInstruments = MessagingMetrics.LastInstruments()
                    for try await message in self.consumer.messages {
                        // Cancelled: no new handler starts (the buffered messages' offsets are
                        // not stored, so the group reads them again).
                        guard !Task.isCancelled else { break }
                        try await self.processOne(message, lastInstruments: &lastInstruments, handler)
                    }
                }
            } onGracefulShutdown: {
                self.consumer.requestClose()
            }
        } catch {
            // Stopped by the failure policy (or a fatal consumer error): commit what was done.
            await self.consumer.close()
            throw error
        }
        await self.consumer.close()
    }

    private func runConcurrently(
        lanes laneCount: Int,
        bufferedPerLane: Int,
        _ handler: @escaping @Sendable (KafkaConsumerMessage) async throws -> Void
    ) async throws {
        // Handlers still hold messages when the sequence ends: close only after they are done.
        self.consumer.handsMessagesOn()
        let lanes = (0..<laneCount).map { _ in PartitionLane(capacity: bufferedPerLane) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in lanes {
                group.addTask {
                    var lastInstruments = MessagingMetrics.LastInstruments()
                    while let message = await lane.receive() {
                        try await self.processOne(message, lastInstruments: &lastInstruments, handler)
                    }
                }
            }
            group.addTask {
                // Each partition keeps its lane, so its messages stay in order. When reading ends
                // (close, shutdown), handlers in progress finish and buffered messages are left.
                defer { for lane in lanes { lane.finish() } }
                var laneOfPartition: [KafkaTopicPartition: Int] = [:]
                for try await message in self.consumer.messages {
                    let partition = KafkaTopicPartition(topic: message.topic, partition: message.partition)
                    let index = laneOfPartition[partition] ?? laneOfPartition.count % lanes.count
                    laneOfPartition[partition] = index
                    guard await lanes[index].send(message) else { break }
                }
            }
            // The first error (a handler the policy gave up on) leaves the group, which cancels
            // the other lanes and the reader (`waitForAll` would wait for them instead).
            while try await group.next() != nil {}
        }
    }

    /// Runs `handler` for batches of messages already fetched (at most `maxMessages`), each batch
    /// inside one CONSUMER span with `messaging.batch.message_count` and a link to each message's
    /// context. The span is `process {topic}` with `messaging.destination.name` when the whole
    /// batch comes from one topic, and `process` without a destination when it spans several.
    ///
    /// When `runBatches` returns or throws, the consumer is closed: stored offsets are committed.
    public func runBatches(
        maxMessages: Int = 100,
        _ handler: @escaping @Sendable ([KafkaConsumerMessage]) async throws -> Void
    ) async throws {
        do {
            try await withGracefulShutdownHandler {
                var lastInstruments = MessagingMetrics.LastInstruments()
                while true {
                    let batch = try await self.consumer.nextBatch(maxCount: maxMessages)
                    guard let first = batch.first, !Task.isCancelled else { break }
                    let topic: String? = batch.allSatisfy { $0.topic == first.topic } ? first.topic : nil
                    // Semantic conventions: "If a corresponding {destination} value is not available
                    // for a specific operation, the instrumentation SHOULD omit the {destination}."
                    let spanName = topic.map { self.spanNames.name(for: $0) } ?? "process"
                    try await self.process(batch, topic: topic, spanName: spanName, lastInstruments: &lastInstruments, handler)
                }
            } onGracefulShutdown: {
                self.consumer.requestClose()
            }
        } catch {
            // Stopped by the failure policy (or a fatal consumer error): commit what was done.
            await self.consumer.close()
            throw error
        }
        await self.consumer.close()
    }

    /// One message, without an array (`CollectionOfOne`).
    private func processOne(
        _ message: KafkaConsumerMessage,
        lastInstruments: inout MessagingMetrics.LastInstruments,
        _ handler: @escaping @Sendable (KafkaConsumerMessage) async throws -> Void
    ) async throws {
        let spanName = self.spanNames.name(for: message.topic)
        try await self.process(CollectionOfOne(message), topic: message.topic, spanName: spanName, lastInstruments: &lastInstruments) {
            try await handler($0[0])
        }
    }

    /// Stops fetching, commits what was processed, and leaves the group.
    public func close() async { await self.consumer.close() }

    // MARK: Processing

    /// - Parameters:
    ///   - messages: one message (`CollectionOfOne`: no array to allocate per message) or a batch.
    ///   - topic: the messages' topic, or `nil` when they come from several.
    ///   - spanName: `process {topic}`, or `process` without one.
    ///   - lastInstruments: the calling loop's, kept between its calls: a run of one partition's
    ///     messages (what a lane always handles) skips the metrics' instrument table.
    private func process<Messages: RandomAccessCollection<KafkaConsumerMessage> & Sendable>(
        _ messages: Messages,
        topic: String?,
        spanName: String,
        lastInstruments: inout MessagingMetrics.LastInstruments,
        _ handler: @Sendable (Messages) async throws -> Void
    ) async throws where Messages.Index == Int {
        let active = TracerLookup.active() ?? .plain(NoOpTracer())
        let tracer = active.tracer
        // The producers' contexts, from the headers (one message's without an array).
        func producerContext(_ message: KafkaConsumerMessage) -> InstrumentationContext {
            var context = InstrumentationContext.topLevel
            if self.options.propagates(on: message.topic) {
                tracer.extract(message, into: &context, using: KafkaConsumerMessageExtractor())
            }
            return context
        }
        // One message continues its producer's trace (unless link-only); a batch, or a message
        // without a context, starts a new one. Either way the producers' contexts are linked.
        // A tracer that starts spans on a remote parent read from the headers continues one
        // message without the context built (``RemoteParentTracer``; it links the parent too).
        let remoteParent =
            messages.count == 1 && !self.options.consumerParenting.isLinkOnly && self.options.propagates(on: messages[0].topic)
            ? active.remoteParent : nil
        let firstProducerContext = remoteParent == nil ? producerContext(messages[0]) : .topLevel
        let otherProducerContexts = messages.dropFirst().map(producerContext)
        let continues = messages.count == 1 && !firstProducerContext.isEmpty && !self.options.consumerParenting.isLinkOnly
        let parent = continues ? firstProducerContext : InstrumentationContext.topLevel

        // Metrics (with or without a tracer): each message counted once, and how long it waited.
        let metrics = self.metrics
        let received = metrics?.received(messages, last: &lastInstruments) ?? .none
        let partition = messages.count == 1 ? messages[0].partition : nil

        var attempt = 0
        while true {
            let started = metrics == nil ? 0 : attempt == 0 ? received.monotonic : monotonicNanoseconds()
            // (With metrics, the span starts and ends at the metrics' clock readings: see ProcessTiming.)
            let timing = metrics == nil ? nil : started
            let span: any Span
            let continued: Bool
            if let remoteParent, let started = ProcessTiming.startSpan(spanName, continuing: messages[0], tracer: remoteParent, at: timing) {
                (span, continued) = (started, true)
            } else {
                (span, continued) = (ProcessTiming.startSpan(spanName, context: parent, tracer: tracer, at: timing), continues)
            }
            if span.isRecording {
                if !firstProducerContext.isEmpty { span.addLink(SpanLink(context: firstProducerContext, attributes: [:])) }
                for context in otherProducerContexts where !context.isEmpty {
                    span.addLink(SpanLink(context: context, attributes: [:]))
                }
                // A handler run inside a span of the application's (the ambient context) is
                // parented on the creation context instead: link the ambient span, as
                // messaging-spans.md asks.
                if continued, let ambient = InstrumentationContext.current, !ambient.isEmpty {
                    span.addLink(SpanLink(context: ambient, attributes: [:]))
                }
                active.setStartAttributes(of: span, template: self.templates.template(for: topic), reserving: self.templates.perMessage) { attributes in
                    self.addAttributes(of: messages, to: &attributes)
                    if attempt > 0 { attributes.set(MessagingAttribute.retryAttempt, value: .int64(Int64(attempt))) }
                }
            }
            do {
                let spanContext = span.context
                try await InstrumentationContext.withValue(spanContext) { try await handler(messages) }
                let ended = ProcessTiming.end(span, timed: metrics != nil)
                metrics?.processed(messages, received, topic: topic, partition: partition, started: started, ended: ended, errorType: nil)
                for message in messages {
                    try? self.consumer.storeOffset(message)
                    self.settle?.processed(message, context: spanContext, tracer: tracer)
                }
                return
            } catch {
                if span.isRecording {
                    span.attributes[MessagingAttribute.errorType] = errorType(error)
                    span.recordError(error)
                    span.setStatus(SpanStatus(code: .error, message: "\(error)"))
                }
                let failedContext = span.context
                let ended = ProcessTiming.end(span, timed: metrics != nil)
                metrics?.processed(messages, received, topic: topic, partition: partition, started: started, ended: ended, errorType: errorType(error))
                if error is CancellationError { throw error }
                if attempt < self.failurePolicy.retries {
                    attempt += 1
                    let delay = min(self.failurePolicy.backoff * (1 << min(attempt - 1, 20)), .seconds(30))
                    self.logger.warning(
                        "Message handler failed; retrying",
                        metadata: ["kafka.topic": "\(messages[0].topic)", "attempt": "\(attempt)", "error": "\(error)"]
                    )
                    try await Task.sleep(for: delay)
                    continue
                }
                switch self.failurePolicy.final {
                case .stop:
                    self.logger.error("Message handler failed; stopping the consumer", metadata: ["error": "\(error)"])
                    throw TracedConsumerError(message: messages[0], underlying: error)
                case .deadLetter(let deadLetterTopic, let producer):
                    for message in messages {
                        try await self.deadLetter(message, error: error, failedContext: failedContext, to: deadLetterTopic, producer: producer, tracer: tracer)
                        try? self.consumer.storeOffset(message)
                        self.settle?.processed(message, context: failedContext, tracer: tracer)
                    }
                    return
                }
            }
        }
    }

    private func deadLetter(
        _ message: KafkaConsumerMessage,
        error: any Error,
        failedContext: InstrumentationContext,
        to topic: String,
        producer: KafkaProducer,
        tracer: any Tracer
    ) async throws {
        var headers = message.headers
        headers.append(KafkaHeader(key: "dlq.original.topic", value: message.topic))
        headers.append(KafkaHeader(key: "dlq.original.partition", value: String(message.partition)))
        headers.append(KafkaHeader(key: "dlq.original.offset", value: String(message.offset)))
        headers.append(KafkaHeader(key: "dlq.consumer.group", value: self.client.consumerGroup ?? ""))
        headers.append(KafkaHeader(key: "dlq.error.type", value: errorType(error)))
        headers.append(KafkaHeader(key: "dlq.error.message", value: String("\(error)".prefix(1024))))
        // The dead letter carries the failed processing span's context (and no other), so its
        // trace continues.
        self.options.traceHeaders.remove(from: &headers)
        tracer.inject(failedContext, into: &headers, using: KafkaHeadersInjector())
        let deadLetter = KafkaProducerMessage(
            topic: topic,
            key: message.key,
            value: message.value,
            headers: headers
        )
        _ = try await producer.sendAndWait(deadLetter)
        self.logger.warning(
            "Message sent to the dead-letter topic",
            metadata: ["kafka.topic": "\(message.topic)", "kafka.deadLetterTopic": "\(topic)", "error": "\(error)"]
        )
    }

    /// The attributes of the messages at hand (the topic's are in the template).
    private func addAttributes(of messages: some RandomAccessCollection<KafkaConsumerMessage>, to attributes: inout SpanAttributeList) {
        guard messages.count == 1 else {
            attributes.set(MessagingAttribute.batchCount, value: .int64(Int64(messages.count)))
            return
        }
        let message = messages[messages.startIndex]
        attributes.set(MessagingAttribute.partitionID, value: .string(String(message.partition)))
        attributes.set(MessagingAttribute.offset, value: .int64(message.offset))
        if let key = message.keyString { attributes.set(MessagingAttribute.messageKey, value: .string(key)) }
        if message.isTombstone { attributes.set(MessagingAttribute.tombstone, value: .bool(true)) }
        if self.options.recordsBodySize {
            attributes.set(MessagingAttribute.bodySize, value: .int64(Int64(message.valueCount ?? 0)))
        }
        self.options.captureHeaders(of: message, into: &attributes)
        if self.options.emitsPreviousNames {
            attributes.set(MessagingAttribute.legacyPartition, value: .int64(Int64(message.partition)))
            attributes.set(MessagingAttribute.legacyDestinationPartition, value: .int64(Int64(message.partition)))
            attributes.set(MessagingAttribute.legacyOffset, value: .int64(message.offset))
        }
    }
}

/// A message whose handler kept failing, with the handler's error.
public struct TracedConsumerError: Error, CustomStringConvertible {
    /// The message that could not be processed.
    public var message: KafkaConsumerMessage
    /// What the handler threw the last time.
    public var underlying: any Error

    public var description: String {
        "processing \(self.message) failed: \(self.underlying)"
    }
}
