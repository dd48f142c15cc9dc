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
/// The processor starts its export loop with the first span (or flush, shutdown or ``run()``),
/// not when it is created. It is also a ServiceLifecycle `Service`: in a `ServiceGroup`, ``run()``
/// waits for graceful shutdown and then exports what is left (``shutdown()``).
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

    private typealias StateMachine = BatchSpanProcessorStateMachine<FinishedSpan, CheckedContinuation<Void, Never>>

    public let exporter: any SpanExporter
    public let configuration: Configuration
    private let logger: Logger
    /// Every decision is a transition of the state machine; continuations resume after the
    /// lock is released.
    private let state: Locked<StateMachine>
    /// Relaxed: counters for ``statistics`` only; nothing else is published through them.
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
        let stateMachine = StateMachine(
            maxQueueSize: configuration.maxQueueSize,
            maxExportBatchSize: configuration.maxExportBatchSize
        )
        var configuration = configuration
        configuration.maxQueueSize = stateMachine.maxQueueSize
        configuration.maxExportBatchSize = stateMachine.maxExportBatchSize
        self.configuration = configuration
        self.logger = logger
        self.state = Locked(stateMachine)
    }

    /// Starts the export loop the first time something needs it (a span, a flush, shutdown or
    /// ``run()``): creating a processor starts no task.
    private func launchLoop(if start: Bool) {
        if start { Task { await self.exportLoop() } }
    }

    /// Whether ``shutdown()`` was called (for tests that must order their clock after it).
    var isShuttingDown: Bool { self.state.withLock { $0.isShuttingDown } }

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
        // Moved into the queue (a copy would retain the span's record once more). Back comes an
        // exported span, released here when `pending` goes: on this thread, after the lock.
        var pending: FinishedSpan? = consume span
        let (action, start) = self.state.withLock { ($0.spanEnded(&pending), $0.startLoop()) }
        self.launchLoop(if: start)
        switch action {
        case .queued: break
        case .queuedAndWake(let loop): loop.resume()
        case .dropped: self.dropped.add(1, ordering: .relaxed)
        }
    }

    public func forceFlush() async {
        self.launchLoop(if: self.state.withLock { $0.startLoop() })
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            switch self.state.withLock({ $0.forceFlush(continuation) }) {
            case .resumeNow: continuation.resume()
            case .wait(let loop): loop?.resume()
            }
        }
    }

    public func shutdown() async {
        let now = self.clock.elapsed()
        let (loop, start) = self.state.withLock {
            ($0.shutdown(now: now, exportTimeout: self.configuration.exportTimeout), $0.startLoop())
        }
        loop?.resume()
        self.launchLoop(if: start)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if case .resumeNow = self.state.withLock({ $0.waitForEnd(continuation) }) { continuation.resume() }
        }
    }

    /// Waits for graceful shutdown (or cancellation), then exports what is left and stops.
    /// Shutdown takes at most about one ``Configuration/exportTimeout``, whatever the exporter does.
    public func run() async throws {
        self.launchLoop(if: self.state.withLock { $0.startLoop() })
        try? await gracefulShutdown()
        await self.shutdown()
    }

    // MARK: Export loop

    private func exportLoop() async {
        while true {
            // Wait for a full batch, a flush, shutdown, or the schedule delay.
            await self.waitForWork()
            // Take everything queued, in batches of at most maxExportBatchSize.
            var work = self.state.withLock { $0.takeWork() }
            // Taken from the end, so that each batch is held once and its buffer can be reused.
            work.batches.reverse()
            // Once shutdown is requested, everything left shares one export timeout; what does not
            // fit is dropped.
            while let batch = work.batches.popLast() {
                let now = self.clock.elapsed()
                let (mayExport, timeout) = self.state.withLock {
                    ($0.mayExport(now: now), $0.exportTimeout(self.configuration.exportTimeout, now: now))
                }
                guard mayExport else {
                    let left = work.batches.reduce(batch.count) { $0 + $1.count }
                    self.failed.add(left, ordering: .relaxed)
                    self.logger.warning("Shutdown timed out; spans not exported were dropped", metadata: ["spans": "\(left)"])
                    break
                }
                await self.export(batch, timeout: timeout)
                // Kept for the spans ending next to release (by the threads that made them),
                // unless a batch is kept already: then released here, and its buffer recycled.
                var exported: [FinishedSpan]? = consume batch
                self.state.withLock { $0.retire(&exported) }
                if var exported {
                    exported.removeAll(keepingCapacity: true)
                    self.state.withLock { $0.recycle(exported) }
                }
            }
            work.released = []
            if !work.flushers.isEmpty {
                try? await self.exporter.forceFlush()
                for flusher in work.flushers { flusher.resume() }
            }
            if work.isLast { break }
        }
        await self.exporter.shutdown()
        for waiter in self.state.withLock({ $0.loopEnded() }) { waiter.resume() }
    }

    private func waitForWork() async {
        if self.state.withLock({ $0.hasWork }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    if case .resumeNow = self.state.withLock({ $0.waitForWork(continuation) }) { continuation.resume() }
                }
            }
            group.addTask { try? await self.clock.sleep(self.configuration.scheduleDelay) }
            await group.next()
            // Whichever finished first, release the other.
            self.state.withLock { $0.scheduleDelayPassed() }?.resume()
            group.cancelAll()
        }
    }

    private func export(_ batch: [FinishedSpan], timeout: Duration) async {
        guard !batch.isEmpty else { return }
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
