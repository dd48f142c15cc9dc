import Locking

/// A clock that moves only when a test says so: code under test that sleeps on it is resumed by
/// ``advance(by:)``, so timing tests are exact and take no wall-clock time (swift-otel's
/// `TestClock` does the same).
public final class TestClock: Clock, Sendable {
    public struct Instant: InstantProtocol {
        public var offset: Duration
        public func advanced(by duration: Duration) -> Self { Self(offset: self.offset + duration) }
        public func duration(to other: Self) -> Duration { other.offset - self.offset }
        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        let id: Int
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var nextID = 0
        var cancelled: Set<Int> = []
    }

    private let state = Locked(State())

    public init() {}

    public var now: Instant { self.state.withLock { $0.now } }
    public var minimumResolution: Duration { .zero }

    /// When the waiting sleeps are due.
    public var deadlines: [Duration] { self.state.withLock { $0.sleepers.map(\.deadline.offset) } }

    /// How many sleeps are waiting for the clock to move.
    public var sleeping: Int { self.state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = self.state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Now { case wait, resume, cancel }
                let now = self.state.withLock { state -> Now in
                    if state.cancelled.remove(id) != nil { return .cancel }
                    if deadline <= state.now { return .resume }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return .wait
                }
                switch now {
                case .wait: break
                case .resume: continuation.resume()
                case .cancel: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let sleeper = self.state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock on, resuming every sleep that is due.
    public func advance(by duration: Duration) {
        let due = self.state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Returns once a sleep waits for exactly `deadline` (an offset from the clock's start), yielding
    /// meanwhile; `false` after many yields, so a test fails instead of hanging.
    public func waitForSleeper(until deadline: Duration) async -> Bool {
        for _ in 0..<1_000_000 {
            if self.state.withLock({ $0.sleepers.contains { $0.deadline.offset == deadline } }) { return true }
            await Task.yield()
        }
        return false
    }

    /// Returns once at least `count` sleeps wait on the clock (the code under test reached its
    /// sleep), yielding meanwhile; gives up after many yields so a test fails instead of hanging.
    public func waitForSleepers(_ count: Int = 1) async -> Bool {
        for _ in 0..<1_000_000 {
            if self.sleeping >= count { return true }
            await Task.yield()
        }
        return false
    }
}
