import Foundation
import Kafka
import KafkaTracing
@_spi(Benchmarks) import KafkaTracing
import Metrics
import MetricsTestKit
import Testing
import Tracing
import TracingSDK

/// Dimensions as a dictionary, to find a series whatever their order.
private func dimensions(_ pairs: [(String, String)]) -> [String: String] {
    Dictionary(pairs, uniquingKeysWith: { _, last in last })
}

private func matches(_ pairs: [(String, String)], _ expected: [String: String]) -> Bool {
    let actual = dimensions(pairs)
    return expected.allSatisfy { actual[$0.key] == $0.value }
}

extension KafkaIntegrationTests {
    @Test("producer metrics with no tracer: N sent → messaging.client.sent.messages N, and N operation durations")
    func producerMetrics() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("metrics-send", partitions: 1)
            let metrics = TestMetrics()
            // Instruments come from the factory in force when the producer is made.
            let producer = try withMetricsFactory(metrics) { TracedProducer(wrapping: try cluster.makeProducer()) }
            do {
                for index in 0..<5 {
                    if index % 2 == 0 {
                        try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)"))
                    } else {
                        _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "m\(index)"))
                    }
                }
                await producer.flush()
            }
            await producer.close()
            let expected = [
                "messaging.system": "kafka", "messaging.operation.name": "send",
                "messaging.destination.name": topic, "messaging.destination.partition.id": "0",
                "server.address": "127.0.0.1",
            ]
            let sent = metrics.counters(label: MessagingMetricName.sentMessages).filter { matches($0.dimensions, expected) }
            #expect(sent.map(\.totalValue).reduce(0, +) == 5)
            #expect(sent.allSatisfy { dimensions($0.dimensions)["error.type"] == nil })
            let durations = metrics.timers(label: MessagingMetricName.operationDuration).filter {
                matches($0.dimensions, expected.merging(["messaging.operation.type": "send"]) { $1 })
            }
            let values = durations.flatMap(\.values)
            #expect(values.count == 5)
            #expect(values.allSatisfy { $0 > 0 && $0 < 30_000_000_000 })
        }
    }

    @Test("a failed delivery and a refused enqueue are counted with error.type; a client made with no metrics backend measures nothing")
    func producerMetricsFailure() async throws {
        try await withLeakCheck {
            var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])
            configuration.messageTimeout = .milliseconds(300)
            let metrics = TestMetrics()
            let producer = try withMetricsFactory(metrics) {
                TracedProducer(wrapping: try KafkaProducer(configuration: configuration, logger: TestCluster.quietLogger))
            }
            // Made outside withMetricsFactory: swift-metrics' no-op factory, so nothing is made.
            let unmeasured = TracedProducer(wrapping: try KafkaProducer(configuration: configuration, logger: TestCluster.quietLogger))
            for traced in [producer, unmeasured] {
                await #expect(throws: KafkaError.self) {
                    _ = try await traced.sendAndWait(KafkaProducerMessage(topic: "nowhere", value: "x"))
                }
                // Refused before librdkafka takes it: larger than message.max.bytes.
                await #expect(throws: KafkaError.self) {
                    try await traced.send(KafkaProducerMessage(topic: "nowhere", value: [UInt8](repeating: 0, count: 2_000_000)))
                }
            }
            await producer.close()
            await unmeasured.close()
            let sent = metrics.counters(label: MessagingMetricName.sentMessages)
            let byError = Dictionary(grouping: sent) { dimensions($0.dimensions)["error.type"] ?? "none" }
                .mapValues { $0.map(\.totalValue).reduce(0, +) }
            #expect(byError == ["_MSG_TIMED_OUT": 1, "MSG_SIZE_TOO_LARGE": 1], "\(byError)")
            // Only the delivered-or-failed report has a duration.
            #expect(metrics.timers(label: MessagingMetricName.operationDuration).flatMap(\.values).count == 1)
        }
    }

    @Test("consumer metrics: consumed N, process durations equal to the process spans', queue time ≥ the time messages waited, age per partition")
    func consumerMetrics() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("metrics-consume", partitions: 2)
            let producer = try cluster.makeProducer()
            for index in 0..<6 {
                _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, partition: Int32(index % 2), value: "m\(index)"))
            }
            await producer.close()
            let waited = Duration.milliseconds(1500)
            try await Task.sleep(for: waited)

            let metrics = TestMetrics()
            let capture = TraceCapture()
            let consumer = try withMetricsFactory(metrics) { try self.tracedConsumer(cluster, topic: topic) }
            let group = consumer.consumer.configuration.groupID
            do {
                try await withTracer(capture.tracer) {
                    try await self.consume(6, with: consumer) { _ in try await Task.sleep(for: .milliseconds(20)) }
                }
            }
            let expected = [
                "messaging.system": "kafka", "messaging.operation.name": "process",
                "messaging.destination.name": topic, "messaging.consumer.group.name": group,
            ]
            let consumed = metrics.counters(label: MessagingMetricName.consumedMessages).filter { matches($0.dimensions, expected) }
            #expect(consumed.map(\.totalValue).reduce(0, +) == 6)
            #expect(Set(consumed.compactMap { dimensions($0.dimensions)["messaging.destination.partition.id"] }) == ["0", "1"])

            let durations = metrics.timers(label: MessagingMetricName.processDuration).filter { matches($0.dimensions, expected) }
                .flatMap(\.values).sorted()
            let spans = await capture.spans().filter { $0.name == "process \(topic)" }
            let spanDurations = spans.map { Int64($0.endNanosecondsSinceEpoch - $0.startNanosecondsSinceEpoch) }.sorted()
            #expect(durations.count == 6 && spanDurations.count == 6)
            // …on the wall clock, as a tracer's own instants are (derived from the monotonic reading).
            let wallNow = UInt64(Date().timeIntervalSince1970 * 1e9)
            #expect(spans.allSatisfy { wallNow - 60_000_000_000 < $0.startNanosecondsSinceEpoch && $0.endNanosecondsSinceEpoch <= wallNow + 1_000_000_000 })
            for (metric, span) in zip(durations, spanDurations) {
                #expect(metric >= 20_000_000)
                // The span is started and ended at the metrics' own clock readings: the same duration
                // (up to the wall-clock offset's refresh, once a second: nanoseconds of drift).
                #expect(abs(metric - span) < 50_000, "process.duration \(metric) ns vs span \(span) ns")
            }

            let queueTimes = metrics.timers(label: MessagingMetricName.queueTime).filter { matches($0.dimensions, expected) }
                .flatMap(\.values)
            #expect(queueTimes.count == 6)
            #expect(queueTimes.allSatisfy { $0 >= Int64(waited.components.seconds) * 1_000_000_000 + Int64(waited.components.attoseconds / 1_000_000_000) })

            let ages = metrics.recorders(label: MessagingMetricName.consumerLagSeconds).filter { matches($0.dimensions, expected) }
            #expect(ages.count == 2)
            #expect(ages.allSatisfy { ($0.lastValue ?? 0) >= 1.5 })
        }
    }

    @Test("a retried handler: the message is consumed once, each attempt has a process duration, the failed one with error.type")
    func consumerMetricsRetry() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("metrics-retry", partitions: 1)
            let producer = try cluster.makeProducer()
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "flaky"))
            await producer.close()
            let metrics = TestMetrics()
            let consumer = try withMetricsFactory(metrics) {
                try self.tracedConsumer(cluster, topic: topic, policy: .stop(retries: 1, backoff: .milliseconds(10)))
            }
            let attempts = LockedValues<Int>()
            try await self.consume(1, with: consumer) { _ in
                attempts.append(1)
                if attempts.count == 1 { throw TestFailure(reason: "first attempt") }
            }
            let consumed = metrics.counters(label: MessagingMetricName.consumedMessages)
            #expect(consumed.map(\.totalValue).reduce(0, +) == 1)
            #expect(consumed.allSatisfy { dimensions($0.dimensions)["error.type"] == nil })
            let durations = metrics.timers(label: MessagingMetricName.processDuration)
            let failed = durations.filter { dimensions($0.dimensions)["error.type"] != nil }
            #expect(failed.flatMap(\.values).count == 1)
            #expect(failed.first.map { dimensions($0.dimensions)["error.type"] } == String(reflecting: TestFailure.self))
            #expect(durations.filter { dimensions($0.dimensions)["error.type"] == nil }.flatMap(\.values).count == 1)
        }
    }
}

extension KafkaIntegrationTests {
    @Test("consumer lag from librdkafka's statistics: rises while the handler is paused, falls to 0 once it catches up")
    func consumerLagGauge() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let topic = try await cluster.makeTopic("metrics-lag", partitions: 1)
            let producer = try cluster.makeProducer()
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "first"))

            let metrics = TestMetrics()
            var options = KafkaTracingOptions()
            options.clientStatisticsInterval = .milliseconds(100)
            let consumer = try withMetricsFactory(metrics) { try self.tracedConsumer(cluster, topic: topic, options: options) }
            let group = consumer.consumer.configuration.groupID
            let paused = LockedState(false)
            let handled = LockedValues<Int64>()
            func lag() -> Double? {
                metrics.recorders(label: MessagingMetricName.consumerLag).first {
                    matches($0.dimensions, [
                        "messaging.system": "kafka", "messaging.consumer.group.name": group,
                        "messaging.destination.name": topic, "messaging.destination.partition.id": "0",
                    ])
                }?.lastValue
            }
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await consumer.run { message in
                        while paused.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
                        handled.append(message.offset)
                    }
                }
                try await eventually("the first message is handled and the lag is 0") { handled.count == 1 && lag() == 0 }
                paused.withLock { $0 = true }
                for index in 0..<20 { try await producer.send(KafkaProducerMessage(topic: topic, value: "m\(index)")) }
                #expect(await producer.flush(timeout: .seconds(20)))
                // The handler holds message 1 (offset not stored): 20 behind the high watermark.
                try await eventually("the lag reaches 20 while paused") { lag() == 20 }
                #expect(handled.count <= 2)
                paused.withLock { $0 = false }
                try await eventually("the lag falls to 0 once caught up") { handled.count == 21 && lag() == 0 }
                await consumer.close()
                try await tasks.waitForAll()
            }
            await producer.close()
            let fetchQueue = metrics.recorders(label: MessagingMetricName.fetchQueueMessages).filter {
                matches($0.dimensions, ["messaging.destination.name": topic, "messaging.consumer.group.name": group])
            }
            #expect(fetchQueue.count == 1)
            // Round-trip times of the embedded broker, per broker id.
            let rtt = metrics.recorders(label: MessagingMetricName.brokerRoundTripAverage).filter {
                matches($0.dimensions, ["messaging.consumer.group.name": group, "server.address": "127.0.0.1"])
            }
            #expect(!rtt.isEmpty)
            #expect(rtt.allSatisfy { ($0.lastValue ?? -1) >= 0 && ($0.lastValue ?? 99) < 5 && dimensions($0.dimensions)["messaging.kafka.broker.id"] != nil })
        }
    }

    @Test("producer gauges from statistics: messages and bytes queued rise while the broker is down and fall to 0 after delivery", .enabled(if: TestCluster.usesEmbeddedBroker, "fault injection needs the embedded broker"))
    func producerQueueGauges() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let broker = try #require(cluster.embedded)
            let topic = try await cluster.makeTopic("metrics-queue", partitions: 1)
            let metrics = TestMetrics()
            var options = KafkaTracingOptions()
            options.clientStatisticsInterval = .milliseconds(100)
            let producer = try withMetricsFactory(metrics) {
                try TracedProducer(configuration: cluster.producerConfiguration(), options: options, logger: TestCluster.quietLogger)
            }
            _ = try await producer.sendAndWait(KafkaProducerMessage(topic: topic, value: "warm-up"))
            func gauge(_ label: String) -> Double? {
                metrics.recorders(label: label).first { matches($0.dimensions, ["messaging.system": "kafka"]) }?.lastValue
            }
            try broker.setBrokerDown(1)
            for index in 0..<10 { try await producer.send(KafkaProducerMessage(topic: topic, value: "queued-\(index)")) }
            try await eventually("10 messages queued") { gauge(MessagingMetricName.producerQueueMessages) == 10 }
            #expect((gauge(MessagingMetricName.producerQueueBytes) ?? 0) >= 10 * 8)
            try broker.setBrokerUp(1)
            await producer.flush()
            try await eventually("nothing queued after delivery") {
                gauge(MessagingMetricName.producerQueueMessages) == 0 && gauge(MessagingMetricName.producerQueueBytes) == 0
            }
            await producer.close()
        }
    }
}

/// The benchmarks' probe runs the instrumentation's own per-message code: what it records is what
/// a traced client records (so the benchmark that isolates the metrics' cost measures that code).
@Suite("MessagingMetricsProbe")
struct MessagingMetricsProbeTests {
    @Test("the probe records a delivery and a handled message into the same series a traced client makes")
    func probeRecordsTheClientsSeries() throws {
        let metrics = TestMetrics()
        let producer = try #require(withMetricsFactory(metrics) { MessagingMetricsProbe() })
        for _ in 0..<3 { producer.delivered(topic: "orders", topicIdentity: 7, partition: 2, latencyMicroseconds: 1500) }
        let sent = metrics.counters(label: MessagingMetricName.sentMessages)
        #expect(sent.count == 1)
        #expect(sent.first?.totalValue == 3)
        #expect(sent.first.map { matches($0.dimensions, ["messaging.destination.name": "orders", "messaging.destination.partition.id": "2", "messaging.operation.name": "send", "server.port": "9092"]) } == true)
        #expect(metrics.timers(label: MessagingMetricName.operationDuration).flatMap(\.values) == [1_500_000, 1_500_000, 1_500_000])

        var consumer = try #require(withMetricsFactory(metrics) { MessagingMetricsProbe(consumerGroup: "billing") })
        let timestamp = KafkaTimestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000) - 2000, kind: .createTime)
        consumer.processed([KafkaConsumerMessage(topic: "orders", partition: 1, offset: 0, key: nil, value: [1], timestamp: timestamp)])
        let consumed = metrics.counters(label: MessagingMetricName.consumedMessages)
        #expect(consumed.first?.totalValue == 1)
        #expect(consumed.first.map { matches($0.dimensions, ["messaging.consumer.group.name": "billing", "messaging.operation.name": "process"]) } == true)
        #expect((metrics.timers(label: MessagingMetricName.queueTime).first?.values.first ?? 0) >= 2_000_000_000)
        #expect(metrics.timers(label: MessagingMetricName.processDuration).flatMap(\.values).count == 1)
        #expect((metrics.recorders(label: MessagingMetricName.consumerLagSeconds).first?.lastValue ?? 0) >= 2)
        // A loop keeps the last partition's instruments: messages of other partitions and topics
        // in between still land in their own series, and the lag gauge follows every change of age.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (topic, partition, age) in [("orders", 1, 9000), ("orders", 2, 4000), ("orders", 1, 3000), ("refunds", 1, 8000), ("orders", 1, 3000)] {
            let old = KafkaTimestamp(milliseconds: now - Int64(age), kind: .createTime)
            consumer.processed([KafkaConsumerMessage(topic: topic, partition: Int32(partition), offset: 1, key: nil, value: [1], timestamp: old)])
        }
        func series(_ topic: String, _ partition: Int) -> [String: String] {
            ["messaging.destination.name": topic, "messaging.destination.partition.id": String(partition)]
        }
        func consumedCount(_ topic: String, _ partition: Int) -> Int64? {
            metrics.counters(label: MessagingMetricName.consumedMessages).first { matches($0.dimensions, series(topic, partition)) }?.totalValue
        }
        func lag(_ topic: String, _ partition: Int) -> Double? {
            metrics.recorders(label: MessagingMetricName.consumerLagSeconds).first { matches($0.dimensions, series(topic, partition)) }?.lastValue
        }
        #expect(consumedCount("orders", 1) == 4 && consumedCount("orders", 2) == 1 && consumedCount("refunds", 1) == 1)
        #expect(lag("orders", 1).map { (3...5).contains($0) } == true, "\(String(describing: lag("orders", 1)))")
        #expect(lag("orders", 2).map { (4...6).contains($0) } == true)
        #expect(lag("refunds", 1).map { (8...10).contains($0) } == true)
        // Beyond the table's 2000 attribute sets, instruments are made per use: nothing is lost.
        let many = try #require(withMetricsFactory(metrics) { MessagingMetricsProbe() })
        for round in 0..<2 {
            for index in 0..<2100 {
                many.delivered(topic: "t\(index)", topicIdentity: UInt(100 + index), partition: 0, latencyMicroseconds: Int64(10 + round))
            }
        }
        let perTopic = Dictionary(
            metrics.counters(label: MessagingMetricName.sentMessages).map { (dimensions($0.dimensions)["messaging.destination.name"] ?? "", $0.totalValue) },
            uniquingKeysWith: +
        )
        #expect((0..<2100).allSatisfy { perTopic["t\($0)"] == 2 })
        // No backend, no probe: nothing is measured at all, as for a client.
        #expect(withMetricsFactory(NOOPMetricsHandler.instance) { MessagingMetricsProbe() } == nil)
    }
}
