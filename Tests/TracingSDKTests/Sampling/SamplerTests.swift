import Testing
import Tracing
@testable import TracingSDK

@Suite("Samplers")
struct SamplerTests {
    func parameters(parent: SpanContext? = nil, traceID: TraceID = TraceID(high: 1, low: 1)) -> SamplingParameters {
        SamplingParameters(parent: parent, traceID: traceID, name: "s", kind: .internal)
    }

    @Test("always_on and always_off")
    func constant() {
        #expect(AlwaysOnSampler().shouldSample(self.parameters()) == .recordAndSample)
        #expect(AlwaysOffSampler().shouldSample(self.parameters()) == .drop)
    }

    @Test("traceidratio decides from the trace id alone, the same in every service, near the ratio")
    func ratio() {
        let sampler = TraceIDRatioSampler(ratio: 0.25)
        let other = TraceIDRatioSampler(ratio: 0.25)
        let generator = RandomIDGenerator()
        var sampled = 0
        for _ in 0..<20_000 {
            let id = generator.nextTraceID()
            let decision = sampler.shouldSample(self.parameters(traceID: id))
            #expect(decision == other.shouldSample(self.parameters(traceID: id)))
            if decision.isSampled { sampled += 1 }
        }
        #expect((4_500...5_500).contains(sampled))
        // Low bits below the bound are sampled, above are not.
        #expect(sampler.samples(TraceID(high: .max, low: 0)))
        #expect(!sampler.samples(TraceID(high: 0, low: .max)))
        #expect(TraceIDRatioSampler(ratio: 0).shouldSample(self.parameters()) == .drop)
        #expect(TraceIDRatioSampler(ratio: 1).samples(TraceID(high: 0, low: .max)))
        #expect(TraceIDRatioSampler(ratio: 7).ratio == 1)
    }

    @Test("parent-based sampling uses the four delegates by parent locality and decision")
    func parentBased() {
        let sampler = ParentBasedSampler(
            root: AlwaysOffSampler(),
            remoteParentSampled: AlwaysOffSampler(),
            remoteParentNotSampled: AlwaysOnSampler(),
            localParentSampled: AlwaysOffSampler(),
            localParentNotSampled: AlwaysOnSampler()
        )
        func parent(remote: Bool, sampled: Bool) -> SpanContext {
            SpanContext(traceID: TraceID(high: 1, low: 1), spanID: SpanID(1), flags: sampled ? .sampled : [], isRemote: remote)
        }
        #expect(sampler.shouldSample(self.parameters()) == .drop)
        #expect(sampler.shouldSample(self.parameters(parent: parent(remote: true, sampled: true))) == .drop)
        #expect(sampler.shouldSample(self.parameters(parent: parent(remote: true, sampled: false))) == .recordAndSample)
        #expect(sampler.shouldSample(self.parameters(parent: parent(remote: false, sampled: true))) == .drop)
        #expect(sampler.shouldSample(self.parameters(parent: parent(remote: false, sampled: false))) == .recordAndSample)

        let standard = ParentBasedSampler(root: AlwaysOnSampler())
        #expect(standard.shouldSample(self.parameters(parent: parent(remote: true, sampled: false))) == .drop)
        #expect(standard.shouldSample(self.parameters(parent: parent(remote: true, sampled: true))) == .recordAndSample)
    }
}

@Suite("Error and slow traces")
struct TailSamplingTests {
    func make(threshold: Duration = .milliseconds(50), maxTraces: Int = 1000) -> (TestTracer, () -> TailSamplingProcessor?) {
        nonisolated(unsafe) var tail: TailSamplingProcessor?
        let test = TestTracer(sampler: ErrorAndSlowTraceSampler(ratio: 0)) { next in
            let processor = TailSamplingProcessor(next: next, latencyThreshold: threshold, maxTraces: maxTraces)
            tail = processor
            return processor
        }
        return (test, { tail })
    }

    @Test("an unsampled trace with an error anywhere is exported whole when its local root ends")
    func errorKept() async {
        let (test, tail) = self.make()
        let root = test.tracer.startSpan("root", at: FixedInstant(nanosecondsSinceEpoch: 0))
        let child = test.tracer.startSpan("child", context: root.context, at: FixedInstant(nanosecondsSinceEpoch: 1))
        #expect(child.isRecording && !child.spanContext.isSampled)
        child.setStatus(.init(code: .error, message: "failed"))
        child.end(at: FixedInstant(nanosecondsSinceEpoch: 2))
        #expect(await test.spans().isEmpty)  // held until the root ends
        root.end(at: FixedInstant(nanosecondsSinceEpoch: 3))
        let spans = await test.spans()
        #expect(spans.map(\.name) == ["child", "root"])
        #expect(spans.allSatisfy { $0.spanContext.isSampled })
        #expect(tail()?.keptTraces == 1)
    }

    @Test("a fast trace without errors is dropped; a slow one is kept")
    func latency() async {
        let (test, _) = self.make(threshold: .milliseconds(50))
        let fast = test.tracer.startSpan("fast", at: FixedInstant(nanosecondsSinceEpoch: 0))
        fast.end(at: FixedInstant(nanosecondsSinceEpoch: 1_000_000))
        let slow = test.tracer.startSpan("slow", at: FixedInstant(nanosecondsSinceEpoch: 0))
        slow.end(at: FixedInstant(nanosecondsSinceEpoch: 60_000_000))
        #expect(await test.spans().map(\.name) == ["slow"])
    }

    @Test("held traces are bounded and drops are counted")
    func bounded() async {
        let (test, tail) = self.make(maxTraces: 2)
        let roots = (0..<4).map { test.tracer.startSpan("root\($0)") }
        for root in roots {
            test.tracer.startSpan("child", context: root.context).end()
        }
        #expect(tail()?.droppedSpans == 2)
        for root in roots { root.end() }
    }

    @Test("sampled traces pass straight through")
    func sampledPassThrough() async {
        let test = TestTracer(sampler: ErrorAndSlowTraceSampler(ratio: 1)) {
            TailSamplingProcessor(next: $0, latencyThreshold: .seconds(10))
        }
        let root = test.tracer.startSpan("root")
        test.tracer.startSpan("child", context: root.context).end()
        #expect(await test.spans().map(\.name) == ["child"])
        root.end()
    }
}

@Suite("Error and slow traces through the provider")
struct ErrorAndSlowProviderTests {
    /// Ends a root span that took `milliseconds` and returns the names exported.
    func exported(sampler: any Sampler, slowTraceThreshold: Duration? = nil, milliseconds: UInt64) async -> [String] {
        let exporter = InMemorySpanExporter()
        let provider = TracerProvider(
            configuration: .init(
                sampler: sampler,
                exporters: [exporter],
                exportsImmediately: true,
                slowTraceThreshold: slowTraceThreshold,
                environment: [:]
            )
        )
        let root = provider.tracer.startSpan("root", at: FixedInstant(nanosecondsSinceEpoch: 0))
        root.end(at: FixedInstant(nanosecondsSinceEpoch: milliseconds * 1_000_000))
        await provider.shutdown()
        return exporter.spans.map(\.name)
    }

    @Test("the sampler's latencyThreshold decides what is slow")
    func samplersThreshold() async {
        let sampler = ErrorAndSlowTraceSampler(ratio: 0, latencyThreshold: .milliseconds(10))
        #expect(await self.exported(sampler: sampler, milliseconds: 20) == ["root"])  // 1 s before the fix
        #expect(await self.exported(sampler: sampler, milliseconds: 5) == [])
    }

    @Test("the provider's slowTraceThreshold overrides it")
    func providersThreshold() async {
        let sampler = ErrorAndSlowTraceSampler(ratio: 0, latencyThreshold: .milliseconds(10))
        #expect(await self.exported(sampler: sampler, slowTraceThreshold: .milliseconds(50), milliseconds: 20) == [])
        #expect(await self.exported(sampler: sampler, slowTraceThreshold: .milliseconds(50), milliseconds: 60) == ["root"])
    }

    @Test("an ErrorAndSlowTraceSampler inside ParentBasedSampler still gets its tail processor")
    func wrapped() async {
        let sampler = ParentBasedSampler(root: ErrorAndSlowTraceSampler(ratio: 0, latencyThreshold: .milliseconds(10)))
        // Without the tail processor, a recorded-but-unsampled root is never exported.
        #expect(await self.exported(sampler: sampler, milliseconds: 20) == ["root"])
        #expect(await self.exported(sampler: sampler, milliseconds: 5) == [])
    }
}
