/// A clock reduced to what timeouts and backoffs need: the time elapsed since it was made, and a
/// sleep. Components that wait (the batch processor, the OTLP retry loop) take one, so tests
/// run them on a test clock and assert exact instants; production uses `ContinuousClock`.
package struct ElapsedClock: Sendable {
    package let elapsed: @Sendable () -> Duration
    package let sleep: @Sendable (Duration) async throws -> Void

    package init<C: Clock>(_ clock: C) where C.Duration == Duration, C: Sendable {
        let start = clock.now
        self.elapsed = { start.duration(to: clock.now) }
        self.sleep = { try await clock.sleep(for: $0) }
    }

    package static var continuous: ElapsedClock { ElapsedClock(ContinuousClock()) }
}
