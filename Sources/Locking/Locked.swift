#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a `pthread_mutex_t`: the one lock of this project's shared state.
///
/// Why not `Synchronization.Mutex`: on Linux it locks with futex calls inside the Swift runtime,
/// which ThreadSanitizer cannot see, so TSan reported every access inside `withLock` as a race
/// and the code that most needs checking had to be suppressed. TSan intercepts pthread mutexes:
/// with this lock it checks our state for real (`make test-tsan`). Uncontended, a lock and unlock
/// cost about as much as `Mutex`'s (an atomic exchange each way). The API is `Mutex`'s.
public final class Locked<Value: ~Copyable>: @unchecked Sendable {
    // (Sendable like `Mutex`: the value is only reached under the lock.)
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline @exclusivity(unchecked) var value: Value

    public init(_ value: consuming Value) {
        self.value = value
        self.mutex = .allocate(capacity: 1)
        self.mutex.initialize(to: pthread_mutex_t())
        let result = pthread_mutex_init(self.mutex, nil)
        precondition(result == 0, "pthread_mutex_init failed: \(result)")
    }

    deinit {
        pthread_mutex_destroy(self.mutex)
        self.mutex.deinitialize(count: 1)
        self.mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock. Do not call back into code that may
    /// take the same lock: it is not recursive.
    @inlinable
    public func withLock<Result: ~Copyable, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(self.mutex)
        defer { pthread_mutex_unlock(self.mutex) }
        return try body(&self.value)
    }
}
