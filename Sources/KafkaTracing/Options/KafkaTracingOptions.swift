/// What the Kafka instrumentation records and propagates.
public struct KafkaTracingOptions: Sendable {
    /// How a consumer span relates to the producer's context found in the message.
    public struct ConsumerParenting: Sendable, Hashable {
        private enum Backing: Sendable, Hashable { case childAndLink, linkOnly }
        private let backing: Backing

        /// The processing span continues the producer's trace (its parent is the message's context)
        /// and also links to it. The default: one trace across the queue.
        public static let childAndLink = ConsumerParenting(backing: .childAndLink)
        /// Each message starts a new trace whose processing span links to the producer's context,
        /// for users who do not want traces that span queues.
        public static let linkOnly = ConsumerParenting(backing: .linkOnly)

        var isLinkOnly: Bool { self.backing == .linkOnly }
    }

    /// How consumer spans relate to producers.
    public var consumerParenting: ConsumerParenting
    /// Topics whose messages carry no trace headers (for consumers that cannot read headers):
    /// nothing is injected when sending to them (and the ``traceHeaders`` a message already has
    /// are removed), and nothing is extracted when reading them.
    public var topicsWithoutPropagation: Set<String>
    /// Headers to record as `messaging.kafka.header.<name>` attributes (their UTF-8 values).
    public var capturedHeaders: [String]
    /// Records `messaging.message.body.size` (opt-in in the semantic conventions).
    public var recordsBodySize: Bool
    /// Which attribute names spans carry: the current ones only (``SemconvStabilityOptIn/messaging``)
    /// or the pre-1.27 ones too (``SemconvStabilityOptIn/messagingDup``). By default,
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` decides (read when the options are made).
    public var semconvStabilityOptIn: SemconvStabilityOptIn
    /// Also emits the pre-1.27 attribute names.
    @available(*, deprecated, message: "use semconvStabilityOptIn = .messagingDup (OTEL_SEMCONV_STABILITY_OPT_IN=messaging/dup)")
    public var emitsLegacyAttributes: Bool {
        get { self.emitsPreviousNames }
        set { self.semconvStabilityOptIn = newValue ? .messagingDup : .messaging }
    }
    @usableFromInline var emitsPreviousNames: Bool { self.semconvStabilityOptIn.emitsPreviousNames }
    /// Settle spans around offset commits (consumers). Off by default.
    public var settleSpans: SettleSpans
    /// How often a traced client made from a configuration asks librdkafka for its statistics,
    /// which give the consumer-lag and client gauges (``MessagingMetricName/consumerLag``, …),
    /// when a metrics backend is in force and the configuration sets no `statisticsInterval` of its
    /// own. `nil`: none are asked for. A client wrapped with `init(wrapping:)` reports them only
    /// if its own configuration asks for statistics.
    public var clientStatisticsInterval: Duration? = .seconds(5)

    /// The trace headers a traced send owns: all of them are removed from a message before the
    /// current context is injected (see ``TraceHeaderNames``). The W3C three are always included;
    /// add the fields of the other propagators your tracer uses, such as
    /// `TraceHeaderNames.b3.union(.jaeger)`.
    public var traceHeaders: TraceHeaderNames {
        get { self.ownedTraceHeaders }
        set { self.ownedTraceHeaders = newValue.union(.w3c) }
    }
    private var ownedTraceHeaders: TraceHeaderNames = .w3c

    /// - Parameter semconvStabilityOptIn: `nil` reads `OTEL_SEMCONV_STABILITY_OPT_IN`.
    public init(
        consumerParenting: ConsumerParenting = .childAndLink,
        topicsWithoutPropagation: Set<String> = [],
        capturedHeaders: [String] = [],
        recordsBodySize: Bool = false,
        semconvStabilityOptIn: SemconvStabilityOptIn? = nil,
        traceHeaders: TraceHeaderNames = .w3c,
        settleSpans: SettleSpans = .none
    ) {
        self.consumerParenting = consumerParenting
        self.topicsWithoutPropagation = topicsWithoutPropagation
        self.ownedTraceHeaders = traceHeaders.union(.w3c)
        self.capturedHeaders = capturedHeaders
        self.recordsBodySize = recordsBodySize
        self.semconvStabilityOptIn = semconvStabilityOptIn ?? .fromEnvironment()
        self.settleSpans = settleSpans
    }

    @available(*, deprecated, message: "use semconvStabilityOptIn: .messagingDup (OTEL_SEMCONV_STABILITY_OPT_IN=messaging/dup)")
    public init(
        consumerParenting: ConsumerParenting = .childAndLink,
        topicsWithoutPropagation: Set<String> = [],
        capturedHeaders: [String] = [],
        recordsBodySize: Bool = false,
        emitsLegacyAttributes: Bool,
        traceHeaders: TraceHeaderNames = .w3c,
        settleSpans: SettleSpans = .none
    ) {
        self.init(
            consumerParenting: consumerParenting,
            topicsWithoutPropagation: topicsWithoutPropagation,
            capturedHeaders: capturedHeaders,
            recordsBodySize: recordsBodySize,
            semconvStabilityOptIn: emitsLegacyAttributes ? .messagingDup : .messaging,
            traceHeaders: traceHeaders,
            settleSpans: settleSpans
        )
    }

    /// Whether trace context travels in the headers of `topic`'s messages (no hashing when no
    /// topic is excluded, the usual case).
    func propagates(on topic: String) -> Bool {
        self.topicsWithoutPropagation.isEmpty || !self.topicsWithoutPropagation.contains(topic)
    }
}
