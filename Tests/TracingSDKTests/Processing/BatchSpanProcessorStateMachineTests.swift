import Testing

@testable import TracingSDK

/// Every transition of the batch processor's state, with plain values for spans and waiters.
@Suite("batch span processor state machine")
struct BatchSpanProcessorStateMachineTests {
    typealias Machine = BatchSpanProcessorStateMachine<Int, String>

    /// Ends `span` (moved in when queued), expecting `released` back: the exported span the
    /// caller releases.
    static func end(_ span: Int, _ machine: inout Machine, released: Int? = nil) -> Machine.EndAction {
        var pending: Int? = span
        let action = machine.spanEnded(&pending)
        if case .dropped = action { #expect(pending == span) } else { #expect(pending == released) }
        return action
    }

    @Test("the export loop is started once, by the first call that needs it")
    func loopStartsOnce() {
        var machine = Machine(maxQueueSize: 10, maxExportBatchSize: 5)
        #expect(machine.startLoop() == true)
        #expect(machine.startLoop() == false)
        _ = Self.end(1, &machine)
        #expect(machine.startLoop() == false)
    }

    @Test("sizes are normalised: at least one, and a batch no bigger than the queue")
    func sizes() {
        let zero = Machine(maxQueueSize: 0, maxExportBatchSize: 0)
        #expect(zero.maxQueueSize == 1 && zero.maxExportBatchSize == 1)
        let big = Machine(maxQueueSize: 10, maxExportBatchSize: 512)
        #expect(big.maxExportBatchSize == 10)
    }

    @Test("spans queue until a batch is full; only then is the waiting loop woken, once")
    func fullBatchWakesTheLoop() {
        var machine = Machine(maxQueueSize: 10, maxExportBatchSize: 3)
        #expect(!machine.hasWork)
        guard case .wait = machine.waitForWork("loop") else { Issue.record("the loop did not wait"); return }
        guard case .queued = Self.end(1, &machine), case .queued = Self.end(2, &machine) else { Issue.record("not queued"); return }
        #expect(!machine.hasWork)
        guard case .queuedAndWake("loop") = Self.end(3, &machine) else { Issue.record("the loop was not woken"); return }
        #expect(machine.hasWork)
        // The loop is woken once: the next full batch has no waiter to wake.
        for span in 4...6 { guard case .queued = Self.end(span, &machine) else { Issue.record("woken twice"); return } }
        guard case .resumeNow = machine.waitForWork("loop") else { Issue.record("waited with full batches"); return }
        #expect(machine.queued == 6)
        let work = machine.takeWork()
        #expect(work.batches == [[1, 2, 3], [4, 5, 6]])
        #expect(work.flushers.isEmpty && !work.isLast)
        #expect(machine.queued == 0 && !machine.hasWork)
    }

    @Test("a full queue drops the newest span; taking the work makes room again")
    func queueFull() {
        var machine = Machine(maxQueueSize: 4, maxExportBatchSize: 3)
        for span in 1...4 { _ = Self.end(span, &machine) }
        guard case .dropped = Self.end(5, &machine) else { Issue.record("a fifth span fit a queue of 4"); return }
        #expect(machine.takeWork().batches == [[1, 2, 3], [4]])
        guard case .queued = Self.end(6, &machine) else { Issue.record("no room after the loop took the work"); return }
    }

    @Test("the schedule delay hands back the waiting loop once; the partial batch goes out then")
    func scheduleDelay() {
        var machine = Machine(maxQueueSize: 10, maxExportBatchSize: 5)
        _ = Self.end(1, &machine)
        guard case .wait = machine.waitForWork("loop") else { Issue.record("waited"); return }
        #expect(machine.scheduleDelayPassed() == "loop")
        #expect(machine.scheduleDelayPassed() == nil)
        #expect(machine.takeWork().batches == [[1]])
    }

    @Test("batches are recycled: a taken batch's buffer fills again, and at most four are kept")
    func recycling() {
        var machine = Machine(maxQueueSize: 100, maxExportBatchSize: 2)
        for span in 1...2 { _ = Self.end(span, &machine) }
        var batch = machine.takeWork().batches[0]
        batch.removeAll(keepingCapacity: true)
        for _ in 0..<6 { machine.recycle(batch) }
        for span in 3...4 { _ = Self.end(span, &machine) }
        #expect(machine.takeWork().batches == [[3, 4]])
    }

    @Test("an exported batch is released by the spans ending next, one each; one batch kept at most; an idle wake-up releases it")
    func retiredSpans() {
        var machine = Machine(maxQueueSize: 100, maxExportBatchSize: 3)
        for span in 1...3 { _ = Self.end(span, &machine) }
        var exported: [Int]? = machine.takeWork().batches[0]
        machine.retire(&exported)
        #expect(exported == nil, "kept")
        var second: [Int]? = [7, 8, 9]
        machine.retire(&second)
        #expect(second == [7, 8, 9], "one batch is kept at most: the caller releases the second")
        // Each span ending hands one exported span back to its caller.
        _ = Self.end(4, &machine, released: 3)
        _ = Self.end(5, &machine, released: 2)
        _ = Self.end(6, &machine, released: 1)
        _ = Self.end(7, &machine, released: nil)
        // The emptied batch's buffer was recycled; the queue holds exactly the new spans.
        var work = machine.takeWork()
        #expect(work.batches == [[4, 5, 6], [7]] && work.released.isEmpty)
        // Kept, then a wake-up with no full batch: the loop releases what spans did not.
        var third: [Int]? = [4, 5, 6]
        machine.retire(&third)
        _ = Self.end(8, &machine, released: 6)
        work = machine.takeWork()
        #expect(work.batches == [[8]] && work.released == [4, 5])
        _ = Self.end(9, &machine, released: nil)
    }

    @Test("after shutdown, exported batches are not kept")
    func noRetirementAfterShutdown() {
        var machine = Machine(maxQueueSize: 10, maxExportBatchSize: 5)
        _ = machine.shutdown(now: .zero, exportTimeout: .seconds(1))
        var exported: [Int]? = [1, 2]
        machine.retire(&exported)
        #expect(exported == [1, 2])
    }

    @Test("a flush wakes the loop and is answered after the work it takes; many flushes, one pass")
    func flush() {
        var machine = Machine(maxQueueSize: 10, maxExportBatchSize: 5)
        _ = Self.end(1, &machine)
        guard case .wait = machine.waitForWork("loop") else { Issue.record("waited"); return }
        guard case .wait(wakeUp: "loop") = machine.forceFlush("f1") else { Issue.record("loop not woken"); return }
        guard case .wait(wakeUp: nil) = machine.forceFlush("f2") else { Issue.record("loop woken twice"); return }
        #expect(machine.hasWork)
        let work = machine.takeWork()
        #expect(work.batches == [[1]] && work.flushers == ["f1", "f2"] && !work.isLast)
        #expect(!machine.hasWork)
    }

    @Test("shutdown refuses spans, wakes the loop, sets one deadline; a second shutdown keeps it")
    func shutdown() {
        var machine = Machine(maxQueueSize: 10, maxExportBatchSize: 5)
        _ = Self.end(1, &machine)
        _ = machine.waitForWork("loop")
        #expect(machine.shutdown(now: .seconds(10), exportTimeout: .seconds(30)) == "loop")
        #expect(machine.isShuttingDown && machine.hasWork)
        #expect(machine.shutdown(now: .seconds(20), exportTimeout: .seconds(30)) == nil)
        #expect(machine.shutdownDeadline == .seconds(40))
        guard case .dropped = Self.end(2, &machine) else { Issue.record("a span was taken after shutdown"); return }
        guard case .resumeNow = machine.waitForWork("loop") else { Issue.record("the loop waited while shutting down"); return }
        let work = machine.takeWork()
        #expect(work.batches == [[1]] && work.isLast)
    }

    @Test("during shutdown each export's timeout is cut to the deadline; at the deadline nothing more goes")
    func shutdownDeadline() {
        var machine = Machine(maxQueueSize: 10, maxExportBatchSize: 5)
        #expect(machine.mayExport(now: .seconds(1_000)))
        #expect(machine.exportTimeout(.seconds(30), now: .seconds(1_000)) == .seconds(30))
        _ = machine.shutdown(now: .seconds(10), exportTimeout: .seconds(30))
        #expect(machine.exportTimeout(.seconds(30), now: .seconds(25)) == .seconds(15))
        #expect(machine.mayExport(now: .milliseconds(39_999)))
        #expect(!machine.mayExport(now: .seconds(40)))
    }

    @Test("shutdown's callers wait for the loop's end; flushes and callers after the end resume at once")
    func loopEnd() {
        var machine = Machine(maxQueueSize: 10, maxExportBatchSize: 5)
        _ = machine.shutdown(now: .zero, exportTimeout: .seconds(1))
        guard case .wait = machine.waitForEnd("s1") else { Issue.record("did not wait for the end"); return }
        guard case .wait = machine.forceFlush("f1") else { Issue.record("a flush did not wait"); return }
        _ = Self.end(1, &machine)  // dropped: shutting down
        #expect(machine.loopEnded() == ["s1", "f1"])
        #expect(machine.queued == 0)
        guard case .resumeNow = machine.waitForEnd("s2") else { Issue.record("waited after the end"); return }
        guard case .resumeNow = machine.forceFlush("f2") else { Issue.record("a flush waited after the end"); return }
        #expect(machine.loopEnded().isEmpty)
        guard case .dropped = Self.end(2, &machine) else { Issue.record("a span was taken after the end"); return }
    }

    @Test("a flush racing shutdown: both answered by the last pass, none left waiting")
    func flushRacingShutdown() {
        var machine = Machine(maxQueueSize: 10, maxExportBatchSize: 5)
        _ = Self.end(1, &machine)
        _ = machine.waitForWork("loop")
        guard case .wait(wakeUp: "loop") = machine.forceFlush("flush") else { Issue.record("loop not woken"); return }
        #expect(machine.shutdown(now: .zero, exportTimeout: .seconds(1)) == nil)
        guard case .wait = machine.waitForEnd("shutdown") else { Issue.record("did not wait"); return }
        let work = machine.takeWork()
        #expect(work.batches == [[1]] && work.flushers == ["flush"] && work.isLast)
        #expect(machine.loopEnded() == ["shutdown"])
    }
}
