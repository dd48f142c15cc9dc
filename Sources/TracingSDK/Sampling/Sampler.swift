import Tracing

/// What a sampler decided for a new span.
public struct SamplingDecision: Sendable, Hashable, CustomStringConvertible {
    private enum Backing: Sendable, Hashable { case drop, recordOnly, recordAndSample }
    private let backing: Backing

    /// Not recorded, not exported; the context still propagates with the sampled flag off.
    public static let drop = SamplingDecision(backing: .drop)
    /// Recorded (so processors see it) but not sampled: exported only if a processor decides so.
    public static let recordOnly = SamplingDecision(backing: .recordOnly)
    /// Recorded and sampled: exported, and the sampled flag is set downstream.
    public static let recordAndSample = SamplingDecision(backing: .recordAndSample)

    public var isRecording: Bool { self.backing != .drop }
    public var isSampled: Bool { self.backing == .recordAndSample }

    public var description: String {
        switch self.backing {
        case .drop: "drop"
        case .recordOnly: "recordOnly"
        case .recordAndSample: "recordAndSample"
        }
    }
}

/// The facts a sampler decides from when a span starts.
public struct SamplingParameters: Sendable {
    /// The parent's context, local or remote; `nil` for a root span.
    public var parent: SpanContext?
    /// The new span's trace id (the parent's, or a new one for a root).
    public var traceID: TraceID
    public var name: String
    public var kind: SpanKind
}

/// Decides whether a new span is recorded and sampled.
public protocol Sampler: Sendable, CustomStringConvertible {
    func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision
}

/// Samples every span (`always_on`).
public struct AlwaysOnSampler: Sampler {
    public init() {}
    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision { .recordAndSample }
    public var description: String { "AlwaysOnSampler" }
}

/// Samples no span (`always_off`).
public struct AlwaysOffSampler: Sampler {
    public init() {}
    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision { .drop }
    public var description: String { "AlwaysOffSampler" }
}

/// Samples a fraction of traces, decided from the trace id alone so that every service makes the
/// same decision for a trace (`traceidratio`).
///
/// The decision reads the trace id's last 8 bytes (shifted right by one, as the OpenTelemetry Go
/// and Java SDKs do) and samples when they fall below `ratio × 2⁶³`.
public struct TraceIDRatioSampler: Sampler {
    public let ratio: Double
    private let upperBound: UInt64

    /// - Parameter ratio: from 0 (nothing) to 1 (everything); values outside are clamped.
    public init(ratio: Double) {
        let ratio = ratio.isNaN ? 0 : min(max(ratio, 0), 1)
        self.ratio = ratio
        self.upperBound = ratio >= 1 ? UInt64.max : UInt64(ratio * 9_223_372_036_854_775_808.0)
    }

    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision {
        self.samples(parameters.traceID) ? .recordAndSample : .drop
    }

    /// Whether a trace id falls in the sampled fraction.
    public func samples(_ traceID: TraceID) -> Bool {
        self.ratio >= 1 || (traceID.low >> 1) < self.upperBound
    }

    public var description: String { "TraceIdRatioBased{\(self.ratio)}" }
}

/// A sampler that decides by asking others, so the provider can find what they need: an
/// ``ErrorAndSlowTraceSampler`` anywhere inside one still gets its ``TailSamplingProcessor``.
/// Conform your own wrapping samplers to it.
public protocol DelegatingSampler: Sampler {
    /// The samplers this one may ask.
    var delegates: [any Sampler] { get }
}

extension Sampler {
    /// The first ``ErrorAndSlowTraceSampler`` in this sampler or, through ``DelegatingSampler``,
    /// in the samplers it asks (depth-first, bounded against cycles).
    func errorAndSlowTraceSampler(depth: Int = 0) -> ErrorAndSlowTraceSampler? {
        if let sampler = self as? ErrorAndSlowTraceSampler { return sampler }
        guard depth < 16, let delegating = self as? any DelegatingSampler else { return nil }
        for delegate in delegating.delegates {
            if let found = delegate.errorAndSlowTraceSampler(depth: depth + 1) { return found }
        }
        return nil
    }
}

/// Follows the parent's decision when there is a parent; otherwise asks `root`.
/// (`parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`)
public struct ParentBasedSampler: DelegatingSampler {
    public let root: any Sampler
    public let remoteParentSampled: any Sampler
    public let remoteParentNotSampled: any Sampler
    public let localParentSampled: any Sampler
    public let localParentNotSampled: any Sampler

    public init(
        root: any Sampler,
        remoteParentSampled: any Sampler = AlwaysOnSampler(),
        remoteParentNotSampled: any Sampler = AlwaysOffSampler(),
        localParentSampled: any Sampler = AlwaysOnSampler(),
        localParentNotSampled: any Sampler = AlwaysOffSampler()
    ) {
        self.root = root
        self.remoteParentSampled = remoteParentSampled
        self.remoteParentNotSampled = remoteParentNotSampled
        self.localParentSampled = localParentSampled
        self.localParentNotSampled = localParentNotSampled
    }

    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision {
        guard let parent = parameters.parent, parent.isValid else { return self.root.shouldSample(parameters) }
        switch (parent.isRemote, parent.isSampled) {
        case (true, true): return self.remoteParentSampled.shouldSample(parameters)
        case (true, false): return self.remoteParentNotSampled.shouldSample(parameters)
        case (false, true): return self.localParentSampled.shouldSample(parameters)
        case (false, false): return self.localParentNotSampled.shouldSample(parameters)
        }
    }

    public var delegates: [any Sampler] {
        [self.root, self.remoteParentSampled, self.remoteParentNotSampled, self.localParentSampled, self.localParentNotSampled]
    }

    public var description: String {
        "ParentBased{root:\(self.root),remoteParentSampled:\(self.remoteParentSampled),remoteParentNotSampled:\(self.remoteParentNotSampled),localParentSampled:\(self.localParentSampled),localParentNotSampled:\(self.localParentNotSampled)}"
    }
}

/// Keeps error and slow traces under ratio sampling.
///
/// Traces in the ratio are sampled as usual. The others are recorded but not sampled; their
/// spans are held per local trace by the tracer's ``TailSamplingProcessor`` and exported when the
/// local root ends if any span ended with an error or the root took longer than
/// `latencyThreshold`; otherwise they are dropped. ``TracerProvider`` adds that processor when this
/// sampler is its sampler or is inside one (``DelegatingSampler``, such as ``ParentBasedSampler``).
///
/// - Important: Only what this process records can be kept. Services downstream already decided
///   from the sampled flag in the propagated context (off for these traces), so a kept error trace
///   contains this service's spans and not theirs.
public struct ErrorAndSlowTraceSampler: Sampler {
    public let base: TraceIDRatioSampler
    public let latencyThreshold: Duration

    public init(ratio: Double, latencyThreshold: Duration = .seconds(1)) {
        self.base = TraceIDRatioSampler(ratio: ratio)
        self.latencyThreshold = latencyThreshold
    }

    public func shouldSample(_ parameters: SamplingParameters) -> SamplingDecision {
        if let parent = parameters.parent, parent.isValid {
            // Follow a sampled parent; record the rest so errors can still be kept.
            return parent.isSampled ? .recordAndSample : .recordOnly
        }
        return self.base.samples(parameters.traceID) ? .recordAndSample : .recordOnly
    }

    public var description: String { "ErrorAndSlowTraces{ratio:\(self.base.ratio),latency:\(self.latencyThreshold)}" }
}
