import Locking
import Tracing

/// Attributes that many spans start with — every span of one kind for one Kafka topic carries the
/// same system, operation, destination, client and server — made once and shared by reference.
///
/// A tracer offering ``AttributeTemplateTracer`` keeps the template in the span by reference, next
/// to the span's own attributes, instead of copying its entries into every span; its exporter may
/// encode the template once (``prepared(_:)``) and copy those bytes into each span it exports.
public final class SpanAttributeTemplate: Sendable {
    /// The shared attributes.
    public let attributes: SpanAttributes
    private let preparation = SetOnceReference<Preparation>()

    private final class Preparation: Sendable {
        let value: any AnyObject & Sendable
        init(_ value: any AnyObject & Sendable) { self.value = value }
    }

    public init(_ attributes: SpanAttributes) {
        self.attributes = attributes
    }

    /// What `make` derives from the attributes (their encoding, say), made on the first call and
    /// kept: later calls return the same object. One kind of preparation is kept per template;
    /// asking for another type makes it on every call.
    @inlinable
    public func prepared<Prepared: AnyObject & Sendable>(_ make: (SpanAttributes) -> Prepared) -> Prepared {
        if let kept = self.keptPreparation() as? Prepared { return kept }
        return self.keep(make(self.attributes))
    }

    @usableFromInline
    func keptPreparation() -> (any AnyObject & Sendable)? { self.preparation.load()?.value }

    @usableFromInline
    func keep<Prepared: AnyObject & Sendable>(_ prepared: Prepared) -> Prepared {
        self.preparation.storeIfNil(Preparation(prepared)).value as? Prepared ?? prepared
    }
}

/// An optional capability of a tracer: spans that keep an ``SpanAttributeTemplate`` by reference.
///
/// Instrumentation that gives each span a topic's attributes plus a few of its own (partition,
/// offset, key) would otherwise copy the topic's dictionary into every span and have the exporter
/// read every entry of every span anew. With this capability, a span holds the template and its
/// own attributes side by side; `span.attributes` still reads them as one set (the span's own
/// winning over the template's of the same name), and any edit through `span.attributes` works as
/// on any span (the tracer merges the two first).
///
/// Instrumentation detects the capability once per tracer and falls back to setting the merged
/// attributes when the tracer lacks it or declines a span.
public protocol AttributeTemplateTracer: Tracer {
    /// Gives `span`, which has no attributes yet, the template's attributes by reference and then
    /// `attributes` (which win over the template's of the same name). The span keeps `attributes`
    /// as they are, capacity included: reserve room in them for what ``addAttributes(to:_:)`` will
    /// add, so that adding does not grow the list.
    /// - Returns: `false`, having changed nothing, when the span is not one of this tracer's, or it
    ///   already has attributes, or the limits the tracer applies need the attributes merged: the
    ///   caller then sets the merged attributes itself.
    func setStartAttributes(of span: any Tracing.Span, template: SpanAttributeTemplate, adding attributes: SpanAttributeList) -> Bool

    /// Adds or replaces attributes of `span` through `update`, which sees only the span's own
    /// attributes (not its template's): for instrumentation that sets names it knows are new, such
    /// as the offset of a delivered message. A name set here wins over the template's.
    /// - Returns: `false`, having not called `update`, when the span is not one of this tracer's:
    ///   the caller then edits `span.attributes`.
    func addAttributes(to span: any Tracing.Span, _ update: (inout SpanAttributeList) -> Void) -> Bool
}
