import Synchronization
import Tracing
import TracingCapabilities

/// The built-in tracer: an OpenTelemetry-style tracer behind swift-distributed-tracing's `Tracer`.
///
/// It takes each span's parent from the `InstrumentationContext`, decides sampling with its
/// ``Sampler``, makes ids with its ``IDGenerator``, and hands ended spans to its
/// ``SpanProcessor``. As an `Instrument`, it injects and extracts W3C Trace Context and Baggage
/// (or whatever ``TextMapPropagator`` it was given) for any carrier: Kafka headers, HTTP header
/// fields, …
///
/// Make one with ``TracingSDK/makeTracer(configuration:processor:)`` or
/// ``TracingSDK/bootstrap(configuration:logger:)``.
public final class SDKTracer: Tracer, Sendable {
    public typealias Span = SDKSpan

    /// What every recording span of this tracer refers to.
    final class Shared: Sendable {
        let processor: any SpanProcessor
        let origin: FinishedSpan.Origin
        var resource: Resource { self.origin.resource }
        var scope: InstrumentationScope { self.origin.scope }
        let limits: SpanLimits
        let counts: SpanCounter

        init(processor: any SpanProcessor, resource: Resource, scope: InstrumentationScope, limits: SpanLimits, counts: SpanCounter) {
            self.processor = processor
            self.origin = FinishedSpan.Origin(resource: resource, scope: scope)
            self.limits = limits
            self.counts = counts
        }
    }

    public let sampler: any Sampler
    public let idGenerator: any IDGenerator
    public let propagator: any TextMapPropagator
    /// The propagator flattened, so the W3C formats run as concrete, specialised code.
    private let propagation: FlattenedPropagation
    let shared: Shared

    /// The resource every span of this tracer carries (its `service.name`, …).
    public var resource: Resource { self.shared.resource }
    /// Where ended spans go.
    public var processor: any SpanProcessor { self.shared.processor }

    public convenience init(
        resource: Resource,
        processor: any SpanProcessor,
        sampler: any Sampler = ParentBasedSampler(root: AlwaysOnSampler()),
        propagator: any TextMapPropagator = CompositePropagator([W3CTraceContextPropagator(), W3CBaggagePropagator()]),
        idGenerator: any IDGenerator = RandomIDGenerator(),
        limits: SpanLimits = SpanLimits(),
        scope: InstrumentationScope = InstrumentationScope(name: SDKInfo.name, version: SDKInfo.version)
    ) {
        self.init(
            resource: resource,
            processor: processor,
            sampler: sampler,
            propagator: propagator,
            idGenerator: idGenerator,
            limits: limits,
            scope: scope,
            counts: SpanCounter()
        )
    }

    init(
        resource: Resource,
        processor: any SpanProcessor,
        sampler: any Sampler,
        propagator: any TextMapPropagator,
        idGenerator: any IDGenerator,
        limits: SpanLimits,
        scope: InstrumentationScope,
        counts: SpanCounter
    ) {
        self.sampler = sampler
        self.idGenerator = idGenerator
        self.propagator = propagator
        self.propagation = FlattenedPropagation(propagator)
        self.shared = Shared(processor: processor, resource: resource, scope: scope, limits: limits, counts: counts)
    }

    /// How many recording spans this tracer (and the others of its provider) started and ended:
    /// equal once the application is idle, or spans are left open somewhere.
    public var spanCounts: SpanCounts { self.shared.counts.value }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> InstrumentationContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> SDKSpan {
        let parentContext = context()
        let parentSpanContext = parentContext.spanContext
        return self.start(
            operationName,
            parent: parentSpanContext.flatMap { $0.isValid ? $0 : nil },
            parentContext: parentContext,
            parentHasSpanContext: parentSpanContext != nil,
            ofKind: kind,
            at: instant()
        )
    }

    /// - Parameters:
    ///   - parent: the valid span context the span continues, if any.
    ///   - parentContext: the context the span starts in (which may or may not hold `parent`).
    ///   - parentHasSpanContext: whether `parentContext` holds a span context (valid or not).
    @inline(__always)
    private func start<Instant: TracerInstant>(
        _ operationName: String,
        parent: SpanContext?,
        parentContext: InstrumentationContext,
        parentHasSpanContext: Bool,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant
    ) -> SDKSpan {
        let traceID = parent?.traceID ?? self.idGenerator.nextTraceID()
        let decision = self.sampler.shouldSample(
            SamplingParameters(parent: parent, traceID: traceID, name: operationName, kind: kind)
        )
        var flags: TraceFlags = decision.isSampled ? .sampled : []
        // Our trace ids are random; a continued trace keeps what its parent said.
        if parent?.flags.contains(.randomTraceID) ?? true { flags.insert(.randomTraceID) }
        let spanContext = SpanContext(
            traceID: traceID,
            spanID: self.idGenerator.nextSpanID(),
            flags: flags,
            traceState: parent?.traceState ?? TraceState(),
            isRemote: false
        )
        guard decision.isRecording else {
            return SDKSpan(
                nonRecording: NonRecordingSpan(
                    spanContext: spanContext,
                    parentContext: parentContext,
                    parentHasSpanContext: parentHasSpanContext,
                    name: operationName
                )
            )
        }
        let recording = RecordingSpan(
            name: operationName,
            spanContext: spanContext,
            parentContext: parentContext,
            parentHasSpanContext: parentHasSpanContext,
            parent: parent,
            kind: kind,
            startNanoseconds: instant().nanosecondsSinceEpoch,
            tracer: self.shared
        )
        return SDKSpan(recording: recording)
    }

    /// Exports ended spans without waiting (swift-distributed-tracing's synchronous `forceFlush`);
    /// use ``flush()`` to wait.
    public func forceFlush() {
        let processor = self.shared.processor
        Task { await processor.forceFlush() }
    }

    /// Exports every ended span now and waits for the export.
    public func flush() async {
        await self.shared.processor.forceFlush()
    }

    public func inject<Carrier, Inject: Injector>(
        _ context: InstrumentationContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        self.propagation.inject(context, into: &carrier, using: injector)
    }

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout InstrumentationContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier {
        self.propagation.extract(carrier, into: &context, using: extractor)
    }
}

extension SDKTracer: SpanContextInjectingTracer {
    /// Writes what `inject(span.context, into:using:)` writes, from the span itself: without the
    /// W3C formats' context built and read back (a dictionary made and searched per message).
    public func injectContext<Carrier, Inject: Injector>(
        of span: any Tracing.Span,
        into carrier: inout Carrier,
        using injector: Inject
    ) -> Bool where Inject.Carrier == Carrier {
        guard let span = span as? SDKSpan else { return false }
        self.propagation.inject(span, into: &carrier, using: injector)
        return true
    }
}

extension SDKTracer: RemoteParentTracer {
    /// Reads the W3C headers from the carrier and starts the span on the remote span context
    /// directly: the context the span starts in holds only what else was found (baggage), so no
    /// context is built to hold the remote parent, and none copied when the span's own context is
    /// read. With propagators other than the W3C ones, extracts and starts through the context.
    public func startSpan<Carrier, Extract: Extractor, Instant: TracerInstant>(
        _ operationName: String,
        continuingFrom carrier: Carrier,
        using extractor: Extract,
        ofKind kind: SpanKind,
        at instant: Instant,
        linkingParent: Bool,
        function: String,
        file fileID: String,
        line: UInt
    ) -> (any Tracing.Span)? where Extract.Carrier == Carrier {
        let remote: SpanContext?
        var parentContext = InstrumentationContext.topLevel
        if self.propagation.others.isEmpty {
            remote = self.propagation.traceContext ? W3CTraceContextPropagator.extractSpanContext(from: carrier, using: extractor) : nil
            if self.propagation.baggage { W3CBaggagePropagator().extract(carrier, into: &parentContext, using: extractor) }
            if remote == nil && parentContext.isEmpty { return nil }
        } else {
            self.propagation.extract(carrier, into: &parentContext, using: extractor)
            if parentContext.isEmpty { return nil }
            let found = parentContext.spanContext
            let span = self.startSpan(operationName, context: parentContext, ofKind: kind, at: instant, function: function, file: fileID, line: line)
            if linkingParent, let found, found.isValid { span.recording?.addLink(to: found) }
            return span
        }
        let span = self.start(operationName, parent: remote, parentContext: parentContext, parentHasSpanContext: false, ofKind: kind, at: instant)
        if linkingParent, let remote { span.recording?.addLink(to: remote) }
        return span
    }
}

extension SDKTracer: AttributeTemplateTracer {
    /// Keeps the template in the span by reference; the OTLP exporter encodes it once.
    public func setStartAttributes(of span: any Tracing.Span, template: SpanAttributeTemplate, adding attributes: SpanAttributeList) -> Bool {
        guard let span = span as? SDKSpan else { return false }
        // A span that does not record takes nothing: done, as setting its attributes would be.
        guard let recording = span.recording else { return true }
        return recording.setStartAttributes(template: template, adding: attributes)
    }

    public func addAttributes(to span: any Tracing.Span, _ update: (inout SpanAttributeList) -> Void) -> Bool {
        guard let span = span as? SDKSpan else { return false }
        span.recording?.addAttributes(update)
        return true
    }
}

/// A propagator split into the W3C formats we know, called directly, and any others, called in
/// order after them.
struct FlattenedPropagation: Sendable {
    var traceContext = false
    var baggage = false
    var others: [any TextMapPropagator] = []

    init(_ propagator: any TextMapPropagator) {
        self.add(propagator)
    }

    private mutating func add(_ propagator: any TextMapPropagator) {
        switch propagator {
        case let composite as CompositePropagator: for child in composite.propagators { self.add(child) }
        case is W3CTraceContextPropagator: self.traceContext = true
        case is W3CBaggagePropagator: self.baggage = true
        default: self.others.append(propagator)
        }
    }

    @inline(__always)
    func inject<Carrier, Inject: Injector>(
        _ context: InstrumentationContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        // The span context is read once; a context holding nothing else has no baggage to look up.
        let spanContext = context.spanContext
        if self.traceContext, let spanContext { W3CTraceContextPropagator().inject(spanContext, into: &carrier, using: injector) }
        if self.baggage, spanContext == nil || context.count > 1 {
            W3CBaggagePropagator().inject(context, into: &carrier, using: injector)
        }
        for other in self.others { other.inject(context, into: &carrier, using: injector) }
    }

    /// The same as injecting `span.context`, read from the span: its own span context, and the
    /// baggage of the context it started in (the only other values `span.context` holds).
    @inline(__always)
    func inject<Carrier, Inject: Injector>(
        _ span: SDKSpan,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        // Other propagators read any value of the context: they get the whole of it.
        guard self.others.isEmpty else { return self.inject(span.context, into: &carrier, using: injector) }
        if self.traceContext { W3CTraceContextPropagator().inject(span.spanContext, into: &carrier, using: injector) }
        if self.baggage, span.parentHasOtherValues {
            W3CBaggagePropagator().inject(span.parentContext, into: &carrier, using: injector)
        }
    }

    @inline(__always)
    func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout InstrumentationContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier {
        if self.traceContext { W3CTraceContextPropagator().extract(carrier, into: &context, using: extractor) }
        if self.baggage { W3CBaggagePropagator().extract(carrier, into: &context, using: extractor) }
        for other in self.others { other.extract(carrier, into: &context, using: extractor) }
    }
}

/// How many recording (sampled or recorded-for-tail-sampling) spans were started and ended.
public struct SpanCounts: Sendable, Hashable, CustomStringConvertible {
    public var started: Int
    public var ended: Int
    public var description: String { "\(self.started) started, \(self.ended) ended" }
}

/// The counters behind ``SpanCounts``, shared by the tracers of a provider.
final class SpanCounter: Sendable {
    private let started = Atomic<Int>(0)
    private let ended = Atomic<Int>(0)
    func didStart() { self.started.add(1, ordering: .relaxed) }
    func didEnd() { self.ended.add(1, ordering: .relaxed) }
    var value: SpanCounts { SpanCounts(started: self.started.load(ordering: .relaxed), ended: self.ended.load(ordering: .relaxed)) }
}
