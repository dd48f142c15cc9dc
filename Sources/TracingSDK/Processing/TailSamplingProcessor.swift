import Locking
import Synchronization

/// Holds the spans of recorded-but-unsampled local traces and passes a trace on only when it
/// contains an error or its local root was slow; sampled spans pass straight through.
/// Used with ``ErrorAndSlowTraceSampler``.
///
/// Memory is bounded: at most ``maxTraces`` traces and ``maxSpansPerTrace`` spans each are held;
/// what does not fit is dropped and counted in ``droppedSpans``.
public final class TailSamplingProcessor: SpanProcessor {
    private struct HeldTrace {
        var spans: [FinishedSpan] = []
        var hasError = false
    }

    private struct State {
        var held: [TraceID: HeldTrace] = [:]
        /// Traces whose root ended and were kept: late spans of them pass on too (bounded, FIFO).
        var kept: Set<TraceID> = []
        var keptOrder: [TraceID] = []
    }

    public let next: any SpanProcessor
    public let latencyThreshold: Duration
    public let maxTraces: Int
    public let maxSpansPerTrace: Int
    private let state = Locked(State())
    private let dropped = Atomic<Int>(0)
    private let keptCount = Atomic<Int>(0)

    public init(next: any SpanProcessor, latencyThreshold: Duration, maxTraces: Int = 1000, maxSpansPerTrace: Int = 1000) {
        self.next = next
        self.latencyThreshold = latencyThreshold
        self.maxTraces = maxTraces
        self.maxSpansPerTrace = maxSpansPerTrace
    }

    /// Spans dropped because the hold was full.
    public var droppedSpans: Int { self.dropped.load(ordering: .relaxed) }
    /// Unsampled traces kept because of an error or latency.
    public var keptTraces: Int { self.keptCount.load(ordering: .relaxed) }

    public func onEnd(_ span: FinishedSpan) {
        if span.spanContext.isSampled {
            self.next.onEnd(span)
            return
        }
        let traceID = span.spanContext.traceID
        let release: [FinishedSpan] = self.state.withLock { state in
            if state.kept.contains(traceID) { return [Self.markedSampled(span)] }
            guard state.held[traceID] != nil || state.held.count < self.maxTraces else {
                self.dropped.add(1, ordering: .relaxed)
                return []
            }
            var trace = state.held[traceID] ?? HeldTrace()
            if trace.spans.count < self.maxSpansPerTrace {
                trace.spans.append(span)
            } else {
                self.dropped.add(1, ordering: .relaxed)
            }
            trace.hasError = trace.hasError || span.isError
            guard span.isLocalRoot else {
                state.held[traceID] = trace
                return []
            }
            state.held[traceID] = nil
            guard trace.hasError || span.duration > self.latencyThreshold else { return [] }
            state.kept.insert(traceID)
            state.keptOrder.append(traceID)
            if state.keptOrder.count > self.maxTraces { state.kept.remove(state.keptOrder.removeFirst()) }
            self.keptCount.add(1, ordering: .relaxed)
            return trace.spans.map(Self.markedSampled)
        }
        for span in release { self.next.onEnd(span) }
    }

    /// A kept span is exported as sampled.
    private static func markedSampled(_ span: FinishedSpan) -> FinishedSpan {
        var span = span
        span.spanContext.flags.insert(.sampled)
        return span
    }

    public func forceFlush() async { await self.next.forceFlush() }

    public func shutdown() async { await self.next.shutdown() }
}
