import Locking
import Tracing
import TracingCapabilities

/// The current tracer, found as `InstrumentationSystem.tracer` finds it (the `withTracer`
/// task-local one, else the bootstrapped one) at every call, but without its dynamic casts, which
/// cost more than the rest of an unsampled span. The instrument is read each time; the casts
/// (to `Tracer`, and to the capabilities of `TracingCapabilities`) are reused while the instrument
/// is the same object (same class, same reference) as last time.
@usableFromInline
enum TracerLookup {
    private struct Entry {
        var type: ObjectIdentifier
        var reference: UInt
        var tracer: ActiveTracer  // also keeps the object alive, so its address is not reused
    }

    private static let last = Locked<Entry?>(nil)

    /// `nil` when no tracer is installed (swift-distributed-tracing's no-op instrument): then
    /// there is nothing to record and nothing to propagate.
    @usableFromInline
    static func current() -> (any Tracer)? { self.active()?.tracer }

    /// The current tracer with what it can do besides `Tracer`; `nil` as for ``current()``.
    @usableFromInline
    static func active() -> ActiveTracer? {
        let instrument = InstrumentationSystem.instrument
        let type = ObjectIdentifier(Swift.type(of: instrument))
        if type == ObjectIdentifier(NoOpInstrument.self) { return nil }
        // The existential's first word: the object reference when the instrument is a class
        // instance (only class instances are ever cached).
        let reference = withUnsafeBytes(of: instrument) { $0.load(as: UInt.self) }
        if let last = Self.last.withLock({ $0 }), last.type == type, last.reference == reference {
            return last.tracer
        }
        let active: ActiveTracer
        if let continuing = instrument as? any SpanContextInjectingTracer & AttributeTemplateTracer & RemoteParentTracer {
            active = .continuing(continuing)
        } else if let templating = instrument as? any SpanContextInjectingTracer & AttributeTemplateTracer {
            active = .templating(templating)
        } else if let injecting = instrument as? any SpanContextInjectingTracer {
            active = .injecting(injecting)
        } else if let tracer = instrument as? any Tracer {
            active = .plain(tracer)
        } else {
            // A multiplex instrument, say: swift-distributed-tracing picks its tracer (not cached).
            return .plain(InstrumentationSystem.tracer)
        }
        if Swift.type(of: instrument) is AnyObject.Type {
            Self.last.withLock { $0 = Entry(type: type, reference: reference, tracer: active) }
        }
        return active
    }
}

/// A tracer, and which capabilities of `TracingCapabilities` it offers (one existential either
/// way): ``SpanContextInjectingTracer``, with it ``AttributeTemplateTracer``, and with both
/// ``RemoteParentTracer`` (a tracer offering a later one without the earlier ones is taken as
/// offering only those before the gap).
@usableFromInline
enum ActiveTracer: Sendable {
    case plain(any Tracer)
    case injecting(any SpanContextInjectingTracer)
    case templating(any SpanContextInjectingTracer & AttributeTemplateTracer)
    case continuing(any SpanContextInjectingTracer & AttributeTemplateTracer & RemoteParentTracer)

    @usableFromInline
    var tracer: any Tracer {
        switch self {
        case .plain(let tracer): tracer
        case .injecting(let tracer): tracer
        case .templating(let tracer): tracer
        case .continuing(let tracer): tracer
        }
    }

    /// The tracer when it keeps attribute templates.
    @inline(__always)
    var templating: (any SpanContextInjectingTracer & AttributeTemplateTracer)? {
        switch self {
        case .plain, .injecting: nil
        case .templating(let tracer): tracer
        case .continuing(let tracer): tracer
        }
    }

    /// The tracer when it starts spans on a remote parent read from a carrier.
    @inline(__always)
    var remoteParent: (any RemoteParentTracer)? {
        if case .continuing(let tracer) = self { tracer } else { nil }
    }

    /// Writes `span`'s propagation headers: from the span when the tracer can, else through
    /// `span.context`.
    @usableFromInline
    func inject<Carrier, Inject: Injector>(
        _ span: any Span,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        switch self {
        case .plain: break
        case .injecting(let tracer): if tracer.injectContext(of: span, into: &carrier, using: injector) { return }
        case .templating(let tracer): if tracer.injectContext(of: span, into: &carrier, using: injector) { return }
        case .continuing(let tracer): if tracer.injectContext(of: span, into: &carrier, using: injector) { return }
        }
        self.tracer.inject(span.context, into: &carrier, using: injector)
    }
}
