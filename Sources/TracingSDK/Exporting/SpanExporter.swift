import Locking

/// Sends finished spans somewhere: a collector (OTLP), the terminal, memory.
public protocol SpanExporter: Sendable {
    /// Exports one batch. Throwing counts the batch's spans as failed; the processor does not retry
    /// (an exporter retries itself where its protocol says so).
    func export(_ batch: [FinishedSpan]) async throws
    /// Sends anything the exporter buffers.
    func forceFlush() async throws
    /// Releases resources; later exports may be dropped.
    func shutdown() async
}

/// Keeps exported spans in memory, for tests (ours and yours).
public final class InMemorySpanExporter: SpanExporter {
    private let storage = Locked<[FinishedSpan]>([])
    private let shutDown = Locked(false)

    public init() {}

    public func export(_ batch: [FinishedSpan]) async throws {
        self.storage.withLock { $0.append(contentsOf: batch) }
    }

    public func forceFlush() async throws {}

    public func shutdown() async { self.shutDown.withLock { $0 = true } }

    /// Every span exported so far, in export order.
    public var spans: [FinishedSpan] { self.storage.withLock { $0 } }

    /// Whether ``shutdown()`` was called.
    public var isShutDown: Bool { self.shutDown.withLock { $0 } }

    /// Forgets the spans exported so far.
    public func reset() { self.storage.withLock { $0 = [] } }
}
