import Foundation
import Locking
import Testing

@Suite("Locking")
struct LockingTests {
    @Test("Locked: increments from eight threads at once are none of them lost")
    func lockedIsExclusive() async {
        let counter = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<10_000 { counter.withLock { $0 += 1 } } }
            }
        }
        #expect(counter.withLock { $0 } == 80_000)
    }

    @Test("ConditionLocked: a waiting thread wakes on the change it waits for, not at its deadline")
    func conditionWakesOnChange() async throws {
        let state = ConditionLocked(false)
        let woke = Locked<(ready: Bool, after: Duration)?>(nil)
        let thread = Thread {
            let started = ContinuousClock.now
            let ready = state.wait(timeout: .seconds(20)) { $0 }
            woke.withLock { $0 = (ready, ContinuousClock.now - started) }
        }
        thread.start()
        try await Task.sleep(for: .milliseconds(100))
        state.withLock { $0 = true }
        let deadline = ContinuousClock.now + .seconds(10)
        while woke.withLock({ $0 }) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let result = try #require(woke.withLock { $0 })
        #expect(result.ready)
        #expect(result.after < .seconds(10), "woke by the change, not the 20 s deadline: \(result.after)")
    }

    @Test("ConditionLocked: a wait whose condition never holds returns false at its deadline; one that holds returns at once")
    func conditionTimesOut() {
        let state = ConditionLocked(0)
        let started = ContinuousClock.now
        #expect(state.wait(timeout: .milliseconds(150)) { $0 == 1 } == false)
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(150) && waited < .seconds(5), "\(waited)")
        #expect(state.wait(timeout: .zero) { $0 == 0 })
    }

    @Test("ConditionLocked: changes that leave a waiter's condition false do not wake it; two waiters wake each on its own condition")
    func conditionWakesOnlyWhenReady() async throws {
        let state = ConditionLocked(0)
        // How often each waiting thread evaluated its condition itself (each wake-up does once).
        let checks = Locked<[String: Int]>([:])
        let done = Locked<Set<String>>([])
        func waiter(_ name: String, until target: Int) -> Thread {
            Thread {
                let me = pthread_self()
                _ = state.wait(timeout: .seconds(30)) { value in
                    if pthread_equal(pthread_self(), me) != 0 { checks.withLock { $0[name, default: 0] += 1 } }
                    return value >= target
                }
                done.withLock { _ = $0.insert(name) }
            }
        }
        waiter("half", until: 500).start()
        waiter("all", until: 1000).start()
        try await Task.sleep(for: .milliseconds(100))
        for _ in 0..<1000 {
            state.withLock { $0 += 1 }
            if state.withLock({ $0 }) % 100 == 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while done.withLock({ $0.count }) < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(done.withLock { $0 } == ["half", "all"])
        // Once on entry, once when woken ready; a few more for spurious wake-ups at most (a
        // broadcast on every change would make it hundreds).
        let counted = checks.withLock { $0 }
        #expect((counted["half"] ?? 0) <= 5, "\(counted)")
        #expect((counted["all"] ?? 0) <= 5, "\(counted)")
    }

    @Test("SetOnceReference: the first of eight racing stores wins for every caller, and the reference is released with it")
    func setOnceReference() async {
        final class Box: Sendable {
            let id: Int
            init(_ id: Int) { self.id = id }
        }
        final class Holder: Sendable {
            let reference = SetOnceReference<Box>()
        }
        weak var stored: Box?
        do {
            let holder = Holder()
            #expect(holder.reference.load() == nil)
            let winners = await withTaskGroup(of: Int.self) { group in
                for id in 0..<8 { group.addTask { holder.reference.storeIfNil(Box(id)).id } }
                return await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let kept = holder.reference.load()
            #expect(Set(winners).count == 1 && winners.count == 8)
            #expect(kept?.id == winners.first)
            // A later store keeps the first reference.
            #expect(holder.reference.storeIfNil(Box(99)) === kept)
            stored = kept
            #expect(stored != nil)
        }
        // The holder is gone: so is the reference it kept (and the losers' boxes were released).
        #expect(stored == nil)
    }
}
