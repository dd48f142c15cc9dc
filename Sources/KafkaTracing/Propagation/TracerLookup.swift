import Locking
import Tracing

/// The current tracer, found as `InstrumentationSystem.tracer` finds it (the `withTracer`
/// task-local one, else the bootstrapped one) at every call, but without its dynamic casts, which
/// cost more than the rest of an unsampled span. The instrument is read each time; the cast is
/// reused while the instrument is the same object (same class, same reference) as last time.
@usableFromInline
enum TracerLookup {
    private struct Entry {
        var type: ObjectIdentifier
        var reference: UInt
        var tracer: any Tracer  // also keeps the object alive, so its address is not reused
    }

    private static let last = Locked<Entry?>(nil)

    /// `nil` when no tracer is installed (swift-distributed-tracing's no-op instrument): then
    /// there is nothing to record and nothing to propagate.
    @usableFromInline
    static func current() -> (any Tracer)? {
        let instrument = InstrumentationSystem.instrument
        let type = ObjectIdentifier(Swift.type(of: instrument))
        if type == ObjectIdentifier(NoOpInstrument.self) { return nil }
        // The existential's first word: the object reference when the instrument is a class
        // instance (only class instances are ever cached).
        let reference = withUnsafeBytes(of: instrument) { $0.load(as: UInt.self) }
        if let last = Self.last.withLock({ $0 }), last.type == type, last.reference == reference {
            return last.tracer
        }
        guard let tracer = instrument as? any Tracer else { return InstrumentationSystem.tracer }
        if Swift.type(of: instrument) is AnyObject.Type {
            Self.last.withLock { $0 = Entry(type: type, reference: reference, tracer: tracer) }
        }
        return tracer
    }
}
