import Synchronization

/// A reference set at most once and read without a lock, as `AtomicLazyReference` is, but
/// specialized where it is used.
///
/// `AtomicLazyReference.load()` is not inlinable: every call went into the Synchronization
/// library unspecialized, which looked up the generic type's metadata at run time (about 3 % of
/// an unsampled traced send's CPU in perf, for the span name's and the delivery observer's loads).
/// This one is an atomic word holding a retained reference (0 for none), and its operations are
/// inlined into the caller.
public struct SetOnceReference<Object: AnyObject & Sendable>: ~Copyable, Sendable {
    @usableFromInline let bits: Atomic<UInt>

    @inlinable
    public init() {
        self.bits = Atomic(0)
    }

    /// The reference, once stored.
    @inlinable
    public func load() -> Object? {
        let bits = self.bits.load(ordering: .acquiring)
        guard let pointer = UnsafeRawPointer(bitPattern: bits) else { return nil }
        return Unmanaged<Object>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Stores `object` unless a reference is there already.
    /// - Returns: the reference stored now: `object`, or the one stored first.
    @inlinable
    public func storeIfNil(_ object: Object) -> Object {
        let new = UInt(bitPattern: Unmanaged.passRetained(object).toOpaque())
        let (exchanged, original) = self.bits.compareExchange(expected: 0, desired: new, ordering: .acquiringAndReleasing)
        if exchanged { return object }
        Unmanaged<Object>.passUnretained(object).release()
        return Unmanaged<Object>.fromOpaque(UnsafeRawPointer(bitPattern: original)!).takeUnretainedValue()
    }

    deinit {
        if let pointer = UnsafeRawPointer(bitPattern: self.bits.load(ordering: .acquiring)) {
            Unmanaged<Object>.fromOpaque(pointer).release()
        }
    }
}
