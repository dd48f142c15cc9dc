import Locking
import Tracing

/// Prints each finished trace as a tree, with durations, services and errors:
///
/// ```
/// frontend (100ms)
/// └─ api-gateway (95ms)
///    ├─ auth-service (5ms)
///    └─ order-service (85ms) ✗ card declined
/// ```
///
/// Spans are held per trace until the trace's root has ended and no span of it arrived for
/// ``quietPeriod`` (children in other services often end after the root), or until ``forceFlush()``.
/// A span shows `[service]` where its service differs from its parent's (and from its own name).
///
/// With ``maxPrintedTraces`` set, only that many trees are printed; later spans are only counted,
/// and shutdown prints one summary line of what was not printed (formatting a million trees would
/// cost more than producing the messages).
public final class ConsoleSpanExporter: SpanExporter {
    private struct PendingTrace {
        var spans: [FinishedSpan] = []
        var rootEnded = false
        var lastActivity: ContinuousClock.Instant
    }

    private struct State {
        var pending: [TraceID: PendingTrace] = [:]
        /// Trees printed (or taken to be printed).
        var printed = 0
        /// Spans not printed because ``maxPrintedTraces`` trees were printed already.
        var skippedSpans = 0
    }

    public let quietPeriod: Duration
    public let maxPendingTraces: Int
    /// How many trees are printed at most; `nil` for every trace.
    public let maxPrintedTraces: Int?
    private let write: @Sendable (String) -> Void
    private let state = Locked(State())

    /// - Parameters:
    ///   - quietPeriod: how long a trace must be quiet after its root ended before it is printed.
    ///   - maxPrintedTraces: print at most this many trees, then count the rest and print a
    ///     summary line at shutdown (`nil`, the default: every trace).
    ///   - write: where trees go (standard output by default).
    public init(
        quietPeriod: Duration = .milliseconds(500),
        maxPendingTraces: Int = 1000,
        maxPrintedTraces: Int? = nil,
        write: @escaping @Sendable (String) -> Void = { print($0, terminator: "") }
    ) {
        self.quietPeriod = quietPeriod
        self.maxPendingTraces = maxPendingTraces
        self.maxPrintedTraces = maxPrintedTraces.map { max($0, 0) }
        self.write = write
    }

    public func export(_ batch: [FinishedSpan]) async throws {
        let now = ContinuousClock.now
        let ready: [[FinishedSpan]] = self.state.withLock { state in
            if let limit = self.maxPrintedTraces, state.printed >= limit {
                // Enough trees: count, hold nothing.
                Self.count(CollectionOfOne(batch), into: &state)
                return []
            }
            for span in batch {
                var trace = state.pending[span.spanContext.traceID] ?? PendingTrace(lastActivity: now)
                trace.spans.append(span)
                trace.lastActivity = now
                if span.parentSpanID == nil { trace.rootEnded = true }
                state.pending[span.spanContext.traceID] = trace
            }
            return self.takeReady(&state, now: now, quietPeriod: self.quietPeriod, max: self.maxPendingTraces, all: false)
        }
        for trace in ready { self.write(Self.render(trace)) }
    }

    public func forceFlush() async throws {
        let all = self.state.withLock {
            self.takeReady(&$0, now: .now, quietPeriod: .zero, max: 0, all: true)
        }
        for trace in all { self.write(Self.render(trace)) }
    }

    public func shutdown() async {
        try? await self.forceFlush()
        let skipped = self.state.withLock { $0.skippedSpans }
        if skipped > 0 {
            self.write("… and \(skipped) more spans, not printed: only the first \(self.maxPrintedTraces ?? 0) traces are\n")
        }
    }

    /// The traces ready to print, within ``maxPrintedTraces``; those beyond it are counted.
    private func takeReady(
        _ state: inout State,
        now: ContinuousClock.Instant,
        quietPeriod: Duration,
        max: Int,
        all: Bool
    ) -> [[FinishedSpan]] {
        var ready = Self.takeReady(&state.pending, now: now, quietPeriod: quietPeriod, max: max, all: all)
        if let limit = self.maxPrintedTraces {
            let room = Swift.max(limit - state.printed, 0)
            if ready.count > room {
                Self.count(ready[room...], into: &state)
                ready.removeLast(ready.count - room)
            }
            if state.printed + ready.count >= limit {
                // The limit is reached: traces still pending will not be printed either.
                Self.count(state.pending.values.map(\.spans), into: &state)
                state.pending = [:]
            }
        }
        state.printed += ready.count
        return ready
    }

    private static func count(_ traces: some Sequence<[FinishedSpan]>, into state: inout State) {
        for spans in traces {
            state.skippedSpans += spans.count
        }
    }

    private static func takeReady(
        _ pending: inout [TraceID: PendingTrace],
        now: ContinuousClock.Instant,
        quietPeriod: Duration,
        max: Int,
        all: Bool
    ) -> [[FinishedSpan]] {
        var ready: [(UInt64, [FinishedSpan])] = []
        for (traceID, trace) in pending
        where all || (trace.rootEnded && now - trace.lastActivity >= quietPeriod) || pending.count - ready.count > max {
            ready.append((trace.spans.map(\.startNanosecondsSinceEpoch).min() ?? 0, trace.spans))
            pending[traceID] = nil
        }
        // Traces printed together appear in the order they started.
        return ready.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// The tree of one trace's spans.
    public static func render(_ spans: [FinishedSpan]) -> String {
        let ids = Set(spans.map(\.spanContext.spanID))
        var children: [SpanID: [FinishedSpan]] = [:]
        var roots: [FinishedSpan] = []
        for span in spans {
            if let parent = span.parentSpanID, ids.contains(parent) {
                children[parent, default: []].append(span)
            } else {
                roots.append(span)
            }
        }
        var output = ""
        func line(_ span: FinishedSpan, parentService: String?) -> String {
            var text = span.name
            let service = span.resource.serviceName
            if let service, service != parentService, service != span.name {
                text += " [\(service)]"
            }
            text += " (\(formatDuration(span.duration)))"
            if span.isError {
                text += " ✗"
                if let message = span.status?.message, !message.isEmpty { text += " \(message)" }
            }
            return text
        }
        func walk(_ span: FinishedSpan, prefix: String, isLast: Bool, isRoot: Bool, parentService: String?) {
            if isRoot {
                output += line(span, parentService: parentService) + "\n"
            } else {
                output += prefix + (isLast ? "└─ " : "├─ ") + line(span, parentService: parentService) + "\n"
            }
            let childPrefix = isRoot ? "" : prefix + (isLast ? "   " : "│  ")
            let sorted = (children[span.spanContext.spanID] ?? []).sorted {
                $0.startNanosecondsSinceEpoch < $1.startNanosecondsSinceEpoch
            }
            for (index, child) in sorted.enumerated() {
                walk(child, prefix: childPrefix, isLast: index == sorted.count - 1, isRoot: false, parentService: span.resource.serviceName)
            }
        }
        for root in roots.sorted(by: { $0.startNanosecondsSinceEpoch < $1.startNanosecondsSinceEpoch }) {
            walk(root, prefix: "", isLast: true, isRoot: true, parentService: nil)
        }
        return output
    }
}

/// `250µs`, `12ms`, `1.5ms`, `2.31s`.
func formatDuration(_ duration: Duration) -> String {
    let nanoseconds = Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
    switch nanoseconds {
    case ..<1_000_000: return "\(Int((nanoseconds / 1_000).rounded()))µs"
    case ..<10_000_000:
        let tenths = Int((nanoseconds / 100_000).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)ms" : "\(tenths / 10).\(tenths % 10)ms"
    case ..<1_000_000_000: return "\(Int((nanoseconds / 1_000_000).rounded()))ms"
    default: return "\((nanoseconds / 10_000_000).rounded() / 100)s"
    }
}
