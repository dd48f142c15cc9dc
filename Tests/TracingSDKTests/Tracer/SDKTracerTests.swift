import Testing
import Tracing
@testable import TracingSDK

struct OrderError: Error, CustomStringConvertible {
    var description: String { "card declined" }
}

@Suite("Tracer")
struct SDKTracerTests {
    @Test("spans take their parent from the context and carry kind, attributes, events, links and status")
    func spanData() async throws {
        let test = TestTracer()
        let linked = SpanContext(traceID: TraceID(high: 9, low: 9), spanID: SpanID(9), flags: .sampled)
        var linkContext = InstrumentationContext.topLevel
        linkContext.spanContext = linked

        let root = test.tracer.startSpan("root", ofKind: .server, at: FixedInstant(nanosecondsSinceEpoch: 1_000))
        let child = test.tracer.startSpan("child", context: root.context, ofKind: .producer, at: FixedInstant(nanosecondsSinceEpoch: 2_000))
        child.attributes["string"] = "s"
        child.attributes["int"] = 42
        child.attributes["double"] = 1.5
        child.attributes["bool"] = true
        child.attributes["strings"] = SpanAttribute.stringArray(["a", "b"])
        child.addEvent(SpanEvent(name: "checkpoint", at: FixedInstant(nanosecondsSinceEpoch: 2_500), attributes: ["n": 1]))
        child.addLink(SpanLink(context: linkContext, attributes: ["why": "batch"]))
        child.operationName = "renamed"
        child.setStatus(SpanStatus(code: .error, message: "boom"))
        child.end(at: FixedInstant(nanosecondsSinceEpoch: 5_000))
        root.end(at: FixedInstant(nanosecondsSinceEpoch: 9_000))

        let spans = await test.spans()
        #expect(spans.map(\.name) == ["renamed", "root"])
        let (exportedChild, exportedRoot) = (spans[0], spans[1])
        #expect(exportedChild.spanContext.traceID == exportedRoot.spanContext.traceID)
        #expect(exportedChild.parentSpanID == exportedRoot.spanContext.spanID)
        #expect(exportedRoot.parentSpanID == nil && exportedRoot.isLocalRoot && !exportedChild.isLocalRoot)
        #expect(exportedChild.kind == .producer && exportedRoot.kind == .server)
        #expect(exportedChild.attributes.get("string") == .string("s"))
        #expect(exportedChild.attributes.get("int") == .int64(42))
        #expect(exportedChild.attributes.get("double") == .double(1.5))
        #expect(exportedChild.attributes.get("bool") == .bool(true))
        #expect(exportedChild.attributes.get("strings") == .stringArray(["a", "b"]))
        #expect(exportedChild.events.map(\.name) == ["checkpoint"])
        #expect(exportedChild.events[0].nanosecondsSinceEpoch == 2_500)
        #expect(exportedChild.links.map(\.spanContext) == [linked])
        #expect(exportedChild.links[0].attributes.get("why") == .string("batch"))
        #expect(exportedChild.status == SpanStatus(code: .error, message: "boom"))
        #expect(exportedChild.startNanosecondsSinceEpoch == 2_000 && exportedChild.endNanosecondsSinceEpoch == 5_000)
        #expect(exportedChild.duration == .nanoseconds(3_000))
        #expect(exportedChild.resource.serviceName == "test-service")
        #expect(exportedChild.instrumentationScope.name == SDKInfo.name)
        #expect(exportedChild.spanContext.flags == [.sampled, .randomTraceID])
    }

    @Test("withSpan and task-local tracers make children of the current span")
    func currentContext() async throws {
        let test = TestTracer()
        try await withTracer(test.tracer) {
            try await withSpan("outer") { _ in
                try await withSpan("inner", ofKind: .client) { span in
                    span.attributes["k"] = "v"
                    throw OrderError()
                }
            }
        } catchingWith: { _ in }
        let spans = await test.spans()
        #expect(spans.map(\.name) == ["inner", "outer"])
        #expect(spans[0].parentSpanID == spans[1].spanContext.spanID)
        #expect(spans.allSatisfy { $0.isError })
    }

    @Test("recordError adds an exception event with type and message")
    func recordError() async throws {
        let test = TestTracer()
        let span = test.tracer.startSpan("work")
        span.recordError(OrderError(), attributes: ["extra": "1"])
        span.end()
        let event = try #require(await test.spans().first?.events.first)
        #expect(event.name == "exception")
        #expect(event.attributes.get("exception.type") == .string(String(reflecting: OrderError.self)))
        #expect(event.attributes.get("exception.message") == .string("card declined"))
        #expect(event.attributes.get("extra") == .string("1"))
    }

    @Test("ok is final; a span ends once; after end it is not recording and ignores changes")
    func lifecycle() async throws {
        let test = TestTracer()
        let span = test.tracer.startSpan("work")
        #expect(span.isRecording)
        span.setStatus(.init(code: .ok))
        span.setStatus(.init(code: .error, message: "too late"))
        span.end()
        #expect(!span.isRecording)
        span.attributes["after"] = "end"
        span.addEvent("after")
        span.end()
        let spans = await test.spans()
        #expect(spans.count == 1)
        #expect(spans[0].status == .init(code: .ok))
        #expect(spans[0].attributes.isEmpty && spans[0].events.isEmpty)
    }

    @Test("a finished span shares the ended span's record: changing a copy changes neither the span nor other copies")
    func finishedSpansCopyOnChange() async throws {
        let test = TestTracer()
        let span = test.tracer.startSpan("work", ofKind: .consumer, at: FixedInstant(nanosecondsSinceEpoch: 1_000))
        span.attributes["n"] = 1
        span.end(at: FixedInstant(nanosecondsSinceEpoch: 3_000))
        let exported = try #require(await test.spans().first)

        var changed = exported
        changed.name = "renamed"
        changed.attributes = ["n": 2]
        changed.endNanosecondsSinceEpoch = 9_000
        changed.spanContext = SpanContext(traceID: TraceID(high: 1, low: 2), spanID: SpanID(3), flags: .sampled)
        changed.events = [SpanEvent(name: "added", at: FixedInstant(nanosecondsSinceEpoch: 2_000))]
        #expect(changed.name == "renamed" && changed.attributes == ["n": 2] && changed.duration == .nanoseconds(8_000))
        #expect(changed.spanContext.spanID == SpanID(3) && changed.events.count == 1 && changed.kind == .consumer)

        #expect(exported.name == "work" && exported.attributes == ["n": 1] && exported.duration == .nanoseconds(2_000))
        #expect(exported.events.isEmpty && exported.spanContext.spanID != SpanID(3))
        #expect(span.operationName == "work" && span.attributes == ["n": 1], "the ended span still reads what it recorded")
        #expect(await test.spans().first?.name == "work", "the exporter's copy is untouched")
    }

    @Test("limits drop and count attributes, events and links over the limit, and shorten values")
    func limits() async throws {
        var limits = SpanLimits()
        limits.attributeCountLimit = 3
        limits.attributeValueLengthLimit = 4
        limits.eventCountLimit = 2
        limits.linkCountLimit = 1
        let test = TestTracer(limits: limits)
        let span = test.tracer.startSpan("limited")
        for index in 0..<5 { span.attributes["a\(index)"] = "value-\(index)" }
        span.attributes["a0"] = "updated"  // an existing attribute can still change
        for index in 0..<4 { span.addEvent(SpanEvent(name: "e\(index)")) }
        var other = InstrumentationContext.topLevel
        other.spanContext = SpanContext(traceID: TraceID(high: 1, low: 1), spanID: SpanID(1))
        span.addLink(SpanLink(context: other, attributes: [:]))
        span.addLink(SpanLink(context: other, attributes: [:]))
        span.end()
        let finished = try #require(await test.spans().first)
        #expect(finished.attributes.count == 3)
        #expect(finished.droppedAttributeCount == 2)
        #expect(finished.attributes.get("a0") == .string("upda"))
        var kept: [String] = []
        finished.attributes.forEach { name, _ in kept.append(name) }
        #expect(kept.sorted() == ["a0", "a1", "a2"])  // the first ones stay, later ones are dropped
        #expect(finished.events.map(\.name) == ["e0", "e1"])
        #expect(finished.droppedEventCount == 2)
        #expect(finished.links.count == 1 && finished.droppedLinkCount == 1)
    }

    @Test("attributes set from several threads at once all arrive, and none after the end")
    func concurrentAttributes() async throws {
        let test = TestTracer()
        let span = test.tracer.startSpan("shared")
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for index in 0..<250 { span.attributes["t\(task)-\(index)"] = index }
                }
            }
        }
        span.end()
        span.attributes["late"] = "ignored"
        let finished = try #require(await test.spans().first)
        #expect(finished.attributes.count == 128)  // the default count limit
        #expect(finished.droppedAttributeCount == 1_000 - 128)
        #expect(finished.attributes.get("late") == nil)
    }

    @Test("an attribute whose conversion reads its own span neither deadlocks nor corrupts the span")
    func reentrantAttribute() async throws {
        struct ReadsSpan: SpanAttributeConvertible {
            let span: SDKSpan
            func toSpanAttribute() -> SpanAttribute {
                // Runs while the span's attributes are being edited.
                .string("\(self.span.operationName):\(self.span.attributes.count):\(self.span.isRecording)")
            }
        }
        let test = TestTracer()
        let span = test.tracer.startSpan("outer")
        span.attributes["first"] = 1
        span.attributes["nested"] = ReadsSpan(span: span)
        span.end()
        let finished = try #require(await test.spans().first)
        #expect(finished.attributes.get("first") == .int64(1))
        #expect(finished.attributes.get("nested") != nil)
    }

    @Test("unsampled spans are not recorded or exported, and their children stay unsampled")
    func unsampled() async throws {
        let test = TestTracer(sampler: ParentBasedSampler(root: AlwaysOffSampler()))
        let root = test.tracer.startSpan("root")
        let child = test.tracer.startSpan("child", context: root.context)
        #expect(!root.isRecording && !child.isRecording)
        #expect(child.spanContext.traceID == root.spanContext.traceID)
        #expect(!child.spanContext.isSampled)
        child.attributes["ignored"] = 1
        #expect(child.attributes.isEmpty)
        child.end()
        root.end()
        #expect(await test.spans().isEmpty)
    }

    @Test("span counts: recording spans started and ended, shared by a provider's tracers; unsampled ones not counted")
    func spanCounts() async {
        let provider = TracerProvider(configuration: .init(exporters: [InMemorySpanExporter()], exportsImmediately: true, environment: [:]))
        let other = provider.tracer(serviceName: "other")
        let a = provider.tracer.startSpan("a")
        let b = other.startSpan("b")
        _ = other.startSpan("left open")
        #expect(provider.spanCounts == SpanCounts(started: 3, ended: 0))
        a.end()
        b.end()
        b.end()  // ended once
        #expect(provider.spanCounts == SpanCounts(started: 3, ended: 2))
        let unsampled = SDKTracer(resource: Resource(), processor: MultiSpanProcessor([]), sampler: AlwaysOffSampler())
        unsampled.startSpan("not recorded").end()
        #expect(unsampled.spanCounts == SpanCounts(started: 0, ended: 0))
        await provider.shutdown()
    }

    @Test("works the same under swift-distributed-tracing's InMemoryTracer-style global bootstrap: instrument interface")
    func instrumentInterface() {
        let test = TestTracer()
        let span = test.tracer.startSpan("s")
        var carrier: [String: String] = [:]
        test.tracer.inject(span.context, into: &carrier, using: DictionaryInjector())
        var extracted = InstrumentationContext.topLevel
        test.tracer.extract(carrier, into: &extracted, using: DictionaryExtractor())
        #expect(extracted.spanContext?.traceID == span.spanContext.traceID)
        #expect(extracted.spanContext?.spanID == span.spanContext.spanID)
        #expect(extracted.spanContext?.isRemote == true)
        span.end()
    }
}

extension SDKTracerTests {
    /// Runs `body`, passing errors to `handler` (used where the error itself is the point).
    func withTracer(_ tracer: SDKTracer, _ body: () async throws -> Void, catchingWith handler: (any Error) -> Void) async throws {
        do {
            try await Tracing.withTracer(tracer) { try await body() }
        } catch {
            handler(error)
        }
    }
}
