/// The state of a ``BatchSpanProcessor``: the queue, the export loop's wake-up, flushes and
/// shutdown, as pure transitions that return what the processor must do once its lock is released.
///
/// Generic over the span and the waiter types, so that tests drive every transition with plain
/// values; the processor uses `FinishedSpan` and continuations. Times are durations on the
/// processor's clock, passed in.
struct BatchSpanProcessorStateMachine<Span, Waiter> {
    private enum Lifecycle {
        /// Accepting spans.
        case running
        /// Refusing spans; the loop exports what is queued, sharing one export timeout, then stops.
        case shuttingDown(deadline: Duration)
        /// The loop has ended (the exporter is shut down).
        case ended
    }

    let maxQueueSize: Int
    let maxExportBatchSize: Int
    private var lifecycle = Lifecycle.running
    /// The batch being filled; at ``maxExportBatchSize`` spans it moves to ``full`` whole, so the
    /// export loop takes batches without copying a span.
    private var filling: [Span] = []
    private var full: [[Span]] = []
    /// Spans in ``filling`` and ``full``: at most ``maxQueueSize``.
    private(set) var queued = 0
    /// Exported batches, emptied but keeping their capacity, for ``filling`` to reuse.
    private var spares: [[Span]] = []
    /// An exported batch whose spans the spans ending next release, one each (``spanEnded(_:)``):
    /// on the threads that end spans, which mostly made them. glibc frees a block fastest on the
    /// thread whose arena it came from; the export loop freeing every span it exported took the
    /// span-making threads' arena locks while they allocated. At most one batch is kept; the loop
    /// releases it itself when it wakes with no full batch (``takeWork()``).
    private var retired: [Span] = []
    /// The export loop, waiting for work.
    private var wakeUp: Waiter?
    private var flushRequests: [Waiter] = []
    private var endWaiters: [Waiter] = []
    /// The export loop is started by the first call that needs it, not by `init`.
    private var loopStarted = false

    init(maxQueueSize: Int, maxExportBatchSize: Int) {
        self.maxQueueSize = max(maxQueueSize, 1)
        self.maxExportBatchSize = min(max(maxExportBatchSize, 1), self.maxQueueSize)
    }

    var isShuttingDown: Bool {
        if case .running = self.lifecycle { return false }
        return true
    }

    /// When shutdown must be over, once it was asked for.
    var shutdownDeadline: Duration? {
        if case .shuttingDown(let deadline) = self.lifecycle { return deadline }
        return nil
    }

    // MARK: Callers

    /// Whether the export loop must be started now: `true` once, on the first span, flush,
    /// shutdown or `run()`.
    mutating func startLoop() -> Bool {
        guard !self.loopStarted else { return false }
        self.loopStarted = true
        return true
    }

    enum EndAction {
        /// Queued (the loop is woken only when a batch filled up: ``queuedAndWake(_:)``).
        case queued
        /// Queued, and the batch is full: resume the waiting loop.
        case queuedAndWake(Waiter)
        /// Not queued (queue full, or shut down): count it dropped.
        case dropped
    }

    /// A sampled span ended. The span is moved in only when it is queued; `span` then holds an
    /// exported span for the caller to release (after the lock), or `nil`.
    mutating func spanEnded(_ span: inout Span?) -> EndAction {
        guard case .running = self.lifecycle, self.queued < self.maxQueueSize else { return .dropped }
        if self.filling.capacity == 0 { self.filling.reserveCapacity(self.maxExportBatchSize) }
        self.filling.append(span.take()!)
        self.queued += 1
        span = self.retired.popLast()
        if span != nil, self.retired.isEmpty {
            self.recycle(self.retired)
            self.retired = []
        }
        guard self.filling.count >= self.maxExportBatchSize else { return .queued }
        self.full.append(self.takeFilling())
        return self.takeWakeUp().map { .queuedAndWake($0) } ?? .queued
    }

    enum FlushAction {
        /// The loop has ended: resume the flusher now.
        case resumeNow
        /// The flusher is kept until the loop has exported what is queued; resume the loop if given.
        case wait(wakeUp: Waiter?)
    }

    mutating func forceFlush(_ flusher: Waiter) -> FlushAction {
        if case .ended = self.lifecycle { return .resumeNow }
        self.flushRequests.append(flusher)
        return .wait(wakeUp: self.takeWakeUp())
    }

    /// Shutdown was asked for at `now`: spans are refused from now on, and what is queued must be
    /// exported within `exportTimeout` (a second request keeps the first deadline).
    /// - Returns: the waiting loop to resume.
    mutating func shutdown(now: Duration, exportTimeout: Duration) -> Waiter? {
        guard case .running = self.lifecycle else { return nil }
        self.lifecycle = .shuttingDown(deadline: now + exportTimeout)
        return self.takeWakeUp()
    }

    enum WaitForEndAction {
        case resumeNow
        case wait
    }

    /// A caller of shutdown waits for the loop to end.
    mutating func waitForEnd(_ waiter: Waiter) -> WaitForEndAction {
        if case .ended = self.lifecycle { return .resumeNow }
        self.endWaiters.append(waiter)
        return .wait
    }

    // MARK: Export loop

    /// Shutdown, a flush, or a full batch: the loop has something to do now.
    var hasWork: Bool {
        if case .running = self.lifecycle { return !self.flushRequests.isEmpty || !self.full.isEmpty }
        return true
    }

    enum WaitForWorkAction {
        case resumeNow
        /// The loop is kept until a full batch, a flush or shutdown (or its schedule delay, after
        /// which it calls ``scheduleDelayPassed()``).
        case wait
    }

    mutating func waitForWork(_ loop: Waiter) -> WaitForWorkAction {
        if self.hasWork { return .resumeNow }
        self.wakeUp = loop
        return .wait
    }

    /// The schedule delay passed: the waiting loop (if still waiting) to resume.
    mutating func scheduleDelayPassed() -> Waiter? { self.takeWakeUp() }

    struct Work {
        /// Every queued span, as batches of at most ``maxExportBatchSize``, oldest first.
        var batches: [[Span]]
        /// To resume once these batches are exported (and the exporter flushed).
        var flushers: [Waiter]
        /// The loop ends after these batches.
        var isLast: Bool
        /// Exported spans for the loop to release: spans end too slowly to release them.
        var released: [Span] = []
    }

    /// The loop takes everything queued (and, woken with no full batch, the exported spans kept).
    mutating func takeWork() -> Work {
        var batches: [[Span]] = []
        swap(&batches, &self.full)
        var released: [Span] = []
        if batches.isEmpty { swap(&released, &self.retired) }
        if !self.filling.isEmpty { batches.append(self.takeFilling()) }
        self.queued = 0
        defer { self.flushRequests = [] }
        return Work(batches: batches, flushers: self.flushRequests, isLast: self.isShuttingDown, released: released)
    }

    /// A batch was exported: kept for the spans ending next to release (``spanEnded(_:)``) when
    /// none is kept already and spans are still accepted; else `batch` stays for the caller to
    /// release.
    mutating func retire(_ batch: inout [Span]?) {
        guard case .running = self.lifecycle, self.retired.isEmpty, let taken = batch.take() else { return }
        self.retired = taken
    }

    /// Whether the next batch may still be exported at `now`; `false` once the shutdown deadline
    /// passed (what is left is dropped).
    func mayExport(now: Duration) -> Bool {
        guard let deadline = self.shutdownDeadline else { return true }
        return now < deadline
    }

    /// How long the next export may take at `now`: the export timeout, cut to what is left of
    /// the shutdown deadline.
    func exportTimeout(_ exportTimeout: Duration, now: Duration) -> Duration {
        guard let deadline = self.shutdownDeadline else { return exportTimeout }
        return min(exportTimeout, deadline - now)
    }

    /// An exported batch, emptied, kept for reuse (a few at most).
    mutating func recycle(_ batch: [Span]) {
        if self.spares.count < 4 { self.spares.append(batch) }
    }

    /// The loop has ended: everything still queued is dropped; the waiters to resume (callers of
    /// shutdown and of flush).
    mutating func loopEnded() -> [Waiter] {
        self.lifecycle = .ended
        self.filling = []
        self.full = []
        self.spares = []
        self.retired = []
        self.queued = 0
        defer {
            self.endWaiters = []
            self.flushRequests = []
        }
        return self.endWaiters + self.flushRequests
    }

    /// Takes the batch being filled, leaving a spare (or empty) one in its place.
    private mutating func takeFilling() -> [Span] {
        var batch = self.spares.popLast() ?? []
        swap(&batch, &self.filling)
        return batch
    }

    private mutating func takeWakeUp() -> Waiter? {
        defer { self.wakeUp = nil }
        return self.wakeUp
    }
}
