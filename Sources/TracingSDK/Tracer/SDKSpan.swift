import Synchronization
import Tracing

/// A span of the built-in tracer.
///
/// A span that is not recording (not sampled, or after `end`) is a small value with no heap
/// allocation of its own: it carries its W3C context so children and injected headers continue the
/// trace with the sampled flag off.
public struct SDKSpan: Tracing.Span {
    /// This span's W3C context.
    public let spanContext: SpanContext
    /// The context the span was started in (its parent's, with baggage and other values).
    let parentContext: InstrumentationContext
    let recording: RecordingSpan?
    private let initialName: String

    init(spanContext: SpanContext, parentContext: InstrumentationContext, name: String, recording: RecordingSpan?) {
        self.spanContext = spanContext
        self.parentContext = parentContext
        self.initialName = name
        self.recording = recording
    }

    /// The parent's context with this span's W3C context in it.
    public var context: InstrumentationContext {
        var context = self.parentContext
        context.spanContext = self.spanContext
        return context
    }

    public var operationName: String {
        get { self.recording?.name ?? self.initialName }
        nonmutating set { self.recording?.setName(newValue) }
    }

    public var attributes: SpanAttributes {
        get { self.recording?.attributes ?? [:] }
        nonmutating set { self.recording?.setAttributes(newValue) }
        // `span.attributes[key] = value` edits the span's own storage in place (no copy of the
        // attributes per set): they are lent out and put back, limits applied.
        nonmutating _modify {
            guard let recording = self.recording else {
                var ignored = SpanAttributes()
                yield &ignored
                return
            }
            var attributes = recording.takeAttributes()
            defer { recording.setAttributes(attributes) }
            yield &attributes
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

/// The mutable state of a recording span, shared by every copy of its ``SDKSpan``.
final class RecordingSpan: Sendable {
    private struct State {
        var name: String
        var attributes = SpanAttributes()
        var events: [SpanEvent] = []
        var links: [FinishedSpanLink] = []
        var status: SpanStatus?
        var droppedAttributes = 0
        var droppedEvents = 0
        var droppedLinks = 0
        var ended = false
    }

    let spanContext: SpanContext
    let parentSpanID: SpanID?
    let hasRemoteParent: Bool
    let kind: SpanKind
    let startNanoseconds: UInt64
    let tracer: SDKTracer.Shared
    private let state: Mutex<State>

    init(
        name: String,
        spanContext: SpanContext,
        parent: SpanContext?,
        kind: SpanKind,
        startNanoseconds: UInt64,
        tracer: SDKTracer.Shared
    ) {
        self.spanContext = spanContext
        self.parentSpanID = parent?.spanID
        self.hasRemoteParent = parent?.isRemote ?? false
        self.kind = kind
        self.startNanoseconds = startNanoseconds
        self.tracer = tracer
        self.state = Mutex(State(name: name))
        tracer.counts.didStart()
    }

    var isRecording: Bool { self.state.withLock { !$0.ended } }
    var name: String { self.state.withLock { $0.name } }
    var attributes: SpanAttributes { self.state.withLock { $0.attributes } }

    /// Moves the attributes out (leaving none) so the caller can edit them without a copy; they
    /// go back with ``setAttributes(_:)``.
    func takeAttributes() -> SpanAttributes {
        self.state.withLock { state in
            defer { state.attributes = SpanAttributes() }
            // Room for a typical instrumentation's attributes at once, instead of regrowing.
            if state.attributes.isEmpty { state.attributes.reserveCapacity(8) }
            return state.attributes
        }
    }

    func setName(_ name: String) {
        self.state.withLock { if !$0.ended { $0.name = name } }
    }

    func setAttributes(_ attributes: SpanAttributes) {
        let limits = self.tracer.limits
        self.state.withLock { state in
            guard !state.ended else { return }
            if attributes.count <= limits.attributeCountLimit && limits.attributeValueLengthLimit == nil {
                state.attributes = attributes
                return
            }
            // Over a limit: keep the attributes the span already had, then add new ones while
            // there is room; count the rest as dropped.
            var kept = SpanAttributes()
            var added: [(String, SpanAttribute)] = []
            attributes.forEach { name, value in
                if state.attributes.get(name) != nil { kept.set(name, value: value) } else { added.append((name, value)) }
            }
            for (name, value) in added.sorted(by: { $0.0 < $1.0 }) {
                if kept.count < limits.attributeCountLimit {
                    kept.set(name, value: value)
                } else {
                    state.droppedAttributes += 1
                }
            }
            limits.truncate(&kept)
            state.attributes = kept
        }
    }

    func setStatus(_ status: SpanStatus) {
        self.state.withLock { state in
            // OpenTelemetry: `ok` is final; a description only goes with an error.
            guard !state.ended, state.status?.code != .ok else { return }
            state.status = status.code == .ok ? SpanStatus(code: .ok) : status
        }
    }

    func addEvent(_ event: SpanEvent) {
        var event = event
        _ = self.tracer.limits.limit(&event.attributes, count: self.tracer.limits.eventAttributeCountLimit)
        self.state.withLock { state in
            guard !state.ended else { return }
            if state.events.count < self.tracer.limits.eventCountLimit {
                state.events.append(event)
            } else {
                state.droppedEvents += 1
            }
        }
    }

    func addLink(_ link: SpanLink) {
        guard let context = link.context.spanContext, context.isValid else { return }
        var attributes = link.attributes
        let dropped = self.tracer.limits.limit(&attributes, count: self.tracer.limits.linkAttributeCountLimit)
        self.state.withLock { state in
            guard !state.ended else { return }
            if state.links.count < self.tracer.limits.linkCountLimit {
                state.links.append(FinishedSpanLink(spanContext: context, attributes: attributes, droppedAttributeCount: dropped))
            } else {
                state.droppedLinks += 1
            }
        }
    }

    /// Ends the span once; later calls do nothing.
    func end(at nanoseconds: UInt64) {
        let finished: FinishedSpan? = self.state.withLock { state in
            guard !state.ended else { return nil }
            state.ended = true
            return FinishedSpan(
                spanContext: self.spanContext,
                parentSpanID: self.parentSpanID,
                isLocalRoot: self.parentSpanID == nil || self.hasRemoteParent,
                hasRemoteParent: self.hasRemoteParent,
                name: state.name,
                kind: self.kind,
                startNanosecondsSinceEpoch: self.startNanoseconds,
                endNanosecondsSinceEpoch: max(nanoseconds, self.startNanoseconds),
                attributes: state.attributes,
                events: state.events,
                links: state.links,
                status: state.status,
                droppedAttributeCount: state.droppedAttributes,
                droppedEventCount: state.droppedEvents,
                droppedLinkCount: state.droppedLinks,
                resource: self.tracer.resource,
                instrumentationScope: self.tracer.scope
            )
        }
        if let finished {
            self.tracer.counts.didEnd()
            self.tracer.processor.onEnd(finished)
        }
    }
}
