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
public final class ConsoleSpanExporter: SpanExporter {
    private struct PendingTrace {
        var spans: [FinishedSpan] = []
        var rootEnded = false
        var lastActivity: ContinuousClock.Instant
    }

    public let quietPeriod: Duration
    public let maxPendingTraces: Int
    private let write: @Sendable (String) -> Void
    private let pending = Locked<[TraceID: PendingTrace]>([:])

    /// - Parameters:
    ///   - quietPeriod: how long a trace must be quiet after its root ended before it is printed.
    ///   - write: where trees go (standard output by default).
    public init(
        quietPeriod: Duration = .milliseconds(500),
        maxPendingTraces: Int = 1000,
        write: @escaping @Sendable (String) -> Void = { print($0, terminator: "") }
    ) {
        self.quietPeriod = quietPeriod
        self.maxPendingTraces = maxPendingTraces
        self.write = write
    }

    public func export(_ batch: [FinishedSpan]) async throws {
        let now = ContinuousClock.now
        let ready: [[FinishedSpan]] = self.pending.withLock { pending in
            for span in batch {
                var trace = pending[span.spanContext.traceID] ?? PendingTrace(lastActivity: now)
                trace.spans.append(span)
                trace.lastActivity = now
                if span.parentSpanID == nil { trace.rootEnded = true }
                pending[span.spanContext.traceID] = trace
            }
            return Self.takeReady(&pending, now: now, quietPeriod: self.quietPeriod, max: self.maxPendingTraces, all: false)
        }
        for trace in ready { self.write(Self.render(trace)) }
    }

    public func forceFlush() async throws {
        let all = self.pending.withLock {
            Self.takeReady(&$0, now: .now, quietPeriod: .zero, max: 0, all: true)
        }
        for trace in all { self.write(Self.render(trace)) }
    }

    public func shutdown() async { try? await self.forceFlush() }

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
