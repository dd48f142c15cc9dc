import Testing
import Tracing
import Locking
import TracingCapabilities
@testable import TracingSDK

@Suite("Attribute templates")
struct AttributeTemplateTests {
    let template = SpanAttributeTemplate(["messaging.system": "kafka", "messaging.destination.name": "orders", "server.port": 9092])

    @Test("a span keeps its template by reference: read as one set with its own attributes over the template's, exported the same")
    func sharedByReference() async throws {
        let test = TestTracer()
        let first = test.tracer.startSpan("send orders", ofKind: .producer)
        let second = test.tracer.startSpan("send orders", ofKind: .producer)
        #expect(test.tracer.setStartAttributes(of: first, template: self.template, adding: ["messaging.kafka.message.key": "k1"]))
        #expect(test.tracer.setStartAttributes(of: second, template: self.template, adding: ["server.port": 19092]))
        #expect(first.attributes.get("messaging.system") == .string("kafka"))
        #expect(first.attributes.get("messaging.kafka.message.key") == .string("k1"))
        #expect(first.attributes.count == 4)
        #expect(second.attributes.get("server.port") == .int64(19092), "the span's own value wins")
        #expect(test.tracer.addAttributes(to: first) { $0.set("messaging.kafka.offset", value: .int64(7)) })
        first.end()
        second.end()

        let spans = await test.spans()
        #expect(spans.count == 2)
        for span in spans {
            #expect(span.attributeTemplate === self.template, "the template is shared, not copied")
        }
        #expect(spans[0].ownAttributes == ["messaging.kafka.message.key": "k1", "messaging.kafka.offset": 7])
        #expect(
            spans[0].attributes
                == [
                    "messaging.system": "kafka", "messaging.destination.name": "orders", "server.port": 9092,
                    "messaging.kafka.message.key": "k1", "messaging.kafka.offset": 7,
                ]
        )
        #expect(spans[1].attributes == ["messaging.system": "kafka", "messaging.destination.name": "orders", "server.port": 19092])
        #expect(spans.allSatisfy { $0.droppedAttributeCount == 0 })
    }

    @Test("any edit through span.attributes works as without a template: a template name can be removed or replaced")
    func editsMergeTheTemplate() async throws {
        let test = TestTracer()
        let span = test.tracer.startSpan("send orders", ofKind: .producer)
        #expect(test.tracer.setStartAttributes(of: span, template: self.template, adding: [:]))
        span.attributes["messaging.destination.name"] = nil
        span.attributes["server.port"] = 1
        span.updateAttributes { $0["extra"] = "x" }
        span.end()
        let finished = try #require(await test.spans().first)
        #expect(finished.attributeTemplate == nil)
        #expect(finished.attributes == ["messaging.system": "kafka", "server.port": 1, "extra": "x"])
        // The template itself is untouched.
        #expect(self.template.attributes.count == 3 && self.template.attributes.get("server.port") == .int64(9092))
    }

    @Test("a span with attributes already, a span of another tracer, or limits that could bite: declined, nothing changed")
    func declined() async throws {
        let test = TestTracer()
        let started = test.tracer.startSpan("with attributes")
        started.attributes["mine"] = "kept"
        #expect(!test.tracer.setStartAttributes(of: started, template: self.template, adding: [:]))
        #expect(started.attributes == ["mine": "kept"])
        started.end()

        struct ForeignSpan: Span {
            var context: InstrumentationContext { .topLevel }
            var operationName: String { get { "" } nonmutating set {} }
            var attributes: SpanAttributes { get { [:] } nonmutating set {} }
            var isRecording: Bool { true }
            func setStatus(_ status: SpanStatus) {}
            func addEvent(_ event: SpanEvent) {}
            func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {}
            func addLink(_ link: SpanLink) {}
            func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {}
        }
        #expect(!test.tracer.setStartAttributes(of: ForeignSpan(), template: self.template, adding: [:]))
        #expect(!test.tracer.addAttributes(to: ForeignSpan()) { _ in Issue.record("called for a foreign span") })

        var lengthLimited = SpanLimits()
        lengthLimited.attributeValueLengthLimit = 3
        let limited = TestTracer(limits: lengthLimited)
        let span = limited.tracer.startSpan("limited")
        #expect(!limited.tracer.setStartAttributes(of: span, template: self.template, adding: [:]), "values to shorten")
        span.end()

        var countLimited = SpanLimits()
        countLimited.attributeCountLimit = 4
        let counted = TestTracer(limits: countLimited)
        let other = counted.tracer.startSpan("counted")
        #expect(!counted.tracer.setStartAttributes(of: other, template: self.template, adding: ["a": 1, "b": 2]), "five names, four allowed")
        #expect(counted.tracer.setStartAttributes(of: other, template: self.template, adding: ["a": 1]))
        other.end()
    }

    @Test("attributes added past the count limit are dropped and counted as on any span")
    func addedPastTheLimit() async throws {
        var limits = SpanLimits()
        limits.attributeCountLimit = 5
        let test = TestTracer(limits: limits)
        let span = test.tracer.startSpan("counted")
        #expect(test.tracer.setStartAttributes(of: span, template: self.template, adding: ["a": 1]))
        #expect(test.tracer.addAttributes(to: span) { $0["b"] = 2; $0["c"] = 3; $0["d"] = 4 })
        span.end()
        let finished = try #require(await test.spans().first)
        #expect(finished.attributes.count == 5)
        #expect(finished.droppedAttributeCount == 2)
        // The template's names and the span's first one stay; the new ones go in sorted order.
        #expect(finished.attributes == ["messaging.system": "kafka", "messaging.destination.name": "orders", "server.port": 9092, "a": 1, "b": 2])
    }

    @Test("a non-recording span takes a template as done, and keeps nothing")
    func notRecording() async throws {
        let test = TestTracer(sampler: AlwaysOffSampler())
        let span = test.tracer.startSpan("unsampled")
        #expect(test.tracer.setStartAttributes(of: span, template: self.template, adding: ["a": 1]))
        #expect(span.attributes.isEmpty)
        span.end()
        #expect(await test.spans().isEmpty)
    }

    @Test("a span's own attributes beside a template: set in order, a name set again replaces its value, nil removes it")
    func ownAttributesAsAList() async throws {
        let test = TestTracer()
        let span = test.tracer.startSpan("send orders", ofKind: .producer)
        var own = SpanAttributeList(minimumCapacity: 2)
        own.set("messaging.kafka.message.key", value: "k1")
        own.set("messaging.destination.partition.id", value: "0")
        own["messaging.kafka.message.key"] = "k2"
        own.set("gone", value: 1)
        own.set("gone", value: nil)
        #expect(own.count == 2 && own.get("gone") == nil)
        #expect(test.tracer.setStartAttributes(of: span, template: self.template, adding: own))
        #expect(test.tracer.addAttributes(to: span) { $0.set("messaging.destination.partition.id", value: "3"); $0["messaging.kafka.offset"] = 9 })
        span.end()
        let finished = try #require(await test.spans().first)
        var names: [String] = []
        finished.templateAdditions.forEach { name, _ in names.append(name) }
        #expect(names == ["messaging.kafka.message.key", "messaging.destination.partition.id", "messaging.kafka.offset"])
        #expect(finished.ownAttributes == ["messaging.kafka.message.key": "k2", "messaging.destination.partition.id": "3", "messaging.kafka.offset": 9])
        #expect(finished.attributes.count == 6)
        #expect(SpanAttributes(["a": 1]).merging(["a": 2, "b": 3] as SpanAttributeList) == ["a": 2, "b": 3])
    }

    @Test("a template's preparation is made once and kept")
    func preparedOnce() {
        final class Encoded: Sendable { let count: Int; init(_ count: Int) { self.count = count } }
        let calls = LockedCounter()
        let first = self.template.prepared { attributes in calls.increment(); return Encoded(attributes.count) }
        let second = self.template.prepared { attributes in calls.increment(); return Encoded(attributes.count) }
        #expect(first === second && first.count == 3)
        #expect(calls.value == 1)
    }
}

private final class LockedCounter: Sendable {
    private let count = Locked(0)
    func increment() { self.count.withLock { $0 += 1 } }
    var value: Int { self.count.withLock { $0 } }
}
