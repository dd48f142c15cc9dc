import Kafka
import Locking
import Tracing

/// Makes the settle spans of a traced consumer: it remembers the process spans whose offsets were
/// stored and not yet committed, and for each commit the consumer reports, starts and ends a
/// CLIENT span `commit {topic}` (`messaging.operation.type` = `settle`) over the commit's own time,
/// linking the process spans it settles.
///
/// Bounded: at most ``maxLinks`` contexts are kept per partition and linked per span; the
/// messages beyond are counted in `messaging.batch.message_count`.
final class SettleSpanRecorder: Sendable {
    static let maxLinks = 128

    private struct Pending {
        /// Process span contexts by offset, in order (the newest ``maxLinks``).
        var entries: [(offset: Int64, context: ServiceContext)] = []
        /// Older messages whose contexts were let go, and the last of their offsets.
        var dropped = 0
        var lastDroppedOffset: Int64 = -1
    }

    private struct State {
        var pending: [KafkaTopicPartition: Pending] = [:]
        /// The tracer the messages were processed under: commits are reported on the consumer's
        /// threads, which see no task-local tracer.
        var tracer: (any Tracer)?
    }

    private let state = Locked(State())
    private let templates: AttributeTemplates
    private let settleSpans: SettleSpans

    init(settleSpans: SettleSpans, templates: AttributeTemplates) {
        self.settleSpans = settleSpans
        self.templates = templates
    }

    /// A message was handled (or dead-lettered) and its offset stored under `context`'s span.
    func processed(_ message: KafkaConsumerMessage, context: ServiceContext, tracer: any Tracer) {
        let partition = KafkaTopicPartition(topic: message.topic, partition: message.partition)
        self.state.withLock { state in
            state.tracer = tracer
            state.pending[partition, default: Pending()].entries.append((message.offset, context))
            if state.pending[partition]!.entries.count > Self.maxLinks {
                let oldest = state.pending[partition]!.entries.removeFirst()
                state.pending[partition]!.dropped += 1
                state.pending[partition]!.lastDroppedOffset = oldest.offset
            }
        }
    }

    /// The consumer committed: one settle span for the commit.
    func committed(_ report: KafkaCommitReport) {
        // Every commit settles what it committed, also one that gets no span (so a later span
        // does not claim those messages).
        let (tracer, links, settled) = self.state.withLock { state in
            var links: [ServiceContext] = []
            var settled = 0
            for (partition, offset) in report.offsets {
                guard var pending = state.pending[partition] else { continue }
                if pending.dropped > 0, pending.lastDroppedOffset < offset {
                    settled += pending.dropped
                    pending.dropped = 0
                }
                // Offsets are stored in order, so the settled ones are a prefix.
                let count = pending.entries.prefix { $0.offset < offset }.count
                settled += count
                for entry in pending.entries.prefix(count) where links.count < Self.maxLinks {
                    links.append(entry.context)
                }
                pending.entries.removeFirst(count)
                state.pending[partition] = pending.entries.isEmpty && pending.dropped == 0 ? nil : pending
            }
            return (state.tracer, links, settled)
        }
        if report.reason == .automatic && !self.settleSpans.includesAutomatic { return }
        guard let tracer = tracer ?? TracerLookup.current() else { return }

        let topics = Set(report.offsets.keys.map(\.topic))
        let topic = topics.count == 1 ? topics.first : nil
        let span = tracer.startAnySpan(
            topic.map { "commit " + $0 } ?? "commit",
            at: CommitInstant(nanosecondsSinceEpoch: report.startNanosecondsSinceEpoch),
            context: .topLevel,
            ofKind: .client
        )
        if span.isRecording {
            var attributes = self.templates.attributes(for: topic)
            if report.offsets.count == 1, let partition = report.offsets.keys.first {
                attributes.set(MessagingAttribute.partitionID, value: .string(String(partition.partition)))
            }
            // Semantic conventions: not set on spans that operate with a single message.
            if settled != 1 { attributes.set(MessagingAttribute.batchCount, value: .int64(Int64(settled))) }
            attributes.set(MessagingAttribute.commitReason, value: .string(report.reason.description))
            if let error = report.error { attributes.set(MessagingAttribute.errorType, value: .string(error.name)) }
            span.addStartAttributes(attributes)
            for context in links { span.addLink(SpanLink(context: context, attributes: [:])) }
            if let error = report.error {
                span.recordError(error)
                span.setStatus(SpanStatus(code: .error, message: error.message))
            }
        }
        span.end(at: CommitInstant(nanosecondsSinceEpoch: report.endNanosecondsSinceEpoch))
    }
}

/// A commit's start or end, as the consumer measured it.
struct CommitInstant: TracerInstant {
    var nanosecondsSinceEpoch: UInt64
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch }
}
