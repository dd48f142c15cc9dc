import Tracing

/// An optional capability of a tracer: writing the propagation headers of a span it started
/// straight from the span.
///
/// Instrumentation injects a span's context with `tracer.inject(span.context, into:using:)`,
/// which makes the tracer build an `InstrumentationContext` holding the span (a dictionary
/// allocated, hashed and filled) only to read the span back out of it. A tracer that conforms
/// writes the same headers from the span itself. Instrumentation detects the capability once per
/// tracer (a dynamic cast is not free) and falls back to `inject(span.context, …)` when the tracer
/// lacks it or declines a span.
///
/// This module holds protocols (and the one class ``AttributeTemplateTracer`` shares), so that
/// instrumentation (which must work under any swift-distributed-tracing tracer) and a tracer can
/// both depend on it without depending on each other.
public protocol SpanContextInjectingTracer: Tracer {
    /// Writes into `carrier` exactly what `inject(span.context, into: &carrier, using: injector)`
    /// would write.
    /// - Returns: `false`, having written nothing, when `span` is not one of this tracer's spans:
    ///   the caller then injects `span.context`.
    func injectContext<Carrier, Inject: Injector>(
        of span: any Tracing.Span,
        into carrier: inout Carrier,
        using injector: Inject
    ) -> Bool where Inject.Carrier == Carrier
}
