import Tracing

/// An optional capability of a tracer: starting a span whose parent is the remote context found in
/// a carrier (a consumed message's headers, say), without building that context first.
///
/// Instrumentation continuing a trace extracts the carrier into an `InstrumentationContext` (a
/// dictionary allocated, with the remote span context boxed in it), hands that context to
/// `startSpan`, and the tracer reads the span context back out of it; the span's own `context`
/// then copies that dictionary to write the span in. A tracer that conforms reads the carrier
/// itself and starts the span from what it found.
///
/// Instrumentation detects the capability once per tracer (with ``SpanContextInjectingTracer``
/// and ``AttributeTemplateTracer``) and otherwise extracts and starts the span through the
/// `Tracer` API.
public protocol RemoteParentTracer: Tracer {
    /// Starts the span that
    /// `startAnySpan(operationName, context: extracted, ofKind: kind, at: instant)` starts, where
    /// `extracted` is what `extract(carrier, into: &extracted, using: extractor)` writes into an
    /// empty context; when `linkingParent`, the span (if it records) also gets the link
    /// `addLink(SpanLink(context: extracted, attributes: [:]))` adds.
    /// - Returns: `nil`, having started nothing, when the carrier holds no context (`extracted`
    ///   would be empty): the caller starts its span as it does without a remote parent.
    func startSpan<Carrier, Extract: Extractor, Instant: TracerInstant>(
        _ operationName: String,
        continuingFrom carrier: Carrier,
        using extractor: Extract,
        ofKind kind: SpanKind,
        at instant: Instant,
        linkingParent: Bool,
        function: String,
        file fileID: String,
        line: UInt
    ) -> (any Tracing.Span)? where Extract.Carrier == Carrier
}
