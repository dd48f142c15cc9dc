import Testing

@testable import Kafka

/// Every transition of the producer core's lifecycle, with plain values for waiters.
@Suite("producer state machine")
struct RDKafkaProducerStateMachineTests {
    typealias Machine = RDKafkaProducerStateMachine<String>

    /// A producer whose poll thread was started.
    static func started() -> Machine {
        var machine = Machine()
        _ = machine.start()
        return machine
    }

    @Test("idle → running once: the poll thread is started by the first call that needs it, once")
    func start() {
        var machine = Machine()
        #expect(machine.phase == .idle)
        #expect(machine.pollThreadMayExit(inFlight: 0) == false)
        #expect(machine.start() == true)
        #expect(machine.phase == .running)
        #expect(machine.start() == false)
        machine.beginDraining()
        #expect(machine.start() == false)
        #expect(machine.phase == .draining)
    }

    @Test("running → draining once; a running producer's poll thread never exits, even with nothing in flight")
    func drain() {
        var machine = Self.started()
        #expect(machine.phase == .running)
        #expect(machine.pollThreadMayExit(inFlight: 0) == false)
        #expect(machine.beginDraining() == true)
        #expect(machine.beginDraining() == false)
        #expect(machine.phase == .draining)
        #expect(machine.refusal.code == KafkaError.closed("the producer").code)
    }

    @Test("the poll thread exits only when draining with nothing in flight; then the handle is released for good")
    func exitDecision() {
        var machine = Self.started()
        machine.beginDraining()
        #expect(machine.pollThreadMayExit(inFlight: 3) == false)
        #expect(!machine.handleReleased)
        #expect(machine.mayPurge())
        #expect(machine.pollThreadMayExit(inFlight: 0) == true)
        #expect(machine.handleReleased)
        #expect(!machine.mayPurge())
        #expect(machine.pollThreadMayExit(inFlight: 0) == true)
    }

    @Test("a fatal error drains, and sends are refused with it (the first error stays)")
    func fatal() {
        var machine = Self.started()
        machine.failed(KafkaError(code: .fatal, message: "fenced", isRetriable: false, isFatal: true))
        machine.failed(KafkaError(code: .fatal, message: "later", isRetriable: false, isFatal: true))
        #expect(machine.phase == .draining)
        #expect(machine.refusal.message == "fenced")
        #expect(machine.refusal.isFatal)
    }

    @Test("a task waiting for queue space resumes at the next pass; one that saw a pass already does not wait")
    func progress() {
        var machine = Self.started()
        #expect(machine.waitForProgress("a", id: 1, since: 5, current: 5, isCancelled: false) == .wait)
        #expect(machine.waitForProgress("b", id: 2, since: 5, current: 5, isCancelled: false) == .wait)
        #expect(machine.waitForProgress("c", id: 3, since: 5, current: 6, isCancelled: false) == .resumeNow)
        #expect(machine.progressed() == ["a", "b"])
        #expect(machine.progressed().isEmpty)
    }

    @Test("cancel while waiting for queue space: that task alone is handed back, once; a cancelled task does not wait")
    func cancelWhileWaitingForQueueSpace() {
        var machine = Self.started()
        _ = machine.waitForProgress("a", id: 1, since: 0, current: 0, isCancelled: false)
        _ = machine.waitForProgress("b", id: 2, since: 0, current: 0, isCancelled: false)
        #expect(machine.cancelProgressWait(id: 1) == "a")
        #expect(machine.cancelProgressWait(id: 1) == nil)
        #expect(machine.cancelProgressWait(id: 9) == nil)
        #expect(machine.progressed() == ["b"])
        #expect(machine.waitForProgress("c", id: 3, since: 0, current: 0, isCancelled: true) == .resumeNow)
        #expect(machine.progressed().isEmpty)
    }

    @Test("close waits for the poll thread's end; at the end every waiter (closers and senders) resumes; after it nobody waits")
    func stop() {
        var machine = Self.started()
        machine.beginDraining()
        #expect(machine.waitForStop("closer") == .wait)
        _ = machine.waitForProgress("sender", id: 1, since: 0, current: 0, isCancelled: false)
        #expect(machine.pollThreadMayExit(inFlight: 0) == true)
        #expect(machine.stopped() == ["closer", "sender"])
        #expect(machine.phase == .stopped)
        #expect(machine.waitForStop("late") == .resumeNow)
        #expect(machine.waitForProgress("late", id: 2, since: 0, current: 0, isCancelled: false) == .resumeNow)
        #expect(machine.beginDraining() == false)
    }

    @Test("flush racing close: a flush holding the handle (counted in flight) keeps the poll thread from exiting until it lets go")
    func flushRacingClose() {
        var machine = Self.started()
        // The flush counts itself in flight and sees `running`: it may call rd_kafka_flush.
        var inFlight = 1
        #expect(machine.phase == .running)
        // close() begins meanwhile.
        #expect(machine.beginDraining() == true)
        #expect(machine.pollThreadMayExit(inFlight: inFlight) == false)
        // The flush waits for progress while close waits for the end.
        #expect(machine.waitForStop("close") == .wait)
        #expect(machine.waitForProgress("flush", id: 1, since: 0, current: 0, isCancelled: false) == .wait)
        inFlight -= 1
        #expect(machine.progressed() == ["flush"])
        #expect(machine.pollThreadMayExit(inFlight: inFlight) == true)
        #expect(machine.stopped() == ["close"])
    }

    @Test("a purge racing the poll thread's exit: allowed (and counted in flight) before the exit decision, refused after it")
    func purgeRacingExit() {
        var machine = Self.started()
        machine.beginDraining()
        #expect(machine.mayPurge())
        // The purge counts itself in flight under the lock: the poll thread cannot exit.
        #expect(machine.pollThreadMayExit(inFlight: 1) == false)
        #expect(machine.pollThreadMayExit(inFlight: 0) == true)
        #expect(!machine.mayPurge())
    }
}
