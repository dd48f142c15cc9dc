import Tracing
import TracingCapabilities

/// The name and version of the library that made a span (OTLP's instrumentation scope).
public struct InstrumentationScope: Sendable, Hashable {
    public var name: String
    public var version: String?

    public init(name: String, version: String? = nil) {
        self.name = name
        self.version = version
    }
}

/// Limits on what one span records, as in the OpenTelemetry specification. What goes over a limit
/// is dropped and counted.
public struct SpanLimits: Sendable, Hashable {
    /// Attributes per span (`OTEL_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`).
    public var attributeCountLimit: Int = 128
    /// Characters kept of a string attribute value, or of each string in an array; `nil` keeps
    /// all (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    public var attributeValueLengthLimit: Int? = nil
    /// Events per span (`OTEL_SPAN_EVENT_COUNT_LIMIT`).
    public var eventCountLimit: Int = 128
    /// Links per span (`OTEL_SPAN_LINK_COUNT_LIMIT`).
    public var linkCountLimit: Int = 128
    /// Attributes per event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`).
    public var eventAttributeCountLimit: Int = 128
    /// Attributes per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`).
    public var linkAttributeCountLimit: Int = 128

    public init() {}

    /// Applies the count and length limits; returns how many attributes were dropped.
    func limit(_ attributes: inout SpanAttributes, count limit: Int) -> Int {
        var dropped = 0
        if attributes.count > limit {
            var kept = SpanAttributes()
            // Keep a stable subset: the first names in sorted order.
            var names: [String] = []
            attributes.forEach { name, _ in names.append(name) }
            for name in names.sorted().prefix(limit) { kept.set(name, value: attributes.get(name)) }
            dropped = attributes.count - kept.count
            attributes = kept
        }
        self.truncate(&attributes)
        return dropped
    }

    /// Shortens string values (and strings in arrays) to ``attributeValueLengthLimit``.
    func truncate(_ attributes: inout SpanAttributes) {
        guard let length = self.attributeValueLengthLimit else { return }
        var truncated: [(String, SpanAttribute)] = []
        attributes.forEach { name, value in
            switch value {
            case .string(let string) where string.count > length:
                truncated.append((name, .string(String(string.prefix(length)))))
            case .stringArray(let strings) where strings.contains(where: { $0.count > length }):
                truncated.append((name, .stringArray(strings.map { String($0.prefix(length)) })))
            default: break
            }
        }
        for (name, value) in truncated { attributes.set(name, value: value) }
    }
}

/// A link from a finished span to another span's context.
public struct FinishedSpanLink: Sendable {
    public var spanContext: SpanContext
    public var attributes: SpanAttributes
    public var droppedAttributeCount: Int

    public init(spanContext: SpanContext, attributes: SpanAttributes = [:], droppedAttributeCount: Int = 0) {
        self.spanContext = spanContext
        self.attributes = attributes
        self.droppedAttributeCount = droppedAttributeCount
    }
}

/// Everything recorded for one span, handed to processors and exporters when it ends.
///
/// Its fields are the span's record (``SpanRecord``, the ended span object itself), shared by every
/// copy and copied on the first change of a shared one: ending a span copies nothing, and a
/// finished span goes to the processor's queue, a batch and the encoder as one reference,
/// retained and released once, instead of each of its strings, arrays and dictionaries.
public struct FinishedSpan: Sendable {
    @usableFromInline var record: SpanRecord

    init(record: SpanRecord) { self.record = record }

    /// The record, copied first when anything else holds it (the span, another finished span).
    private var unique: SpanRecord {
        mutating get {
            if !isKnownUniquelyReferenced(&self.record) { self.record = self.record.copy() }
            return self.record
        }
    }

    public var spanContext: SpanContext {
        @inlinable get { self.record.spanContext }
        set { self.record = self.record.copy(spanContext: newValue) }
    }
    /// The parent's span id; `nil` for a root span.
    public var parentSpanID: SpanID? {
        @inlinable get { self.record.parentSpanID }
        set { self.unique.parentSpanID = newValue }
    }
    /// Whether the parent is in another process (or there is none): the span is a local root.
    public var isLocalRoot: Bool {
        @inlinable get { self.record.isLocalRoot }
        set { self.unique.isLocalRoot = newValue }
    }
    /// Whether the parent was extracted from a carrier.
    public var hasRemoteParent: Bool {
        @inlinable get { self.record.hasRemoteParent }
        set { self.unique.hasRemoteParent = newValue }
    }
    public var name: String {
        @inlinable get { self.record.state.name }
        set { self.unique.state.name = newValue }
    }
    public var kind: SpanKind {
        @inlinable get { self.record.kind }
        set { self.unique.kind = newValue }
    }
    public var startNanosecondsSinceEpoch: UInt64 {
        @inlinable get { self.record.startNanoseconds }
        set { self.unique.startNanoseconds = newValue }
    }
    public var endNanosecondsSinceEpoch: UInt64 {
        @inlinable get { self.record.endNanoseconds }
        set { self.unique.endNanoseconds = newValue }
    }
    /// Every attribute of the span: its ``attributeTemplate``'s with its own over them. Setting
    /// them replaces both.
    public var attributes: SpanAttributes {
        get { self.record.state.mergedAttributes }
        set {
            let record = self.unique
            record.state.attributes = newValue
            record.state.template = nil
            record.state.additions = SpanAttributeList()
        }
    }
    /// The attributes the span shares with others by reference (``AttributeTemplateTracer``), or
    /// `nil`: an exporter may encode them once per template.
    @inlinable public var attributeTemplate: SpanAttributeTemplate? { self.record.state.template }
    /// The span's own attributes: all of them without a template; with one, those the template
    /// lacks or whose values they replace.
    public var ownAttributes: SpanAttributes {
        self.record.state.template == nil ? self.record.state.attributes : self.record.state.additions.attributes
    }
    /// With an ``attributeTemplate``, the span's own attributes as a list (an exporter reads them
    /// without a dictionary); empty without one.
    @inlinable public var templateAdditions: SpanAttributeList { self.record.state.additions }
    public var events: [SpanEvent] {
        @inlinable get { self.record.state.events }
        set { self.unique.state.events = newValue }
    }
    public var links: [FinishedSpanLink] {
        @inlinable get { self.record.state.links }
        set { self.unique.state.links = newValue }
    }
    public var status: SpanStatus? {
        @inlinable get { self.record.state.status }
        set { self.unique.state.status = newValue }
    }
    public var droppedAttributeCount: Int {
        @inlinable get { self.record.state.droppedAttributes }
        set { self.unique.state.droppedAttributes = newValue }
    }
    public var droppedEventCount: Int {
        @inlinable get { self.record.state.droppedEvents }
        set { self.unique.state.droppedEvents = newValue }
    }
    public var droppedLinkCount: Int {
        @inlinable get { self.record.state.droppedLinks }
        set { self.unique.state.droppedLinks = newValue }
    }
    /// The resource and scope, shared by every span of a tracer: one reference per span to copy
    /// and release instead of their strings and dictionaries.
    package var origin: Origin {
        @inlinable get { self.record.origin }
        set { self.unique.origin = newValue }
    }

    public var resource: Resource {
        get { self.origin.resource }
        set { self.origin = Origin(resource: newValue, scope: self.origin.scope) }
    }

    public var instrumentationScope: InstrumentationScope {
        get { self.origin.scope }
        set { self.origin = Origin(resource: self.origin.resource, scope: newValue) }
    }

    /// The resource and scope of one tracer's spans, shared by reference: spans with the same
    /// origin object certainly have the same resource and scope (an exporter grouping spans checks
    /// that first, without comparing their values).
    @usableFromInline
    package final class Origin: Sendable {
        let resource: Resource
        let scope: InstrumentationScope

        init(resource: Resource, scope: InstrumentationScope) {
            self.resource = resource
            self.scope = scope
        }
    }

    /// Creates a finished span, for exporter tests and benchmarks; the tracer makes them otherwise.
    /// With an `attributeTemplate`, `attributes` are the span's own (over the template's).
    public init(
        spanContext: SpanContext,
        parentSpanID: SpanID?,
        isLocalRoot: Bool,
        hasRemoteParent: Bool,
        name: String,
        kind: SpanKind,
        startNanosecondsSinceEpoch: UInt64,
        endNanosecondsSinceEpoch: UInt64,
        attributes: SpanAttributes,
        events: [SpanEvent],
        links: [FinishedSpanLink],
        status: SpanStatus?,
        droppedAttributeCount: Int,
        droppedEventCount: Int,
        droppedLinkCount: Int,
        resource: Resource,
        instrumentationScope: InstrumentationScope,
        attributeTemplate: SpanAttributeTemplate? = nil
    ) {
        self.init(
            spanContext: spanContext,
            parentSpanID: parentSpanID,
            isLocalRoot: isLocalRoot,
            hasRemoteParent: hasRemoteParent,
            name: name,
            kind: kind,
            startNanosecondsSinceEpoch: startNanosecondsSinceEpoch,
            endNanosecondsSinceEpoch: endNanosecondsSinceEpoch,
            attributes: attributeTemplate == nil ? attributes : SpanAttributes(),
            attributeTemplate: attributeTemplate,
            templateAdditions: attributeTemplate == nil ? SpanAttributeList() : SpanAttributeList(attributes),
            events: events,
            links: links,
            status: status,
            droppedAttributeCount: droppedAttributeCount,
            droppedEventCount: droppedEventCount,
            droppedLinkCount: droppedLinkCount,
            origin: Origin(resource: resource, scope: instrumentationScope)
        )
    }

    init(
        spanContext: SpanContext,
        parentSpanID: SpanID?,
        isLocalRoot: Bool,
        hasRemoteParent: Bool,
        name: String,
        kind: SpanKind,
        startNanosecondsSinceEpoch: UInt64,
        endNanosecondsSinceEpoch: UInt64,
        attributes: SpanAttributes,
        attributeTemplate: SpanAttributeTemplate?,
        templateAdditions: SpanAttributeList,
        events: [SpanEvent],
        links: [FinishedSpanLink],
        status: SpanStatus?,
        droppedAttributeCount: Int,
        droppedEventCount: Int,
        droppedLinkCount: Int,
        origin: Origin
    ) {
        var state = SpanRecord.State(name: name)
        state.attributes = attributes
        state.template = attributeTemplate
        state.additions = templateAdditions
        state.events = events
        state.links = links
        state.status = status
        state.droppedAttributes = droppedAttributeCount
        state.droppedEvents = droppedEventCount
        state.droppedLinks = droppedLinkCount
        self.record = SpanRecord(
            spanContext: spanContext,
            parentContext: .topLevel,
            parentHasSpanContext: false,
            state: state,
            parentSpanID: parentSpanID,
            isLocalRoot: isLocalRoot,
            hasRemoteParent: hasRemoteParent,
            kind: kind,
            startNanoseconds: startNanosecondsSinceEpoch,
            endNanoseconds: endNanosecondsSinceEpoch,
            origin: origin
        )
    }

    public var duration: Duration {
        .nanoseconds(Int64(clamping: self.endNanosecondsSinceEpoch &- self.startNanosecondsSinceEpoch))
    }

    public var isError: Bool { self.status?.code == .error }
}
