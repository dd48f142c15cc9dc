import Locking
import Logging
import ServiceLifecycle
import Synchronization

/// Queues ended sampled spans and exports them in batches, off the caller's path.
///
/// The queue is bounded: when it is full the newest span is dropped and counted, and the caller is
/// never blocked. Export starts when ``Configuration/maxExportBatchSize`` spans are queued or every
/// ``Configuration/scheduleDelay``, whichever comes first; what is queued then goes out in batches
/// of at most ``Configuration/maxExportBatchSize``, each limited to ``Configuration/exportTimeout``.
///
/// The processor runs its export loop from the moment it is created. It is also a ServiceLifecycle
/// `Service`: in a `ServiceGroup`, ``run()`` waits for graceful shutdown and then exports what is
/// left (``shutdown()``).
public final class BatchSpanProcessor: SpanProcessor, Service {
    /// The batch processor's settings; defaults are the OpenTelemetry specification's.
    public struct Configuration: Sendable, Hashable {
        /// `OTEL_BSP_MAX_QUEUE_SIZE`.
        public var maxQueueSize: Int = 2048
        /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`.
        public var maxExportBatchSize: Int = 512
        /// `OTEL_BSP_SCHEDULE_DELAY`.
        public var scheduleDelay: Duration = .seconds(5)
        /// `OTEL_BSP_EXPORT_TIMEOUT`.
        public var exportTimeout: Duration = .seconds(30)

        public init() {}
    }

    /// Counts since the processor started.
    public struct Statistics: Sendable, Hashable {
        /// Spans exported successfully.
        public var exported: Int
        /// Spans dropped because the queue was full (or the processor was shut down).
        public var droppedQueueFull: Int
        /// Spans whose export failed or timed out.
        public var failedExport: Int
        /// Spans waiting in the queue.
        public var queued: Int
    }

    private struct State {
        /// The batch being filled; at ``Configuration/maxExportBatchSize`` spans it moves to
        /// ``full`` whole, so the export loop takes batches without copying a span.
        var filling: [FinishedSpan] = []
        var full: [[FinishedSpan]] = []
        /// Spans in ``filling`` and ``full``: at most ``Configuration/maxQueueSize``.
        var queued = 0
        /// Exported batches, emptied but keeping their capacity, for ``filling`` to reuse.
        var spares: [[FinishedSpan]] = []
        var wakeUp: CheckedContinuation<Void, Never>?
        var flushRequests: [CheckedContinuation<Void, Never>] = []
        var isShutdown = false
        /// When shutdown must be over (on ``elapsed``): one export timeout after it was requested.
        var shutdownDeadline: Duration?
        var loopEnded = false
        var loopEndWaiters: [CheckedContinuation<Void, Never>] = []

        /// Takes the batch being filled, leaving a spare (or empty) one in its place.
        mutating func takeFilling() -> [FinishedSpan] {
            var batch = self.spares.popLast() ?? []
            swap(&batch, &self.filling)
            return batch
        }

        /// Takes every queued span, as batches of at most `maxExportBatchSize`.
        mutating func takeAll() -> [[FinishedSpan]] {
            var taken: [[FinishedSpan]] = []
            swap(&taken, &self.full)
            if !self.filling.isEmpty { taken.append(self.takeFilling()) }
            self.queued = 0
            return taken
        }
    }

    public let exporter: any SpanExporter
    public let configuration: Configuration
    private let logger: Logger
    private let state: Locked<State>
    private let exported = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)

    /// The schedule, the export timeout and the shutdown deadline are measured on it.
    private let clock: ElapsedClock

    public convenience init(exporter: any SpanExporter, configuration: Configuration = .init(), logger: Logger = Logger(label: "tracing.batch")) {
        self.init(exporter: exporter, configuration: configuration, logger: logger, clock: ContinuousClock())
    }

    /// - Parameter clock: what the schedule delay, the export timeout and the shutdown deadline
    ///   are measured on (`ContinuousClock` by default; a test clock makes timing tests exact).
    public init<C: Clock>(
        exporter: any SpanExporter,
        configuration: Configuration = .init(),
        logger: Logger = Logger(label: "tracing.batch"),
        clock: C
    ) where C.Duration == Duration, C: Sendable {
        self.clock = ElapsedClock(clock)
        self.exporter = exporter
        var configuration = configuration
        configuration.maxQueueSize = max(configuration.maxQueueSize, 1)
        configuration.maxExportBatchSize = min(max(configuration.maxExportBatchSize, 1), configuration.maxQueueSize)
        self.configuration = configuration
        self.logger = logger
        self.state = Locked(State())
        Task { await self.exportLoop() }
    }

    /// Whether ``shutdown()`` was called (for tests that must order their clock after it).
    var isShuttingDown: Bool { self.state.withLock { $0.isShutdown } }

    public var statistics: Statistics {
        Statistics(
            exported: self.exported.load(ordering: .relaxed),
            droppedQueueFull: self.dropped.load(ordering: .relaxed),
            failedExport: self.failed.load(ordering: .relaxed),
            queued: self.state.withLock { $0.queued }
        )
    }

    public func onEnd(_ span: consuming FinishedSpan) {
        guard span.spanContext.isSampled else { return }
        // Moved, not copied, into the queue (a copy retains and later releases every field).
        var pending: FinishedSpan? = consume span
        let wakeUp = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.isShutdown, state.queued < self.configuration.maxQueueSize else {
                self.dropped.add(1, ordering: .relaxed)
                return nil
            }
            if state.filling.capacity == 0 { state.filling.reserveCapacity(self.configuration.maxExportBatchSize) }
            state.filling.append(pending.take()!)
            state.queued += 1
            guard state.filling.count >= self.configuration.maxExportBatchSize else { return nil }
            state.full.append(state.takeFilling())
            defer { state.wakeUp = nil }
            return state.wakeUp
        }
        wakeUp?.resume()
    }

    public func forceFlush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (done, wakeUp) = self.state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                if state.loopEnded { return (true, nil) }
                state.flushRequests.append(continuation)
                defer { state.wakeUp = nil }
                return (false, state.wakeUp)
            }
            if done { continuation.resume() }
            wakeUp?.resume()
        }
    }

    public func shutdown() async {
        let wakeUp = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.isShutdown = true
            if state.shutdownDeadline == nil {
                state.shutdownDeadline = self.clock.elapsed() + self.configuration.exportTimeout
            }
            defer { state.wakeUp = nil }
            return state.wakeUp
        }
        wakeUp?.resume()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ended = self.state.withLock { state in
                if state.loopEnded { return true }
                state.loopEndWaiters.append(continuation)
                return false
            }
            if ended { continuation.resume() }
        }
    }

    /// Waits for graceful shutdown (or cancellation), then exports what is left and stops.
    /// Shutdown takes at most about one ``Configuration/exportTimeout``, whatever the exporter does.
    public func run() async throws {
        try? await gracefulShutdown()
        await self.shutdown()
    }

    // MARK: Export loop

    private func exportLoop() async {
        while true {
            // Wait for a full batch, a flush, shutdown, or the schedule delay.
            await self.waitForWork()
            // Take everything queued, in batches of at most maxExportBatchSize.
            var (batches, flushers, isShutdown) = self.state.withLock { state in
                defer { state.flushRequests = [] }
                return (state.takeAll(), state.flushRequests, state.isShutdown)
            }
            // Taken from the end, so that each batch is held once and its buffer can be reused.
            batches.reverse()
            // Once shutdown is requested, everything left shares one export timeout; what does not
            // fit is dropped.
            while var batch = batches.popLast() {
                let deadline = self.state.withLock { $0.shutdownDeadline }
                if let deadline, self.clock.elapsed() >= deadline {
                    let left = batches.reduce(batch.count) { $0 + $1.count }
                    self.failed.add(left, ordering: .relaxed)
                    self.logger.warning("Shutdown timed out; spans not exported were dropped", metadata: ["spans": "\(left)"])
                    break
                }
                await self.export(batch, deadline: deadline)
                batch.removeAll(keepingCapacity: true)
                self.state.withLock { state in
                    if state.spares.count < 4 { state.spares.append(batch) }
                }
            }
            if !flushers.isEmpty {
                try? await self.exporter.forceFlush()
                for flusher in flushers { flusher.resume() }
            }
            if isShutdown { break }
        }
        await self.exporter.shutdown()
        let waiters = self.state.withLock { state in
            state.loopEnded = true
            state.filling = []
            state.full = []
            state.queued = 0
            defer { state.loopEndWaiters = []; state.flushRequests = [] }
            return state.loopEndWaiters + state.flushRequests
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Shutdown, a flush, or a full batch: the loop has something to do now.
    private func hasWork(_ state: State) -> Bool {
        state.isShutdown || !state.flushRequests.isEmpty || !state.full.isEmpty
    }

    private func waitForWork() async {
        if self.state.withLock({ self.hasWork($0) }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = self.state.withLock { state in
                        if self.hasWork(state) { return true }
                        state.wakeUp = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask { try? await self.clock.sleep(self.configuration.scheduleDelay) }
            await group.next()
            // Whichever finished first, release the other.
            let wakeUp = self.state.withLock { state in
                defer { state.wakeUp = nil }
                return state.wakeUp
            }
            wakeUp?.resume()
            group.cancelAll()
        }
    }

    private func export(_ batch: [FinishedSpan], deadline: Duration?) async {
        guard !batch.isEmpty else { return }
        let timeout = deadline.map { min(self.configuration.exportTimeout, $0 - self.clock.elapsed()) }
            ?? self.configuration.exportTimeout
        let succeeded = await withTaskGroup(of: Bool?.self) { group in
            group.addTask {
                do {
                    try await self.exporter.export(batch)
                    return true
                } catch {
                    self.logger.debug("Span export failed", metadata: ["error": "\(error)", "spans": "\(batch.count)"])
                    return false
                }
            }
            group.addTask {
                try? await self.clock.sleep(timeout)
                return Task.isCancelled ? nil : false
            }
            var result: Bool?
            while result == nil, let next = await group.next() { result = next }
            group.cancelAll()
            return result ?? false
        }
        if succeeded {
            self.exported.add(batch.count, ordering: .relaxed)
        } else {
            self.failed.add(batch.count, ordering: .relaxed)
        }
    }
}
