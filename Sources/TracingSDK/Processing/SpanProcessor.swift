import Locking

/// Receives every recorded span when it ends and passes it on to exporters.
public protocol SpanProcessor: Sendable {
    /// Called once per ended recording span, on the thread that ended it. Must not block.
    /// The span is handed over (`consuming`): a processor that keeps it can move it.
    func onEnd(_ span: consuming FinishedSpan)
    /// Exports everything received so far and waits for it.
    func forceFlush() async
    /// Exports what is left, then stops; later spans are dropped.
    func shutdown() async
}

/// Sends each ended sampled span to an exporter right away, one export at a time, in order.
/// Meant for tests and debugging; use ``BatchSpanProcessor`` in production.
public final class SimpleSpanProcessor: SpanProcessor {
    private struct State {
        var pending: [FinishedSpan] = []
        var draining = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var isShutdown = false
    }

    public let exporter: any SpanExporter
    private let state = Locked(State())

    public init(exporter: any SpanExporter) { self.exporter = exporter }

    public func onEnd(_ span: FinishedSpan) {
        guard span.spanContext.isSampled else { return }
        let startDrain = self.state.withLock { state -> Bool in
            guard !state.isShutdown else { return false }
            state.pending.append(span)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if startDrain { Task { await self.drain() } }
    }

    private func drain() async {
        while true {
            let batch: [FinishedSpan] = self.state.withLock { state in
                defer { state.pending = [] }
                return state.pending
            }
            if batch.isEmpty {
                let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>]? in
                    guard state.pending.isEmpty else { return nil }
                    state.draining = false
                    defer { state.idleWaiters = [] }
                    return state.idleWaiters
                }
                guard let waiters else { continue }
                for waiter in waiters { waiter.resume() }
                return
            }
            try? await self.exporter.export(batch)
        }
    }

    public func forceFlush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = self.state.withLock { state -> Bool in
                if !state.draining && state.pending.isEmpty { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
        try? await self.exporter.forceFlush()
    }

    public func shutdown() async {
        await self.forceFlush()
        self.state.withLock { $0.isShutdown = true }
        await self.exporter.shutdown()
    }
}

/// Sends every span to several processors, in order.
public struct MultiSpanProcessor: SpanProcessor {
    public let processors: [any SpanProcessor]

    public init(_ processors: [any SpanProcessor]) { self.processors = processors }

    public func onEnd(_ span: FinishedSpan) {
        for processor in self.processors { processor.onEnd(span) }
    }

    public func forceFlush() async {
        for processor in self.processors { await processor.forceFlush() }
    }

    public func shutdown() async {
        for processor in self.processors { await processor.shutdown() }
    }
}
