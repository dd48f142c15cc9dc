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
    /// Also emits the older attribute names (`messaging.destination`, `messaging.kafka.partition`,
    /// `messaging.kafka.message.offset`, `messaging.operation`) for dashboards built on them.
    public var emitsLegacyAttributes: Bool

    /// The trace headers a traced send owns: all of them are removed from a message before the
    /// current context is injected (see ``TraceHeaderNames``). The W3C three are always included;
    /// add the fields of the other propagators your tracer uses, such as
    /// `TraceHeaderNames.b3.union(.jaeger)`.
    public var traceHeaders: TraceHeaderNames {
        get { self.ownedTraceHeaders }
        set { self.ownedTraceHeaders = newValue.union(.w3c) }
    }
    private var ownedTraceHeaders: TraceHeaderNames = .w3c

    public init(
        consumerParenting: ConsumerParenting = .childAndLink,
        topicsWithoutPropagation: Set<String> = [],
        capturedHeaders: [String] = [],
        recordsBodySize: Bool = false,
        emitsLegacyAttributes: Bool = false,
        traceHeaders: TraceHeaderNames = .w3c
    ) {
        self.consumerParenting = consumerParenting
        self.topicsWithoutPropagation = topicsWithoutPropagation
        self.ownedTraceHeaders = traceHeaders.union(.w3c)
        self.capturedHeaders = capturedHeaders
        self.recordsBodySize = recordsBodySize
        self.emitsLegacyAttributes = emitsLegacyAttributes
    }

    /// Whether trace context travels in the headers of `topic`'s messages (no hashing when no
    /// topic is excluded, the usual case).
    func propagates(on topic: String) -> Bool {
        self.topicsWithoutPropagation.isEmpty || !self.topicsWithoutPropagation.contains(topic)
    }
}
