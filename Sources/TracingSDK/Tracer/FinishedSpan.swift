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
public struct FinishedSpan: Sendable {
    public var spanContext: SpanContext
    /// The parent's span id; `nil` for a root span.
    public var parentSpanID: SpanID?
    /// Whether the parent is in another process (or there is none): the span is a local root.
    public var isLocalRoot: Bool
    /// Whether the parent was extracted from a carrier.
    public var hasRemoteParent: Bool
    public var name: String
    public var kind: SpanKind
    public var startNanosecondsSinceEpoch: UInt64
    public var endNanosecondsSinceEpoch: UInt64
    /// Every attribute of the span: its ``attributeTemplate``'s with its own over them. Setting
    /// them replaces both.
    public var attributes: SpanAttributes {
        get { SpanAttributes.merged(template: self.attributeTemplate, own: self.ownAttributes) }
        set {
            self.ownAttributes = newValue
            self.attributeTemplate = nil
        }
    }
    /// The attributes the span shares with others by reference (``AttributeTemplateTracer``), or
    /// `nil`: an exporter may encode them once per template.
    public private(set) var attributeTemplate: SpanAttributeTemplate?
    /// The span's own attributes: all of them without a template; with one, those the template
    /// lacks or whose values they replace.
    public private(set) var ownAttributes: SpanAttributes
    public var events: [SpanEvent]
    public var links: [FinishedSpanLink]
    public var status: SpanStatus?
    public var droppedAttributeCount: Int
    public var droppedEventCount: Int
    public var droppedLinkCount: Int
    /// The resource and scope, shared by every span of a tracer: one reference per span to copy
    /// and release instead of their strings and dictionaries.
    package var origin: Origin

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
            attributes: attributes,
            attributeTemplate: attributeTemplate,
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
        events: [SpanEvent],
        links: [FinishedSpanLink],
        status: SpanStatus?,
        droppedAttributeCount: Int,
        droppedEventCount: Int,
        droppedLinkCount: Int,
        origin: Origin
    ) {
        self.spanContext = spanContext
        self.parentSpanID = parentSpanID
        self.isLocalRoot = isLocalRoot
        self.hasRemoteParent = hasRemoteParent
        self.name = name
        self.kind = kind
        self.startNanosecondsSinceEpoch = startNanosecondsSinceEpoch
        self.endNanosecondsSinceEpoch = endNanosecondsSinceEpoch
        self.ownAttributes = attributes
        self.attributeTemplate = attributeTemplate
        self.events = events
        self.links = links
        self.status = status
        self.droppedAttributeCount = droppedAttributeCount
        self.droppedEventCount = droppedEventCount
        self.droppedLinkCount = droppedLinkCount
        self.origin = origin
    }

    public var duration: Duration {
        .nanoseconds(Int64(clamping: self.endNanosecondsSinceEpoch &- self.startNanosecondsSinceEpoch))
    }

    public var isError: Bool { self.status?.code == .error }
}
