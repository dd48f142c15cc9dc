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
    public func processed(_ messages: [KafkaConsumerMessage]) { self.record(messages, inSpanOf: nil) }

    /// ``processed(_:)`` inside a `process` span of `tracer`'s, timed as ``TracedConsumer`` times
    /// it with metrics on: the span starts and ends at the metrics' clock readings.
    public func processed(_ messages: [KafkaConsumerMessage], inSpanOf tracer: any Tracer) {
        self.record(messages, inSpanOf: tracer)
    }

    private func record(_ messages: [KafkaConsumerMessage], inSpanOf tracer: (any Tracer)?) {
        guard let first = messages.first else { return }
        let received = self.metrics.received(messages)
        let ended: UInt64
        if let tracer {
            let span = ProcessTiming.startSpan("process", context: .topLevel, tracer: tracer, at: received.monotonic)
            ended = ProcessTiming.end(span, timed: true)
        } else {
            ended = monotonicNanoseconds()
        }
        self.metrics.processed(
            messages,
            received,
            topic: first.topic,
            partition: messages.count == 1 ? first.partition : nil,
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
