#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// ``Locked`` with a condition variable: a dedicated thread (a client's poll thread) can sleep
/// until the state it needs holds, woken by the change itself, with a deadline — instead of
/// polling with `usleep`. A ``withLock(_:)`` wakes the waiters only when the condition one of
/// them waits for holds after it (checked under the lock): a thread waiting for a buffer to
/// drain is not woken by every message taken from it, only by the one that drains it enough.
/// With none waiting it costs one comparison. Waiting blocks the thread: never wait on a task
/// of Swift's cooperative pool.
public final class ConditionLocked<Value: ~Copyable>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let condition: UnsafeMutablePointer<pthread_cond_t>
    @usableFromInline var value: Value
    /// What each thread in ``wait(timeout:until:)`` waits for (read and written under the lock;
    /// each entry lives only while its waiter is inside `wait`).
    @usableFromInline @exclusivity(unchecked) var waiters: [(id: Int, ready: (borrowing Value) -> Bool)] = []
    @usableFromInline @exclusivity(unchecked) var nextWaiterID = 0

    public init(_ value: consuming Value) {
        self.value = value
        self.mutex = .allocate(capacity: 1)
        self.mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(self.mutex, nil) == 0, "pthread_mutex_init failed")
        self.condition = .allocate(capacity: 1)
        self.condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if !canImport(Darwin)
        // Deadlines on the monotonic clock: a wall-clock step neither shortens nor stretches a wait.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        precondition(pthread_cond_init(self.condition, &attributes) == 0, "pthread_cond_init failed")
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(self.condition)
        self.condition.deinitialize(count: 1)
        self.condition.deallocate()
        pthread_mutex_destroy(self.mutex)
        self.mutex.deinitialize(count: 1)
        self.mutex.deallocate()
    }

    /// Runs `body` with the value under the lock, then wakes the threads waiting if what one of
    /// them waits for now holds.
    @inlinable
    public func withLock<Result: ~Copyable, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(self.mutex)
        defer {
            if !self.waiters.isEmpty, self.waiters.contains(where: { $0.ready(self.value) }) {
                pthread_cond_broadcast(self.condition)
            }
            pthread_mutex_unlock(self.mutex)
        }
        return try body(&self.value)
    }

    /// Blocks the calling thread until `ready` holds (checked under the lock, first at once, then
    /// after each change) or `timeout` passes.
    /// - Returns: whether `ready` held.
    public func wait(timeout: Duration? = nil, until ready: (borrowing Value) -> Bool) -> Bool {
        var deadline = timespec()
        if let timeout {
            #if canImport(Darwin)
            clock_gettime(CLOCK_REALTIME, &deadline)
            #else
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            #endif
            let (seconds, attoseconds) = max(timeout, .zero).components
            let nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
            deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
            deadline.tv_nsec = nanoseconds % 1_000_000_000
        }
        pthread_mutex_lock(self.mutex)
        defer { pthread_mutex_unlock(self.mutex) }
        return withoutActuallyEscaping(ready) { ready in
            // Registered only while this thread is in here (removed before `ready` goes away).
            let id = self.nextWaiterID
            self.nextWaiterID &+= 1
            self.waiters.append((id, ready))
            defer { self.waiters.removeAll { $0.id == id } }
            while !ready(self.value) {
                if timeout == nil {
                    pthread_cond_wait(self.condition, self.mutex)
                } else if pthread_cond_timedwait(self.condition, self.mutex, &deadline) == ETIMEDOUT {
                    return ready(self.value)
                }
            }
            return true
        }
    }
}
