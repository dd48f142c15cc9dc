import Testing

@testable import Kafka

/// Every transition of the consumer core's state, with plain values for messages and waiters.
@Suite("consumer state machine")
struct RDKafkaConsumerStateMachineTests {
    struct Message: Equatable {
        var partition: Int32
        var offset: Int
    }

    typealias Machine = RDKafkaConsumerStateMachine<Message, String, String>

    static let t0 = ContinuousClock.now
    static func p(_ partition: Int32) -> KafkaTopicPartition { KafkaTopicPartition(topic: "t", partition: partition) }
    static func partitionOf(_ message: Message) -> KafkaTopicPartition { p(message.partition) }
    static func messages(_ partition: Int32, _ offsets: Range<Int>) -> [Message] {
        offsets.map { Message(partition: partition, offset: $0) }
    }

    func machine(maxBuffered: Int = 10) -> Machine {
        Machine(maxBuffered: maxBuffered, closeGracePeriod: .seconds(30))
    }

    @Test("the poll thread is started once, by the first call that needs it")
    func startsOnce() {
        var machine = self.machine()
        #expect(machine.startPollThread() == true)
        #expect(machine.startPollThread() == false)
        machine.closeWithoutWaiting(now: Self.t0)
        #expect(machine.startPollThread() == false)
    }

    @Test("fetched messages are handed out in order; an empty buffer asks to wait")
    func handOut() {
        var machine = self.machine()
        guard case .wait = machine.next() else { Issue.record("an empty consumer did not ask to wait"); return }
        #expect(machine.fetched(Self.messages(0, 0..<3)) == nil)
        for offset in 0..<3 {
            guard case .message(let message) = machine.next() else { Issue.record("no message"); return }
            #expect(message.offset == offset)
        }
        guard case .wait = machine.next() else { Issue.record("not empty"); return }
    }

    @Test("a waiting task gets the first fetched message directly; a second iterating task is refused")
    func waiter() {
        var machine = self.machine()
        guard case .wait = machine.waitForMessage("task", isCancelled: false) else { Issue.record("did not wait"); return }
        guard case .resume(.failure(let error as KafkaError)) = machine.waitForMessage("other", isCancelled: false) else {
            Issue.record("a second iterator was not refused"); return
        }
        #expect(error.code == .state)
        let handed = machine.fetched(Self.messages(0, 0..<2))
        #expect(handed?.0 == "task" && handed?.1.offset == 0)
        #expect(machine.bufferedCount == 1)
        // The waiter was taken: a later fetch hands nothing out.
        #expect(machine.fetched(Self.messages(0, 2..<3)) == nil)
    }

    @Test("a cancelled task is handed back once, and a cancelled task does not start waiting")
    func cancellation() {
        var machine = self.machine()
        _ = machine.waitForMessage("task", isCancelled: false)
        #expect(machine.cancelWaiter() == "task")
        #expect(machine.cancelWaiter() == nil)
        #expect(machine.fetched(Self.messages(0, 0..<1)) == nil)
        _ = machine.next()
        guard case .resume(.failure(is CancellationError)) = machine.waitForMessage("late", isCancelled: true) else {
            Issue.record("a cancelled task waited"); return
        }
    }

    @Test("a full buffer stops polling until the application took half of it")
    func backpressure() {
        var machine = self.machine(maxBuffered: 4)
        #expect(machine.nextPollAction(now: Self.t0) == .poll)
        _ = machine.fetched(Self.messages(0, 0..<4))
        #expect(machine.nextPollAction(now: Self.t0) == .waitForRoom)
        #expect(!machine.hasRoomOrStopped)
        _ = machine.next()
        // One below full: still waiting (the poll thread is not woken per message taken).
        #expect(!machine.hasRoomOrStopped)
        _ = machine.next()
        #expect(machine.hasRoomOrStopped)
        #expect(machine.nextPollAction(now: Self.t0) == .poll)
    }

    @Test("a batch takes what is buffered, up to its size")
    func batch() {
        var machine = self.machine()
        _ = machine.fetched(Self.messages(0, 0..<5))
        #expect(machine.takeBuffered(upTo: 3).map(\.offset) == [0, 1, 2])
        #expect(machine.takeBuffered(upTo: 3).map(\.offset) == [3, 4])
    }

    @Test("close requested: nothing more is handed out; the poll thread waits for the application, then closes")
    func requestCloseWaitsForTheApplication() {
        var machine = self.machine()
        _ = machine.fetched(Self.messages(0, 0..<3))
        _ = machine.next()  // the application holds message 0
        #expect(machine.requestClose(now: Self.t0) == nil)
        #expect(machine.nextPollAction(now: Self.t0 + .seconds(1)) == .waitForApplication(.seconds(29)))
        #expect(!machine.isApplicationDoneOrNotWaiting)
        #expect(machine.acceptsHandleUse)  // its offset can still be stored and committed
        // It asks for the next message: the end (buffered ones go to the group again).
        guard case .end(nil) = machine.next() else { Issue.record("a message was handed out after close was requested"); return }
        #expect(machine.isApplicationDoneOrNotWaiting)
        #expect(machine.nextPollAction(now: Self.t0 + .seconds(1)) == .close)
    }

    @Test("close requested while the application waits for a message: it holds none, so the poll thread closes at once")
    func requestCloseWithTaskWaiting() {
        var machine = self.machine()
        _ = machine.waitForMessage("task", isCancelled: false)
        #expect(machine.requestClose(now: Self.t0) == nil)  // it gets the end when the consumer is closed
        #expect(machine.nextPollAction(now: Self.t0) == .close)
        // A fetch racing the request hands nothing to the task.
        #expect(machine.fetched(Self.messages(0, 0..<1)) == nil)
        // It stays buffered until closing starts, then goes back to the core to be released.
        #expect(Array(machine.closingStarted()) == Self.messages(0, 0..<1))
        let closed = machine.closed()
        #expect(closed.waiter == "task" && closed.closeWaiters.isEmpty && closed.failure == nil)
        #expect(machine.bufferedCount == 0)
    }

    @Test("the grace period bounds the wait for an application that never finishes")
    func gracePeriod() {
        var machine = self.machine()
        _ = machine.fetched(Self.messages(0, 0..<1))
        _ = machine.next()
        _ = machine.requestClose(now: Self.t0)
        #expect(machine.nextPollAction(now: Self.t0 + .milliseconds(29_999)) == .waitForApplication(.milliseconds(1)))
        #expect(machine.nextPollAction(now: Self.t0 + .seconds(30)) == .close)
    }

    @Test("an application that hands messages on: the end does not mean done, only close() does; its waiting task gets the end now")
    func handsOn() {
        var machine = self.machine()
        machine.setApplicationHandsOn()
        _ = machine.waitForMessage("reader", isCancelled: false)
        #expect(machine.requestClose(now: Self.t0) == "reader")
        guard case .end(nil) = machine.next() else { Issue.record("no end"); return }
        #expect(machine.nextPollAction(now: Self.t0 + .seconds(1)) == .waitForApplication(.seconds(29)))
        guard case .wait = machine.close("closer", now: Self.t0 + .seconds(2)) else { Issue.record("close did not wait"); return }
        #expect(machine.nextPollAction(now: Self.t0 + .seconds(2)) == .close)
        _ = machine.closingStarted()
        #expect(machine.closed().closeWaiters == ["closer"])
    }

    @Test("close() from running: done at once, the caller waits for the end; after the end, close returns at once")
    func close() {
        var machine = self.machine()
        guard case .wait = machine.close("first", now: Self.t0) else { Issue.record("did not wait"); return }
        guard case .wait = machine.close("second", now: Self.t0) else { Issue.record("did not wait"); return }
        #expect(machine.phase == .closeRequested(at: MonotonicInstant(Self.t0)))  // the first request's instant stays
        #expect(machine.nextPollAction(now: Self.t0) == .close)
        _ = machine.closingStarted()
        #expect(!machine.acceptsHandleUse)
        #expect(machine.closed().closeWaiters == ["first", "second"])
        guard case .resumeNow = machine.close("late", now: Self.t0) else { Issue.record("waited after the end"); return }
        guard case .end(nil) = machine.next() else { Issue.record("no end after close"); return }
    }

    @Test("a commit in progress holds closing back until it ends; none starts once closing began")
    func handleUsers() {
        var machine = self.machine()
        #expect(machine.beginHandleUse() == true)
        #expect(machine.beginHandleUse() == true)
        machine.closeWithoutWaiting(now: Self.t0)
        #expect(machine.beginHandleUse() == true)  // close requested: a commit may still run
        #expect(machine.nextPollAction(now: Self.t0) == .close)
        _ = machine.closingStarted()
        #expect(machine.beginHandleUse() == false)
        #expect(machine.hasHandleUsers)
        machine.endHandleUse()
        machine.endHandleUse()
        #expect(machine.hasHandleUsers)
        machine.endHandleUse()
        #expect(!machine.hasHandleUsers)
    }

    @Test("a fatal error ends the sequence with it, and closes")
    func fatalError() {
        var machine = self.machine()
        _ = machine.fetched(Self.messages(0, 0..<2))
        let error = KafkaError(code: .fatal, message: "fenced", isRetriable: false, isFatal: true)
        #expect(machine.failed(error, now: Self.t0) == nil)
        guard case .end(let failure?) = machine.next() else { Issue.record("the error did not end the sequence"); return }
        #expect(failure.message == "fenced")
        #expect(machine.nextPollAction(now: Self.t0) == .close)
        _ = machine.closingStarted()
        #expect(machine.closed().failure?.message == "fenced")
    }

    @Test("a fatal error while a handing-on application waits: the waiter is handed back to throw now")
    func fatalErrorWithWaiter() {
        var machine = self.machine()
        machine.setApplicationHandsOn()
        _ = machine.waitForMessage("reader", isCancelled: false)
        let error = KafkaError(code: .fatal, message: "fenced", isRetriable: false, isFatal: true)
        #expect(machine.failed(error, now: Self.t0) == "reader")
    }

    @Test("rebalances: an eager assignment replaces, a cooperative one adds; revocation drops the partitions' buffered messages")
    func rebalance() {
        var machine = self.machine()
        #expect(machine.assigned([Self.p(0), Self.p(1)], replacing: true) == [Self.p(0), Self.p(1)])
        #expect(machine.assigned([Self.p(2)], replacing: false) == [Self.p(0), Self.p(1), Self.p(2)])
        #expect(machine.assigned([Self.p(3)], replacing: true) == [Self.p(3)])
        _ = machine.assigned([Self.p(0), Self.p(1)], replacing: false)
        _ = machine.fetched(Self.messages(0, 0..<3) + Self.messages(1, 0..<2) + Self.messages(3, 0..<1))
        #expect(machine.revoked([Self.p(0), Self.p(3)], partitionOf: Self.partitionOf) == Self.messages(0, 0..<3) + Self.messages(3, 0..<1))
        #expect(machine.assignment == [Self.p(1)])
        #expect(machine.takeBuffered(upTo: 10) == Self.messages(1, 0..<2))
        machine.assignmentCleared()
        #expect(machine.assignment.isEmpty)
    }

    @Test("close during a rebalance: librdkafka revokes inside close; the partitions' messages are dropped, no offset is stored after closing began")
    func closeDuringRebalance() {
        var machine = self.machine()
        _ = machine.assigned([Self.p(0), Self.p(1)], replacing: true)
        _ = machine.fetched(Self.messages(0, 0..<2) + Self.messages(1, 0..<2))
        _ = machine.next()  // in hand: partition 0, offset 0
        // Graceful shutdown arrives while the poll thread serves a revocation of partition 1.
        #expect(machine.requestClose(now: Self.t0) == nil)
        #expect(machine.revoked([Self.p(1)], partitionOf: Self.partitionOf) == Self.messages(1, 0..<2))
        #expect(machine.acceptsHandleUse)  // the message in hand can still store its offset
        // The group assigns again before the poll thread closes: nothing is handed out any more.
        _ = machine.assigned([Self.p(1)], replacing: false)
        #expect(machine.fetched(Self.messages(1, 2..<3)) == nil)
        guard case .end(nil) = machine.next() else { Issue.record("a message was handed out during close"); return }
        #expect(machine.nextPollAction(now: Self.t0) == .close)
        // What is still buffered goes back to the core to be released before the handle closes.
        #expect(Array(machine.closingStarted()) == Self.messages(0, 1..<2) + Self.messages(1, 2..<3))
        // rd_kafka_consumer_close revokes everything: served in the closing phase, nothing left to drop.
        #expect(machine.revoked([Self.p(0), Self.p(1)], partitionOf: Self.partitionOf).isEmpty)
        #expect(machine.assignment.isEmpty)
        #expect(!machine.acceptsHandleUse)
        let closed = machine.closed()
        #expect(closed.waiter == nil && machine.phase == .closed)
    }
}
