import Kafka
import Tracing

/// The messaging metrics' per-message work, without a broker: what a traced producer does for
/// each delivery report and a traced consumer for each message it hands to a handler, run by the
/// same code. For the benchmarks that isolate the metrics' cost from librdkafka's noise (a
/// delivery report's latency cannot be faked: librdkafka reads it from private fields).
/// Not API: it may change in any release.
@_spi(Benchmarks)
public struct MessagingMetricsProbe: Sendable {
    let metrics: MessagingMetrics
    /// What a handling loop keeps between messages, as `TracedConsumer`'s loops do: a task that
    /// records through its own copy of the probe is such a loop.
    private var last = MessagingMetrics.LastInstruments()

    /// A producer's (`send`) or consumer's (`process`) metrics, made from the factory in force
    /// (`withMetricsFactory`, else the bootstrapped one); `nil` when that is the no-op one.
    public init?(consumerGroup: String? = nil, bootstrapServers: [String] = ["localhost:9092"]) {
        let client = ClientAttributes(bootstrapServers: bootstrapServers, clientID: nil, consumerGroup: consumerGroup)
        guard let metrics = MessagingMetrics(operation: consumerGroup == nil ? "send" : "process", client: client) else {
            return nil
        }
        self.metrics = metrics
    }

    /// A delivery report's metrics: the sent counter and the operation duration.
    /// - Parameter topicIdentity: the same number for every report to `topic` (librdkafka's
    ///   topic handle, in a real report).
    public func delivered(topic: String, topicIdentity: UInt, partition: Int32, latencyMicroseconds: Int64) {
        self.metrics.delivered(
            topicIdentity: topicIdentity,
            partition: partition,
            errorCode: nil,
            latencyMicroseconds: latencyMicroseconds,
            topic: topic
        )
    }

    /// Messages of one topic handled successfully in one handler call (usually one message):
    /// the consumed counter and queue time of each, the process duration and the lag in
    /// seconds, as ``TracedConsumer`` records them around a handler.
    public mutating func processed(_ messages: [KafkaConsumerMessage]) {
        self.record(messages) { _ in monotonicNanoseconds() }
    }

    /// ``processed(_:)`` inside a `process` span of `tracer`'s, timed as ``TracedConsumer`` times
    /// it with metrics on: the span starts and ends at the metrics' clock readings.
    public mutating func processed(_ messages: [KafkaConsumerMessage], inSpanOf tracer: any Tracer) {
        self.record(messages) { started in
            let span = ProcessTiming.startSpan("process", context: .topLevel, tracer: tracer, at: started)
            return ProcessTiming.end(span, timed: true)
        }
    }

    /// (Inlined into both callers, so that neither pays for the other's path: the harness's own
    /// work stays out of what the benchmarks measure.)
    /// - Parameter handle: from the start's monotonic reading to the end's.
    @inline(__always)
    private mutating func record(_ messages: [KafkaConsumerMessage], handle: (UInt64) -> UInt64) {
        guard !messages.isEmpty else { return }
        let received = self.metrics.received(messages, last: &self.last)
        let ended = handle(received.monotonic)
        self.metrics.processed(
            messages,
            received,
            // (Read in place, as TracedConsumer reads them: not a copy of the message.)
            topic: messages[0].topic,
            partition: messages.count == 1 ? messages[0].partition : nil,
            started: received.monotonic,
            ended: ended,
            errorType: nil
        )
    }

    /// The same span without metrics, on the tracer's own clock, as ``TracedConsumer`` makes it
    /// with no metrics backend: the baseline of ``processed(_:inSpanOf:)``.
    public static func span(of tracer: any Tracer) {
        let span = ProcessTiming.startSpan("process", context: .topLevel, tracer: tracer, at: nil)
        _ = ProcessTiming.end(span, timed: false)
    }
}

