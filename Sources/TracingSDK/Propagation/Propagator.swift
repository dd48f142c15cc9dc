import Tracing

/// Moves context in and out of carriers (HTTP headers, Kafka headers, …) in one wire format.
public protocol TextMapPropagator: Sendable {
    /// The header keys this propagator reads and writes.
    var fields: [String] { get }

    func inject<Carrier, Inject: Injector>(
        _ context: InstrumentationContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier

    func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout InstrumentationContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier
}

/// W3C Trace Context: `traceparent` and `tracestate`.
public struct W3CTraceContextPropagator: TextMapPropagator {
    public init() {}

    public var fields: [String] { ["traceparent", "tracestate"] }

    public func inject<Carrier, Inject: Injector>(
        _ context: InstrumentationContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let spanContext = context.spanContext else { return }
        self.inject(spanContext, into: &carrier, using: injector)
    }

    /// Writes `traceparent` (and `tracestate`) for a span context already read from the context.
    @inline(__always)
    func inject<Carrier, Inject: Injector>(
        _ spanContext: SpanContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard spanContext.isValid else { return }
        injector.inject(TraceParent.format(spanContext), forKey: "traceparent", into: &carrier)
        if !spanContext.traceState.isEmpty {
            let state = spanContext.traceState.headerValue
            if !state.isEmpty { injector.inject(state, forKey: "tracestate", into: &carrier) }
        }
    }

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout InstrumentationContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let spanContext = Self.extractSpanContext(from: carrier, using: extractor) else { return }
        context.spanContext = spanContext
    }

    /// The remote span context of `traceparent` and `tracestate` in the carrier (valid), or `nil`.
    @inline(__always)
    static func extractSpanContext<Carrier, Extract: Extractor>(
        from carrier: Carrier,
        using extractor: Extract
    ) -> SpanContext? where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier),
            var spanContext = TraceParent.parse(header)
        else { return nil }
        // A bad tracestate is dropped; the traceparent stays.
        if let state = extractor.extract(key: "tracestate", from: carrier), let traceState = TraceState(header: state) {
            spanContext.traceState = traceState
        }
        return spanContext
    }
}

/// W3C Baggage: `baggage`.
public struct W3CBaggagePropagator: TextMapPropagator {
    public init() {}

    public var fields: [String] { ["baggage"] }

    public func inject<Carrier, Inject: Injector>(
        _ context: InstrumentationContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let baggage = context.baggage, !baggage.isEmpty else { return }
        let header = baggage.headerValue
        if !header.isEmpty { injector.inject(header, forKey: "baggage", into: &carrier) }
    }

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout InstrumentationContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "baggage", from: carrier) else { return }
        let baggage = Baggage(header: header)
        if !baggage.isEmpty { context.baggage = baggage }
    }
}

/// Several propagators in order (for example Trace Context, then Baggage).
public struct CompositePropagator: TextMapPropagator {
    public let propagators: [any TextMapPropagator]

    public init(_ propagators: [any TextMapPropagator]) { self.propagators = propagators }

    public var fields: [String] { self.propagators.flatMap(\.fields) }

    public func inject<Carrier, Inject: Injector>(
        _ context: InstrumentationContext,
        into carrier: inout Carrier,
        using injector: Inject
    ) where Inject.Carrier == Carrier {
        for propagator in self.propagators { propagator.inject(context, into: &carrier, using: injector) }
    }

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier,
        into context: inout InstrumentationContext,
        using extractor: Extract
    ) where Extract.Carrier == Carrier {
        for propagator in self.propagators { propagator.extract(carrier, into: &context, using: extractor) }
    }
}

private enum BaggageKey: InstrumentationContextKey {
    typealias Value = Baggage
    static var nameOverride: String? { "w3c-baggage" }
}

extension InstrumentationContext {
    /// The W3C baggage carried with this context.
    public var baggage: Baggage? {
        get { self[BaggageKey.self] }
        set { self[BaggageKey.self] = newValue }
    }
}
