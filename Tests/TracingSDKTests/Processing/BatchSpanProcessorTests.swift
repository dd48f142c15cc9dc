import Locking
import Logging
import OTLPTestReceiver
import ServiceLifecycle
import Testing
import Tracing
@testable import TracingSDK

@Suite("Batch processor")
struct BatchSpanProcessorTests {
    func tracer(_ processor: any SpanProcessor) -> SDKTracer {
        SDKTracer(resource: Resource(), processor: processor, sampler: AlwaysOnSampler())
    }

    @Test("exports full batches without waiting for the schedule, and the rest on flush")
    func batches() async {
        let exporter = InMemorySpanExporter()
        var configuration = BatchSpanProcessor.Configuration()
        configuration.maxExportBatchSize = 10
        configuration.scheduleDelay = .seconds(60)
        let clock = TestClock()
        let processor = BatchSpanProcessor(exporter: exporter, configuration: configuration, clock: clock)
        let tracer = self.tracer(processor)
        for index in 0..<25 { tracer.startSpan("s\(index)").end() }
        // A full batch starts the export on its own: the test clock never moves, so the schedule
        // cannot be what sends it.
        #expect(await eventually { exporter.spans.count == 20 })
        #expect(clock.now.offset == .zero)
        await processor.forceFlush()
        #expect(exporter.spans.map(\.name) == (0..<25).map { "s\($0)" })
        #expect(processor.statistics == .init(exported: 25, droppedQueueFull: 0, failedExport: 0, queued: 0))
        await processor.shutdown()
        #expect(exporter.isShutDown)
    }

    @Test("exports on the schedule delay: not a moment before it, and at it")
    func schedule() async {
        let exporter = InMemorySpanExporter()
        var configuration = BatchSpanProcessor.Configuration()
        configuration.scheduleDelay = .seconds(5)
        let clock = TestClock()
        let processor = BatchSpanProcessor(exporter: exporter, configuration: configuration, clock: clock)
        self.tracer(processor).startSpan("one").end()
        #expect(await clock.waitForSleeper(until: .seconds(5)))
        clock.advance(by: .seconds(5) - .milliseconds(1))
        #expect(await eventually(yields: 10_000) { !exporter.spans.isEmpty } == false, "exported before the delay")
        clock.advance(by: .milliseconds(1))
        #expect(await eventually { exporter.spans.map(\.name) == ["one"] })
        await processor.shutdown()
    }

    @Test("a full queue drops the newest spans and counts them; the caller never waits")
    func queueFull() async {
        let exporter = GatedExporter()
        var configuration = BatchSpanProcessor.Configuration()
        configuration.maxQueueSize = 8
        configuration.maxExportBatchSize = 4
        let processor = BatchSpanProcessor(exporter: exporter, configuration: configuration)
        let tracer = self.tracer(processor)
        for index in 0..<100 { tracer.startSpan("s\(index)").end() }
        let statistics = processor.statistics
        // At most 8 queued plus one batch of 4 taken by the (blocked) exporter.
        #expect(statistics.droppedQueueFull >= 100 - 12)
        exporter.release()
        await processor.shutdown()
        let final = processor.statistics
        #expect(final.exported + final.droppedQueueFull == 100)
    }

    @Test("an export that outlasts the export timeout is abandoned at exactly the timeout and counted as failed")
    func exportTimeout() async {
        var configuration = BatchSpanProcessor.Configuration()
        configuration.exportTimeout = .milliseconds(100)
        let clock = TestClock()
        let processor = BatchSpanProcessor(exporter: HangingExporter(), configuration: configuration, clock: clock)
        for index in 0..<3 { self.tracer(processor).startSpan("s\(index)").end() }
        let done = Locked(false)
        let shutdown = Task {
            await processor.shutdown()
            done.withLock { $0 = true }
        }
        // The export started and waits for its timeout on the clock.
        #expect(await eventually { processor.isShuttingDown })
        #expect(await clock.waitForSleeper(until: .milliseconds(100)))
        clock.advance(by: .milliseconds(99))
        #expect(await eventually(yields: 10_000) { processor.statistics.failedExport > 0 } == false)
        clock.advance(by: .milliseconds(1))
        #expect(await eventually { done.withLock { $0 } }, "shutdown not over at the timeout")
        clock.advance(by: .seconds(3600))  // (a failing test must not hang)
        await shutdown.value
        #expect(processor.statistics.failedExport == 3)
    }

    @Test("shutdown ends after one export timeout even when many batches wait for a hung exporter")
    func shutdownDeadline() async {
        var configuration = BatchSpanProcessor.Configuration()
        configuration.maxQueueSize = 2_000
        configuration.maxExportBatchSize = 100
        configuration.scheduleDelay = .seconds(60)
        configuration.exportTimeout = .milliseconds(300)
        let clock = TestClock()
        let processor = BatchSpanProcessor(exporter: HangingExporter(), configuration: configuration, clock: clock)
        let tracer = self.tracer(processor)
        for index in 0..<2_000 { tracer.startSpan("s\(index)").end() }
        let done = Locked(false)
        let shutdown = Task {
            await processor.shutdown()
            done.withLock { $0 = true }
        }
        #expect(await eventually { processor.isShuttingDown })
        #expect(await clock.waitForSleeper(until: .milliseconds(300)))
        // One batch in flight, then the shared budget: one export timeout on the clock ends it all.
        clock.advance(by: .milliseconds(300))
        #expect(await eventually { done.withLock { $0 } }, "shutdown not over after one export timeout")
        clock.advance(by: .seconds(3600))  // (a failing test must not hang)
        await shutdown.value
        let statistics = processor.statistics
        #expect(statistics.exported == 0)
        #expect(statistics.failedExport == 2_000)
    }

    @Test("unsampled spans are not exported")
    func unsampledIgnored() async {
        let exporter = InMemorySpanExporter()
        let processor = BatchSpanProcessor(exporter: exporter)
        let tracer = SDKTracer(resource: Resource(), processor: processor, sampler: ErrorAndSlowTraceSampler(ratio: 0))
        tracer.startSpan("recorded-but-unsampled").end()
        await processor.forceFlush()
        #expect(exporter.spans.isEmpty)
        await processor.shutdown()
    }

    @Test("in a ServiceGroup, graceful shutdown exports what is queued")
    func serviceGroup() async throws {
        let exporter = InMemorySpanExporter()
        let processor = BatchSpanProcessor(exporter: exporter)
        let group = ServiceGroup(configuration: .init(services: [processor], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for index in 0..<5 { self.tracer(processor).startSpan("s\(index)").end() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(exporter.spans.count == 5)
        #expect(exporter.isShutDown)
    }
}

/// Yields (no wall-clock sleep) until `condition` holds, at most `yields` times.
func eventually(yields: Int = 1_000_000, _ condition: () -> Bool) async -> Bool {
    for _ in 0..<yields {
        if condition() { return true }
        await Task.yield()
    }
    return condition()
}
