#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import Tracing
import TracingCapabilities

/// A span of the built-in tracer.
///
/// One reference: the span object (a recording span's state, or a non-recording span's context),
/// so that the span fits in an existential's inline buffer where `withSpan` and instrumentation
/// hold it as `any Span`, instead of being boxed in an allocation of its own. A span that is not
/// recording (not sampled) still carries its W3C context, so children and injected headers
/// continue the trace with the sampled flag off.
public struct SDKSpan: Tracing.Span {
    enum Storage {
        case recording(RecordingSpan)
        case nonRecording(NonRecordingSpan)
    }

    let storage: Storage

    init(recording: RecordingSpan) { self.storage = .recording(recording) }
    init(nonRecording: NonRecordingSpan) { self.storage = .nonRecording(nonRecording) }

    var recording: RecordingSpan? {
        if case .recording(let recording) = self.storage { recording } else { nil }
    }

    /// The span's object, which also carries its W3C context and the context it started in.
    private var carrier: StartedSpan {
        switch self.storage {
        case .recording(let recording): recording
        case .nonRecording(let span): span
        }
    }

    /// This span's W3C context.
    public var spanContext: SpanContext { self.carrier.spanContext }

    /// The context the span was started in (its parent's, with baggage and other values).
    var parentContext: InstrumentationContext { self.carrier.parentContext }

    /// Whether ``parentContext`` holds anything besides a span context (baggage, say).
    var parentHasOtherValues: Bool { self.carrier.parentHasOtherValues }

    /// The parent's context with this span's W3C context in it (by reference: no allocation for
    /// the span context, only the context's own storage).
    public var context: InstrumentationContext {
        var context = self.parentContext
        context.setSpanContext(carriedBy: self.carrier)
        return context
    }

    public var operationName: String {
        get {
            switch self.storage {
            case .recording(let recording): recording.name
            case .nonRecording(let span): span.name
            }
        }
        nonmutating set { self.recording?.setName(newValue) }
    }

    public var attributes: SpanAttributes {
        get { self.recording?.attributes ?? SpanAttributes() }
        nonmutating set { self.recording?.setAttributes(newValue) }
        // `span.attributes[key] = value` edits the span's own storage in place, under the span's
        // lock: no copy of the attributes and one lock round trip per set; limits applied after.
        nonmutating _modify {
            guard let recording = self.recording, recording.lock.lock() else {
                var ignored = SpanAttributes()
                yield &ignored
                return
            }
            defer { recording.lock.unlock() }
            guard recording.isRecording else {
                var ignored = SpanAttributes()
                yield &ignored
                return
            }
            // An edit may remove or read any name: the template's entries become the span's own.
            recording.mergeTemplate()
            let before = recording.prepareEdit()
            yield &recording.state.attributes
            recording.applyLimitsAfterEdit(before: before)
        }
    }

    public var isRecording: Bool { self.recording?.isRecording ?? false }

    public func setStatus(_ status: SpanStatus) { self.recording?.setStatus(status) }

    public func addEvent(_ event: SpanEvent) { self.recording?.addEvent(event) }

    public func recordError<Instant: TracerInstant>(
        _ error: any Error,
        attributes: SpanAttributes,
        at instant: @autoclosure () -> Instant
    ) {
        guard let recording = self.recording, recording.isRecording else { return }
        var eventAttributes = attributes
        eventAttributes.set("exception.type", value: .string(String(reflecting: type(of: error))))
        eventAttributes.set("exception.message", value: .string(String(describing: error)))
        recording.addEvent(SpanEvent(name: "exception", at: instant(), attributes: eventAttributes))
    }

    public func addLink(_ link: SpanLink) { self.recording?.addLink(link) }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        self.recording?.end(at: instant().nanosecondsSinceEpoch)
    }
}

/// What every span of this tracer holds, recording or not: its W3C context (as the
/// ``SpanContextCarrier`` a context refers to) and the context it started in.
@usableFromInline
class StartedSpan: SpanContextCarrier, @unchecked Sendable {
    /// The context the span was started in (its parent's, with baggage and other values).
    final let parentContext: InstrumentationContext
    /// Whether ``parentContext`` holds anything besides a span context (baggage, say), counted
    /// once at the start: without, injecting the span writes its traceparent and tracestate only,
    /// and no value of the context is looked up.
    final let parentHasOtherValues: Bool

    /// - Parameter parentHasSpanContext: whether `parentContext` holds a span context (valid or not).
    init(spanContext: SpanContext, parentContext: InstrumentationContext, parentHasSpanContext: Bool) {
        self.parentContext = parentContext
        self.parentHasOtherValues = parentContext.count > (parentHasSpanContext ? 1 : 0)
        super.init(spanContext: spanContext)
    }
}

/// A span that records nothing: its context, the context it started in, and its name.
final class NonRecordingSpan: StartedSpan, @unchecked Sendable {
    let name: String

    init(spanContext: SpanContext, parentContext: InstrumentationContext, parentHasSpanContext: Bool, name: String) {
        self.name = name
        super.init(spanContext: spanContext, parentContext: parentContext, parentHasSpanContext: parentHasSpanContext)
    }
}

/// What a span recorded: while it records, the state of its ``RecordingSpan`` (shared by every
/// copy of its ``SDKSpan``); once it ended, what its ``FinishedSpan`` reads. The span object itself
/// goes to the processor and the exporter: ending a span copies none of its fields.
///
/// Changed only while the span records (under its lock), or through a ``FinishedSpan`` holding
/// the only reference (`isKnownUniquelyReferenced`); nothing changes a span's record after it
/// ended and was handed over, so threads read it without a lock, and no two accesses can
/// overlap: the runtime's exclusivity check of each access is left out.
@usableFromInline
class SpanRecord: StartedSpan, @unchecked Sendable {
    @usableFromInline
    struct State {
        @usableFromInline var name: String
        /// The span's attributes when it has no ``template`` (empty while it has one).
        @usableFromInline var attributes = SpanAttributes()
        /// Attributes shared with other spans, by reference (``AttributeTemplateTracer``).
        @usableFromInline var template: SpanAttributeTemplate?
        /// With a ``template``, the span's own attributes: those the template lacks or whose values
        /// they replace (empty without one).
        @usableFromInline var additions = SpanAttributeList()
        @usableFromInline var events: [SpanEvent] = []
        @usableFromInline var links: [FinishedSpanLink] = []
        @usableFromInline var status: SpanStatus?
        @usableFromInline var droppedAttributes = 0
        @usableFromInline var droppedEvents = 0
        @usableFromInline var droppedLinks = 0
    }

    @usableFromInline @exclusivity(unchecked) final var state: State
    @usableFromInline @exclusivity(unchecked) final var parentSpanID: SpanID?
    @usableFromInline @exclusivity(unchecked) final var isLocalRoot: Bool
    @usableFromInline @exclusivity(unchecked) final var hasRemoteParent: Bool
    @usableFromInline @exclusivity(unchecked) final var kind: SpanKind
    @usableFromInline @exclusivity(unchecked) final var startNanoseconds: UInt64
    /// The start until the span ends.
    @usableFromInline @exclusivity(unchecked) final var endNanoseconds: UInt64
    @usableFromInline @exclusivity(unchecked) final var origin: FinishedSpan.Origin

    init(
        spanContext: SpanContext,
        parentContext: InstrumentationContext,
        parentHasSpanContext: Bool,
        state: State,
        parentSpanID: SpanID?,
        isLocalRoot: Bool,
        hasRemoteParent: Bool,
        kind: SpanKind,
        startNanoseconds: UInt64,
        endNanoseconds: UInt64,
        origin: FinishedSpan.Origin
    ) {
        self.state = state
        self.parentSpanID = parentSpanID
        self.isLocalRoot = isLocalRoot
        self.hasRemoteParent = hasRemoteParent
        self.kind = kind
        self.startNanoseconds = startNanoseconds
        self.endNanoseconds = endNanoseconds
        self.origin = origin
        super.init(spanContext: spanContext, parentContext: parentContext, parentHasSpanContext: parentHasSpanContext)
    }

    /// A record of its own with the same values (with another span context if given), for a
    /// ``FinishedSpan`` to change.
    final func copy(spanContext: SpanContext? = nil) -> SpanRecord {
        SpanRecord(
            spanContext: spanContext ?? self.spanContext,
            parentContext: self.parentContext,
            parentHasSpanContext: false,
            state: self.state,
            parentSpanID: self.parentSpanID,
            isLocalRoot: self.isLocalRoot,
            hasRemoteParent: self.hasRemoteParent,
            kind: self.kind,
            startNanoseconds: self.startNanoseconds,
            endNanoseconds: self.endNanoseconds,
            origin: self.origin
        )
    }
}

/// A recording span: its ``SpanRecord``, the lock that guards it while it records, and its tracer.
///
/// Its state is guarded by ``SpanLock``: a span is almost always used by one task at a time, so an
/// uncontended lock that can be held across the `_modify` of ``SDKSpan/attributes`` costs less than
/// a `Mutex` taken twice per attribute.
final class RecordingSpan: SpanRecord, @unchecked Sendable {
    let tracer: SDKTracer.Shared
    let lock = SpanLock()
    /// Set (under the lock) when the span ends; nothing changes the state after. `isRecording`
    /// reads it without taking the lock, as instrumentation asks several times per span.
    private let endedFlag = Atomic<Bool>(false)

    init(
        name: String,
        spanContext: SpanContext,
        parentContext: InstrumentationContext,
        parentHasSpanContext: Bool,
        parent: SpanContext?,
        kind: SpanKind,
        startNanoseconds: UInt64,
        tracer: SDKTracer.Shared
    ) {
        self.tracer = tracer
        super.init(
            spanContext: spanContext,
            parentContext: parentContext,
            parentHasSpanContext: parentHasSpanContext,
            state: State(name: name),
            parentSpanID: parent?.spanID,
            isLocalRoot: parent == nil || parent?.isRemote == true,
            hasRemoteParent: parent?.isRemote ?? false,
            kind: kind,
            startNanoseconds: startNanoseconds,
            endNanoseconds: startNanoseconds,
            origin: tracer.origin
        )
        tracer.counts.didStart()
    }

    /// Runs `body` with the state locked; `nil` when called from inside an edit of this span's
    /// attributes on the same thread (a conversion that reads its own span), which must not
    /// deadlock.
    @inline(__always)
    private func withState<Result>(_ body: (inout State) -> Result) -> Result? {
        guard self.lock.lock() else { return nil }
        defer { self.lock.unlock() }
        return body(&self.state)
    }

    var isRecording: Bool { !self.endedFlag.load(ordering: .acquiring) }
    var name: String { self.withState { $0.name } ?? "" }
    var attributes: SpanAttributes { self.withState { $0.mergedAttributes } ?? SpanAttributes() }

    func setName(_ name: String) {
        self.withState { if self.isRecording { $0.name = name } }
    }

    /// Before an edit in place (lock held): makes room for a typical instrumentation's attributes
    /// on the first edit, instead of regrowing (here, where the dictionary's code is specialised,
    /// not through `reserveCapacity`). Returns what ``applyLimitsAfterEdit(before:)`` needs to
    /// know of the attributes before the edit: their names, only when the edit may reach the
    /// count limit (a span within 64 of it).
    func prepareEdit() -> SpanAttributes? {
        if self.state.attributes.isEmpty {
            self.state.attributes = SpanAttributes([String: SpanAttribute](minimumCapacity: 8))
        }
        let limits = self.tracer.limits
        return self.state.attributes.count + 64 > limits.attributeCountLimit ? self.state.attributes : nil
    }

    /// After the attributes were edited in place (lock held): drops what went over the count
    /// limit, keeping the attributes the span had before the edit, and truncates long values.
    func applyLimitsAfterEdit(before: SpanAttributes?) {
        let limits = self.tracer.limits
        if self.state.attributes.count > limits.attributeCountLimit {
            let edited = self.state.attributes
            self.state.attributes = before ?? SpanAttributes()
            self.apply(edited, limits: limits)
        } else if limits.attributeValueLengthLimit != nil {
            limits.truncate(&self.state.attributes)
        }
    }

    func setAttributes(_ attributes: SpanAttributes) {
        let limits = self.tracer.limits
        guard self.lock.lock() else { return }
        defer { self.lock.unlock() }
        guard self.isRecording else { return }
        // (The names the span had, for the limits, include the template's.)
        self.mergeTemplate()
        if attributes.count <= limits.attributeCountLimit && limits.attributeValueLengthLimit == nil {
            self.state.attributes = attributes
        } else {
            self.apply(attributes, limits: limits)
        }
    }

    /// Replaces the attributes with `attributes` within the limits (lock held): the names the
    /// span already had keep their new values, then new names are added in sorted order while
    /// there is room, and the rest are counted as dropped.
    private func apply(_ attributes: SpanAttributes, limits: SpanLimits) {
        var kept = SpanAttributes()
        var added: [(String, SpanAttribute)] = []
        attributes.forEach { name, value in
            if self.state.attributes.get(name) != nil { kept.set(name, value: value) } else { added.append((name, value)) }
        }
        for (name, value) in added.sorted(by: { $0.0 < $1.0 }) {
            if kept.count < limits.attributeCountLimit {
                kept.set(name, value: value)
            } else {
                self.state.droppedAttributes += 1
            }
        }
        limits.truncate(&kept)
        self.state.attributes = kept
    }

    /// The template's attributes become the span's own (lock held): before an edit that may read
    /// or remove any name.
    func mergeTemplate() {
        guard self.state.template != nil else { return }
        self.state.attributes = self.state.mergedAttributes
        self.state.template = nil
        self.state.additions = SpanAttributeList()
    }

    /// See ``AttributeTemplateTracer/setStartAttributes(of:template:adding:)``.
    func setStartAttributes(template: SpanAttributeTemplate, adding attributes: SpanAttributeList) -> Bool {
        let limits = self.tracer.limits
        // Within the limits whatever the overlap: nothing to drop or truncate, ever, so the
        // template's entries can stay shared.
        guard limits.attributeValueLengthLimit == nil,
            template.attributes.count + attributes.count <= limits.attributeCountLimit
        else { return false }
        guard self.lock.lock() else { return false }
        defer { self.lock.unlock() }
        guard self.isRecording, self.state.attributes.isEmpty, self.state.template == nil else { return false }
        self.state.template = template
        self.state.additions = attributes
        return true
    }

    /// See ``AttributeTemplateTracer/addAttributes(to:_:)``: edits the span's own attributes.
    func addAttributes(_ update: (inout SpanAttributeList) -> Void) {
        guard self.lock.lock() else { return }
        defer { self.lock.unlock() }
        guard self.isRecording else { return }
        guard let template = self.state.template else {
            var added = SpanAttributeList()
            update(&added)
            let before = self.prepareEdit()
            added.forEach { name, value in self.state.attributes.set(name, value: value) }
            self.applyLimitsAfterEdit(before: before)
            return
        }
        // (Room for these was made when the span started: `setStartAttributes`'s callers reserve it.)
        update(&self.state.additions)
        let limits = self.tracer.limits
        // (No value length limit: a span keeps a template only without one.)
        if template.attributes.count + self.state.additions.count > limits.attributeCountLimit {
            // Over a limit (at most, with no overlap): the limits apply to the merged set, the
            // template's names counting as the ones the span had before.
            let own = self.state.additions
            self.state.attributes = template.attributes
            self.state.template = nil
            self.state.additions = SpanAttributeList()
            self.apply(self.state.attributes.merging(own), limits: limits)
        }
    }

    func setStatus(_ status: SpanStatus) {
        self.withState { state in
            // OpenTelemetry: `ok` is final; a description only goes with an error.
            guard self.isRecording, state.status?.code != .ok else { return }
            state.status = status.code == .ok ? SpanStatus(code: .ok) : status
        }
    }

    func addEvent(_ event: SpanEvent) {
        var event = event
        let limits = self.tracer.limits
        _ = limits.limit(&event.attributes, count: limits.eventAttributeCountLimit)
        self.withState { state in
            guard self.isRecording else { return }
            if state.events.count < limits.eventCountLimit {
                state.events.append(event)
            } else {
                state.droppedEvents += 1
            }
        }
    }

    func addLink(_ link: SpanLink) {
        guard let context = link.context.spanContext, context.isValid else { return }
        var attributes = link.attributes
        let limits = self.tracer.limits
        let dropped = limits.limit(&attributes, count: limits.linkAttributeCountLimit)
        self.addLink(FinishedSpanLink(spanContext: context, attributes: attributes, droppedAttributeCount: dropped))
    }

    /// A link without attributes to `context` (valid).
    func addLink(to context: SpanContext) {
        self.addLink(FinishedSpanLink(spanContext: context, attributes: SpanAttributes(), droppedAttributeCount: 0))
    }

    private func addLink(_ link: FinishedSpanLink) {
        let limits = self.tracer.limits
        self.withState { state in
            guard self.isRecording else { return }
            if state.links.count < limits.linkCountLimit {
                state.links.append(link)
            } else {
                state.droppedLinks += 1
            }
        }
    }

    /// Ends the span once; later calls do nothing. The span object itself goes to the processor
    /// as the finished span's record: nothing is copied.
    func end(at nanoseconds: UInt64) {
        guard self.lock.lock() else { return }
        guard self.isRecording else {
            self.lock.unlock()
            return
        }
        self.endNanoseconds = max(nanoseconds, self.startNanoseconds)
        self.endedFlag.store(true, ordering: .releasing)
        self.lock.unlock()
        self.tracer.counts.didEnd()
        self.tracer.processor.onEnd(FinishedSpan(record: self))
    }
}

extension SpanRecord.State {
    /// Every attribute of the span: its template's with its ``additions`` over them, or (without
    /// a template) its ``attributes``.
    var mergedAttributes: SpanAttributes {
        guard let template = self.template else { return self.attributes }
        return self.additions.isEmpty ? template.attributes : template.attributes.merging(self.additions)
    }
}

extension SpanAttributes {
    /// These attributes with `other`'s over them.
    func merging(_ other: SpanAttributes) -> SpanAttributes {
        var merged = self
        merged.merge(other)
        return merged
    }
}

/// A lock for one span's state: a compare-and-swap of the owning thread, spinning (then yielding)
/// while another thread holds it. It tells a thread that already holds it (a nested access from
/// inside an attribute edit) instead of deadlocking.
struct SpanLock: ~Copyable, @unchecked Sendable {
    private let owner = Atomic<UInt>(0)

    /// Takes the lock; `false` when the calling thread already holds it.
    @inline(__always)
    func lock() -> Bool {
        let me = UInt(bitPattern: Int(bitPattern: pthread_self()))
        if self.owner.load(ordering: .relaxed) == me { return false }
        var spins = 0
        while !self.owner.weakCompareExchange(expected: 0, desired: me, successOrdering: .acquiring, failureOrdering: .relaxed).exchanged {
            spins += 1
            if spins > 100 { sched_yield() }
        }
        return true
    }

    @inline(__always)
    func unlock() {
        self.owner.store(0, ordering: .releasing)
    }
}
