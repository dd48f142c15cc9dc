import Foundation
import InMemoryTracing
import Kafka
import KafkaTracing
import Testing
import Synchronization
import Tracing
import TracingCapabilities
import TracingSDK

/// A header dictionary, to make a context as an incoming request of another trace would.
private struct RequestHeaders: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

/// A tracer that is not ours but offers `SpanContextInjectingTracer`: InMemoryTracer's spans, and
/// a marker header written from the span itself, or nothing while `declines` is set.
private final class SpanInjectingTracer: SpanContextInjectingTracer, Sendable {
    static let markerKey = "x-injected-from-span"
    let base = InMemoryTracer()
    let declines = Atomic<Bool>(false)

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> InstrumentationContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> InMemorySpan {
        self.base.startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        self.base.inject(context, into: &carrier, using: injector)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        self.base.extract(carrier, into: &context, using: extractor)
    }

    func injectContext<Carrier, Inject: Injector>(of span: any Tracing.Span, into carrier: inout Carrier, using injector: Inject) -> Bool
    where Inject.Carrier == Carrier {
        guard !self.declines.load(ordering: .relaxed), let span = span as? InMemorySpan else { return false }
        injector.inject(span.spanContext.spanID, forKey: Self.markerKey, into: &carrier)
        return true
    }
}

extension KafkaIntegrationTests {
    /// The values of every header named `key` (exact name).
    func values(_ key: String, in message: KafkaConsumerMessage) -> [String] {
        message.headers.filter { $0.key == key }.compactMap(\.stringValue)
    }

    /// Relays each message of `from` to `to` with the headers it came with (as retry topics and
    /// relays do), inside a request of trace `traceID` that carries `tracestate` and `baggage`.
    func relayCopyingHeaders(
        _ cluster: TestCluster,
        from: String,
        to: String,
        traceID: String,
        tracestate: String,
        baggage: String,
        tracer: SDKTracer,
        producer: TracedProducer
    ) async throws {
        let relay = try self.tracedConsumer(cluster, topic: from)
        try await self.consume(1, with: relay) { message in
            var request = InstrumentationContext.topLevel
            tracer.extract(
                ["traceparent": "00-\(traceID)-00000000000000a1-01", "tracestate": tracestate, "baggage": baggage],
                into: &request,
                using: RequestHeaders()
            )
            try await withSpan("relay request", context: request) { _ in
                let copy = KafkaProducerMessage(topic: to, key: message.keyString, value: message.value, headers: message.headers)
                _ = try await producer.sendAndWait(copy)
            }
        }
    }

    @Test("a message relayed twice through TracedProducer carries exactly one traceparent, tracestate and baggage, all of the new trace")
    func relayedTwice() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let first = try await cluster.makeTopic("relay-first", partitions: 1)
            let second = try await cluster.makeTopic("relay-second", partitions: 1)
            let third = try await cluster.makeTopic("relay-third", partitions: 1)
            let capture = TraceCapture()
            let raw = try cluster.makeProducer()
            let producer = TracedProducer(wrapping: try cluster.makeProducer())

            // The original, from some other system: trace 0, its vendor state and baggage, a
            // header name in another case, and an application header.
            let original = KafkaProducerMessage<KafkaNull, String>(
                topic: first,
                value: "order",
                headers: [
                    KafkaHeader(key: "traceparent", value: "00-00000000000000000000000000000a00-00000000000000b0-01"),
                    KafkaHeader(key: "tracestate", value: "origin=0"),
                    KafkaHeader(key: "baggage", value: "hop=0"),
                    KafkaHeader(key: "Baggage", value: "hop=0-mixed-case"),
                    KafkaHeader(key: "app", value: "kept"),
                ]
            )
            _ = try await raw.sendAndWait(original)
            await raw.close()

            let trace1 = "00000000000000000000000000000a01"
            let trace2 = "00000000000000000000000000000a02"
            try await withTracer(capture.tracer) {
                try await self.relayCopyingHeaders(
                    cluster, from: first, to: second, traceID: trace1, tracestate: "relay=1", baggage: "hop=1",
                    tracer: capture.tracer, producer: producer
                )
                try await self.relayCopyingHeaders(
                    cluster, from: second, to: third, traceID: trace2, tracestate: "relay=2", baggage: "hop=2",
                    tracer: capture.tracer, producer: producer
                )
            }
            await producer.close()

            for (topic, traceID, hop) in [(second, trace1, "1"), (third, trace2, "2")] {
                let reader = try cluster.makeConsumer(group: "relayed-\(UUID())", topic: topic)
                let message = try #require(try await collect(1, from: reader).first)
                await reader.close()
                let traceparents = self.values("traceparent", in: message)
                #expect(traceparents.count == 1, "\(topic): \(message.headers)")
                #expect(traceparents.first?.split(separator: "-").dropFirst().first.map(String.init) == traceID)
                #expect(self.values("tracestate", in: message) == ["relay=\(hop)"])
                #expect(self.values("baggage", in: message) == ["hop=\(hop)"])
                #expect(message.headers.map(\.key).sorted() == ["app", "baggage", "traceparent", "tracestate"])
            }
        }
    }

    @Test("a send whose context has no tracestate or baggage removes those the message came with")
    func staleStateAndBaggageRemoved() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("stale-state", partitions: 1)
            let capture = TraceCapture()
            let producer = TracedProducer(wrapping: try cluster.makeProducer())
            let stale: [KafkaHeader] = [
                KafkaHeader(key: "traceparent", value: "00-00000000000000000000000000000b00-00000000000000b0-01"),
                KafkaHeader(key: "tracestate", value: "other=trace"),
                KafkaHeader(key: "TRACESTATE", value: "other=trace"),
                KafkaHeader(key: "baggage", value: "user=someone-else"),
                KafkaHeader(key: "app", value: "kept"),
            ]
            try await withTracer(capture.tracer) {
                try await withSpan("new request") { _ in
                    _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "x", headers: stale))
                }
            }
            await producer.close()
            let send = try capture.span(named: "send \(topic)", in: await capture.spans())
            let reader = try cluster.makeConsumer(group: "stale-\(UUID())", topic: topic)
            let message = try #require(try await collect(1, from: reader).first)
            await reader.close()
            #expect(message.headers.map(\.key) == ["app", "traceparent"])
            #expect(self.values("traceparent", in: message) == [TraceParent.format(send.spanContext)])
        }
    }

    @Test("under InMemoryTracer (no W3C headers written) and with no tracer, no trace header survives; configured propagators' fields go too")
    func otherTracersRemoveOwnedHeaders() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("stale-other-tracers", partitions: 1)
            let options = KafkaTracingOptions(traceHeaders: .b3.union(.jaeger))
            let producer = TracedProducer(wrapping: try cluster.makeProducer(), options: options)
            let stale: [KafkaHeader] = [
                KafkaHeader(key: "traceparent", value: "00-00000000000000000000000000000c00-00000000000000c0-01"),
                KafkaHeader(key: "tracestate", value: "other=trace"),
                KafkaHeader(key: "baggage", value: "user=someone-else"),
                KafkaHeader(key: "X-B3-TraceId", value: "00000000000000000000000000000c00"),
                KafkaHeader(key: "b3", value: "00000000000000000000000000000c00-00000000000000c0-1"),
                KafkaHeader(key: "uber-trace-id", value: "c00:c0:0:1"),
                KafkaHeader(key: "uberctx-user", value: "someone-else"),
                KafkaHeader(key: "app", value: "kept"),
            ]
            let tracer = InMemoryTracer()
            try await withTracer(tracer) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "in-memory", headers: stale))
            }
            // No tracer at all (the tests bootstrap none): nothing is injected, nothing stale is sent.
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "none", headers: stale))
            await producer.close()

            let reader = try cluster.makeConsumer(group: "stale-other-\(UUID())", topic: topic)
            let messages = try await collect(2, from: reader)
            await reader.close()
            let inMemory = try #require(messages.first { $0.valueString == "in-memory" })
            let none = try #require(messages.first { $0.valueString == "none" })
            let spanID = try #require(tracer.finishedSpans.first?.context.inMemorySpanContext?.spanID)
            #expect(inMemory.headers.map(\.key) == ["app", InMemoryTracer.traceIDKey, InMemoryTracer.spanIDKey])
            #expect(self.values(InMemoryTracer.spanIDKey, in: inMemory) == [spanID])
            #expect(none.headers.map(\.key) == ["app"])
        }
    }

    @Test("a tracer offering SpanContextInjectingTracer writes the headers from the span; when it declines, span.context is injected; stale headers go either way")
    func spanContextInjectingTracer() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("span-injecting", partitions: 1)
            let producer = TracedProducer(wrapping: try cluster.makeProducer())
            let stale = [KafkaHeader(key: "app", value: "kept"), KafkaHeader(key: "traceparent", value: "00-00000000000000000000000000000d00-00000000000000d0-01")]
            let tracer = SpanInjectingTracer()
            try await withTracer(tracer) {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "from-span", headers: stale))
                tracer.declines.store(true, ordering: .relaxed)
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "declined", headers: stale))
            }
            await producer.close()

            let reader = try cluster.makeConsumer(group: "span-injecting-\(UUID())", topic: topic)
            let messages = try await collect(2, from: reader)
            await reader.close()
            let spans = tracer.base.finishedSpans
            #expect(spans.count == 2)
            let fromSpan = try #require(messages.first { $0.valueString == "from-span" })
            let declined = try #require(messages.first { $0.valueString == "declined" })
            #expect(fromSpan.headers.map(\.key) == ["app", SpanInjectingTracer.markerKey])
            #expect(self.values(SpanInjectingTracer.markerKey, in: fromSpan) == [spans[0].spanContext.spanID])
            #expect(declined.headers.map(\.key) == ["app", InMemoryTracer.traceIDKey, InMemoryTracer.spanIDKey])
            #expect(self.values(InMemoryTracer.spanIDKey, in: declined) == [spans[1].spanContext.spanID])
        }
    }
}
