import Testing

@testable import KafkaTracing

/// Every transition of the partition lane, with plain values standing for messages and waiters.
@Suite("partition lane state machine")
struct PartitionLaneStateMachineTests {
    typealias Lane = PartitionLaneStateMachine<Int, String, String>

    @Test("send queues up to the capacity, then reports full; a receive makes room in order")
    func sendUntilFull() {
        var lane = Lane(capacity: 2)
        guard case .queued = lane.send(1), case .queued = lane.send(2) else { Issue.record("not queued"); return }
        guard case .full = lane.send(3) else { Issue.record("a third message fits a lane of two"); return }
        #expect(lane.count == 2)
        guard case .message(1, nil) = lane.receive() else { Issue.record("first in is not first out"); return }
        guard case .queued = lane.send(3) else { Issue.record("no room after a receive"); return }
        guard case .message(2, nil) = lane.receive(), case .message(3, nil) = lane.receive() else {
            Issue.record("order lost"); return
        }
        guard case .wait = lane.receive() else { Issue.record("an empty lane did not ask to wait"); return }
    }

    @Test("a capacity below one is one")
    func capacityAtLeastOne() {
        var lane = Lane(capacity: 0)
        #expect(lane.capacity == 1)
        guard case .queued = lane.send(1), case .full = lane.send(2) else { Issue.record("capacity is not 1"); return }
    }

    @Test("a send to an empty lane with a waiting receiver hands the message over, not queued")
    func handOver() {
        var lane = Lane(capacity: 2)
        guard case .wait = lane.waitForMessage("receiver", isCancelled: false) else { Issue.record("did not wait"); return }
        guard case .handOver("receiver") = lane.send(7) else { Issue.record("not handed over"); return }
        #expect(lane.count == 0)
        // The receiver was taken: the next send queues.
        guard case .queued = lane.send(8) else { Issue.record("handed over twice"); return }
    }

    @Test("a full lane's sender waits; the receive that makes room resumes it with true")
    func senderWaitsForRoom() {
        var lane = Lane(capacity: 1)
        _ = lane.send(1)
        guard case .wait = lane.waitForRoom("sender", isCancelled: false) else { Issue.record("did not wait"); return }
        guard case .message(1, resumeSender: "sender") = lane.receive() else { Issue.record("sender not resumed"); return }
        // Resumed once only.
        _ = lane.send(2)
        guard case .message(2, resumeSender: nil) = lane.receive() else { Issue.record("sender resumed twice"); return }
    }

    @Test("waiting for room when there is room already resumes at once")
    func roomAlready() {
        var lane = Lane(capacity: 2)
        _ = lane.send(1)
        guard case .resume(true) = lane.waitForRoom("sender", isCancelled: false) else { Issue.record("waited"); return }
    }

    @Test("cancel while waiting for queue space: the sender is handed back once, and a cancelled task does not wait")
    func cancelWhileWaitingForSpace() {
        var lane = Lane(capacity: 1)
        _ = lane.send(1)
        guard case .wait = lane.waitForRoom("sender", isCancelled: false) else { Issue.record("did not wait"); return }
        #expect(lane.cancelSender() == "sender")
        #expect(lane.cancelSender() == nil)
        // The receive that follows has no sender left to resume; the message stays queued.
        guard case .message(1, resumeSender: nil) = lane.receive() else { Issue.record("cancelled sender resumed"); return }
        _ = lane.send(2)
        guard case .resume(false) = lane.waitForRoom("late", isCancelled: true) else { Issue.record("cancelled task waited"); return }
    }

    @Test("a cancelled receiver is handed back once; a cancelled task gets the end without waiting")
    func cancelReceiver() {
        var lane = Lane(capacity: 1)
        guard case .wait = lane.waitForMessage("receiver", isCancelled: false) else { Issue.record("did not wait"); return }
        #expect(lane.cancelReceiver() == "receiver")
        #expect(lane.cancelReceiver() == nil)
        guard case .queued = lane.send(1) else { Issue.record("handed to a cancelled receiver"); return }
        // A queued message is still taken by a cancelled task (it is in hand, not waited for).
        guard case .resume(1, nil) = lane.waitForMessage("r2", isCancelled: true) else { Issue.record("message lost"); return }
        guard case .resume(nil, nil) = lane.waitForMessage("r3", isCancelled: true) else { Issue.record("cancelled task waited"); return }
    }

    @Test("finish drops what is queued, hands back both waiters, and ends both sides for good")
    func finish() {
        var lane = Lane(capacity: 1)
        _ = lane.send(1)
        guard case .wait = lane.waitForRoom("sender", isCancelled: false) else { Issue.record("did not wait"); return }
        let (receiver, sender) = lane.finish()
        #expect(receiver == nil)
        #expect(sender == "sender")
        #expect(lane.count == 0)
        #expect(lane.isFinished)
        guard case .finished = lane.send(2) else { Issue.record("a finished lane took a message"); return }
        guard case .end = lane.receive() else { Issue.record("a finished lane did not end"); return }
        guard case .resume(false) = lane.waitForRoom("s", isCancelled: false) else { Issue.record("waited on a finished lane"); return }
        guard case .resume(nil, nil) = lane.waitForMessage("r", isCancelled: false) else { Issue.record("waited on a finished lane"); return }
        #expect(lane.cancelSender() == nil)
        #expect(lane.cancelReceiver() == nil)
        let again = lane.finish()
        #expect(again.receiver == nil && again.sender == nil)
    }

    @Test("finish while the receiver waits hands it back")
    func finishWithReceiverWaiting() {
        var lane = Lane(capacity: 4)
        _ = lane.waitForMessage("receiver", isCancelled: false)
        let (receiver, sender) = lane.finish()
        #expect(receiver == "receiver")
        #expect(sender == nil)
    }

    @Test("a long run through a small lane keeps order and stays compact")
    func longRun() {
        var lane = Lane(capacity: 100)
        var next = 0
        var received: [Int] = []
        for round in 0..<50 {
            for _ in 0..<(round % 7 + 60) {
                guard case .queued = lane.send(next) else { break }
                next += 1
            }
            for _ in 0..<(round % 5 + 58) {
                guard case .message(let message, _) = lane.receive() else { break }
                received.append(message)
            }
        }
        while case .message(let message, _) = lane.receive() { received.append(message) }
        #expect(received == Array(0..<next))
    }
}
