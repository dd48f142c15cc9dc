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
        var queue: [FinishedSpan]
        /// An empty array with the queue's capacity, swapped in when the loop takes the queue, so
        /// the lock is held for O(1) and nothing is allocated.
        var spare: [FinishedSpan]
        var wakeUp: CheckedContinuation<Void, Never>?
        var flushRequests: [CheckedContinuation<Void, Never>] = []
        var isShutdown = false
        /// When shutdown must be over: one export timeout after it was requested.
        var shutdownDeadline: ContinuousClock.Instant?
        var loopEnded = false
        var loopEndWaiters: [CheckedContinuation<Void, Never>] = []
    }

    public let exporter: any SpanExporter
    public let configuration: Configuration
    private let logger: Logger
    private let state: Mutex<State>
    private let exported = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)

    public init(exporter: any SpanExporter, configuration: Configuration = .init(), logger: Logger = Logger(label: "tracing.batch")) {
        self.exporter = exporter
        var configuration = configuration
        configuration.maxQueueSize = max(configuration.maxQueueSize, 1)
        configuration.maxExportBatchSize = min(max(configuration.maxExportBatchSize, 1), configuration.maxQueueSize)
        self.configuration = configuration
        self.logger = logger
        var queue: [FinishedSpan] = []
        queue.reserveCapacity(configuration.maxQueueSize)
        var spare: [FinishedSpan] = []
        spare.reserveCapacity(configuration.maxQueueSize)
        self.state = Mutex(State(queue: queue, spare: spare))
        Task { await self.exportLoop() }
    }

    public var statistics: Statistics {
        Statistics(
            exported: self.exported.load(ordering: .relaxed),
            droppedQueueFull: self.dropped.load(ordering: .relaxed),
            failedExport: self.failed.load(ordering: .relaxed),
            queued: self.state.withLock { $0.queue.count }
        )
    }

    public func onEnd(_ span: FinishedSpan) {
        guard span.spanContext.isSampled else { return }
        let wakeUp = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.isShutdown, state.queue.count < self.configuration.maxQueueSize else {
                self.dropped.add(1, ordering: .relaxed)
                return nil
            }
            state.queue.append(span)
            guard state.queue.count >= self.configuration.maxExportBatchSize, let wakeUp = state.wakeUp else { return nil }
            state.wakeUp = nil
            return wakeUp
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
                state.shutdownDeadline = ContinuousClock.now + self.configuration.exportTimeout
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
            // Take everything queued; it goes out in batches of at most maxExportBatchSize.
            var (batches, flushers, isShutdown) = self.state.withLock { state in
                var taken: [FinishedSpan] = []
                swap(&taken, &state.spare)  // the spare buffer, now uniquely held
                swap(&taken, &state.queue)  // the queue takes it; we take the queued spans
                defer { state.flushRequests = [] }
                return (taken, state.flushRequests, state.isShutdown)
            }
            // Once shutdown is requested, everything left shares one export timeout; what does not
            // fit is dropped.
            var start = 0
            while start < batches.count {
                let end = min(start + self.configuration.maxExportBatchSize, batches.count)
                let deadline = self.state.withLock { $0.shutdownDeadline }
                if let deadline, ContinuousClock.now >= deadline {
                    self.failed.add(batches.count - start, ordering: .relaxed)
                    self.logger.warning(
                        "Shutdown timed out; spans not exported were dropped",
                        metadata: ["spans": "\(batches.count - start)"]
                    )
                    break
                }
                await self.export(Array(batches[start..<end]), deadline: deadline)
                start = end
            }
            batches.removeAll(keepingCapacity: true)
            self.state.withLock { state in
                if state.spare.capacity < batches.capacity { state.spare = batches }
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
            state.queue = []
            defer { state.loopEndWaiters = []; state.flushRequests = [] }
            return state.loopEndWaiters + state.flushRequests
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Shutdown, a flush, or a full batch: the loop has something to do now.
    private func hasWork(_ state: State) -> Bool {
        state.isShutdown || !state.flushRequests.isEmpty || state.queue.count >= self.configuration.maxExportBatchSize
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
            group.addTask { try? await Task.sleep(for: self.configuration.scheduleDelay) }
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

    private func export(_ batch: [FinishedSpan], deadline: ContinuousClock.Instant?) async {
        guard !batch.isEmpty else { return }
        let timeout = deadline.map { min(self.configuration.exportTimeout, $0 - ContinuousClock.now) }
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
                try? await Task.sleep(for: timeout)
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
