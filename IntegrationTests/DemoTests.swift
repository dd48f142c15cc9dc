import Foundation
import Kafka
import OTLPTestReceiver
import SwiftProtobuf
import Testing

@testable import OTLPExporter

/// The `kafka-tracing-demo` executable, run as a user runs it: its own process, talking to a broker
/// over TCP and to an in-process OTLP receiver over HTTP.
extension KafkaIntegrationTests {
    @Test("every command answers --help; bad flags and bad OTEL_* values exit non-zero with a message")
    func demoHelpAndBadInput() async throws {
        let commands = ["pipeline", "produce", "consume", "relay", "broker"]
        let top = try await DemoProcess.run(["--help"])
        #expect(top.status == 0)
        for command in commands { #expect(top.output.contains(command), "--help does not list \(command)") }
        for command in commands {
            let help = try await DemoProcess.run([command, "--help"])
            #expect(help.status == 0, "\(command) --help: \(help.errors)")
            #expect(help.output.contains("USAGE: kafka-tracing-demo \(command)"), "\(command) --help: \(help.output)")
        }

        let badFlag = try await DemoProcess.run(["produce", "--topic", "t", "--count", "many"])
        #expect(badFlag.status != 0)
        #expect(badFlag.errors.contains("--count"), "\(badFlag.errors)")
        let badValue = try await DemoProcess.run(["pipeline", "--orders", "0"])
        #expect(badValue.status != 0 && badValue.errors.contains("--orders must be at least 1"))
        let unknown = try await DemoProcess.run(["pipeline", "--colour", "red"])
        #expect(unknown.status != 0 && unknown.errors.contains("--colour"))

        let badSampler = try await DemoProcess.run(["pipeline"], environment: ["OTEL_TRACES_SAMPLER": "sometimes"])
        #expect(badSampler.status == 1)
        #expect(badSampler.errors.contains("Error: OTEL_TRACES_SAMPLER=sometimes is not valid"), "\(badSampler.errors)")
        #expect(!badSampler.output.contains("Running"), "the demo started despite a bad configuration")
        let thrift = try await DemoProcess.run(
            ["pipeline", "--otlp-endpoint", "http://127.0.0.1:4318"],
            environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"]
        )
        #expect(thrift.status == 1 && thrift.errors.contains("OTEL_EXPORTER_OTLP_PROTOCOL=thrift is not an OTLP protocol"), "\(thrift.errors)")
    }

    @Test("OTEL_EXPORTER_OTLP_PROTOCOL=grpc: the demo exports its traces and metrics over gRPC (Jaeger's port 4317)")
    func demoOverGRPC() async throws {
        let receiver = try await OTLPGRPCReceiver.start()
        var arguments = ["pipeline", "--orders", "2", "--otlp-endpoint", receiver.endpoint]
        if let external = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"], !external.isEmpty {
            arguments += ["--bootstrap-servers", external, "--topic-suffix", "-\(UInt32.random(in: 0...UInt32.max))"]
        }
        let run = try await DemoProcess.run(arguments, environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"])
        await receiver.stop()
        #expect(run.status == 0, "the pipeline failed: \(run.errors)")
        let traces = try receiver.requests.filter { $0.method.hasSuffix("TraceService/Export") }.map {
            try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest(serializedBytes: $0.body)
        }
        let spans = traces.flatMap(\.resourceSpans).flatMap(\.scopeSpans).flatMap(\.spans)
        #expect(Set(spans.map(\.traceID)).count == 2, "one trace per order")
        #expect(spans.filter { $0.name == "POST /orders" }.count == 2)
        let metrics = try receiver.requests.filter { $0.method.hasSuffix("MetricsService/Export") }.map {
            try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest(serializedBytes: $0.body)
        }
        let names = Set(metrics.flatMap(\.resourceMetrics).flatMap(\.scopeMetrics).flatMap(\.metrics).map(\.name))
        #expect(names.contains("messaging.client.sent.messages"), "\(names)")
    }

    @Test("the pipeline exports each order's complete trace over OTLP: four services, both topics, the declined payment")
    func demoPipelineEndToEnd() async throws {
        let receiver = try await OTLPReceiver.start()
        defer { Task { await receiver.stop() } }
        var arguments = ["pipeline", "--orders", "3", "--fail-every", "3", "--otlp-endpoint", "http://127.0.0.1:\(receiver.port)"]
        var topicSuffix = ""
        if let external = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP_SERVERS"], !external.isEmpty {
            topicSuffix = "-\(UInt32.random(in: 0...UInt32.max))"
            arguments += ["--bootstrap-servers", external, "--topic-suffix", topicSuffix]
        }
        let run = try await DemoProcess.run(arguments)
        #expect(run.status == 0, "the pipeline failed: \(run.errors)")
        #expect(run.output.contains("Done: 3 orders, 1 declined"), "\(run.output)")
        // The console tree is printed as well.
        #expect(run.output.contains("└─ create order [order-service]"), "\(run.output)")

        let spans = try ExportedSpan.decode(receiver.requests)
        let traces = Dictionary(grouping: spans, by: \.traceID)
        #expect(traces.count == 3, "expected one trace per order, got \(traces.count)")

        for (_, trace) in traces {
            #expect(trace.count >= 5)
            let root = try #require(trace.first { $0.span.parentSpanID.isEmpty }, "a trace without a root")
            #expect(trace.filter { $0.span.parentSpanID.isEmpty }.count == 1)
            #expect(root.span.name == "POST /orders" && root.service == "frontend" && root.span.kind == .server)

            let createOrder = try trace.child(of: root, named: "create order", service: "order-service", kind: .internal)
            let sendOrders = try trace.child(of: createOrder, named: "send orders", service: "order-service", kind: .producer)
            #expect(sendOrders.attribute("messaging.system") == "kafka")
            #expect(sendOrders.attribute("messaging.destination.name") == "orders\(topicSuffix)")
            #expect(sendOrders.attribute("messaging.operation.type") == "send")
            #expect(sendOrders.attribute("messaging.kafka.offset") != nil, "the PRODUCER span ends at the delivery report")
            let orderKey = try #require(sendOrders.attribute("messaging.kafka.message.key"))

            let processOrders = try trace.child(of: sendOrders, named: "process orders", service: "inventory-service", kind: .consumer)
            #expect(processOrders.attribute("messaging.consumer.group.name") == "inventory\(topicSuffix)")
            #expect(processOrders.attribute("messaging.operation.type") == "process")
            #expect(processOrders.span.links.map(\.spanID) == [sendOrders.span.spanID], "the CONSUMER span links to the producer")
            _ = try trace.child(of: processOrders, named: "reserve stock", service: "inventory-service", kind: .internal)
            let sendPayments = try trace.child(of: processOrders, named: "send payments", service: "inventory-service", kind: .producer)

            let attempts = trace.filter { $0.span.parentSpanID == sendPayments.span.spanID }
            #expect(attempts.allSatisfy { $0.span.name == "process payments" && $0.service == "payment-service" && $0.span.kind == .consumer })
            for attempt in attempts {
                _ = try trace.child(of: attempt, named: "charge card", service: "payment-service", kind: .internal)
            }
            if orderKey == "order-3" {
                // Declined: one retry, both attempts failed, then dead-lettered from the last one.
                #expect(attempts.count == 2)
                for attempt in attempts {
                    #expect(attempt.span.status.code == .error)
                    #expect(attempt.span.status.message == "card declined for order-3")
                    #expect(attempt.attribute("error.type")?.hasSuffix("PaymentDeclined") == true)
                    #expect(attempt.span.events.contains { $0.name == "exception" })
                }
                // (The dead-letter message carries the failed attempt's context in its headers; the
                // dead-letter policy sends it with the raw producer, so it adds no span.)
            } else {
                #expect(attempts.count == 1)
                #expect(attempts.allSatisfy { $0.span.status.code != .error })
                #expect(!trace.contains { $0.span.status.code == .error })
            }
        }
        let keys = Set(traces.values.compactMap { $0.first { $0.span.name == "send orders" }?.attribute("messaging.kafka.message.key") })
        #expect(keys == ["order-1", "order-2", "order-3"])

        // The metrics went to the same collector: 3 orders sent and consumed, from the demo's resource.
        let metricsRequests = try receiver.requests.filter { $0.uri == "/v1/metrics" }.map {
            try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest(serializedBytes: $0.body)
        }
        let metrics = metricsRequests.flatMap(\.resourceMetrics).flatMap(\.scopeMetrics).flatMap(\.metrics)
        func total(_ name: String, topic: String) -> Int64 {
            // (Cumulative: the last export has the totals.)
            let points = metrics.filter { $0.name == name }.last?.sum.dataPoints ?? []
            return points.filter { $0.attributes.contains { $0.key == "messaging.destination.name" && $0.value.stringValue == topic } }
                .map(\.asInt).reduce(0, +)
        }
        #expect(total("messaging.client.sent.messages", topic: "orders\(topicSuffix)") == 3)
        #expect(total("messaging.client.consumed.messages", topic: "orders\(topicSuffix)") == 3)
        #expect(metrics.contains { $0.name == "messaging.process.duration" && $0.unit == "s" })
        // And the summary under the trees.
        #expect(run.output.contains("Metrics (messaging.*"), "\(run.output)")
    }

    @Test("a relay SIGKILLed mid-stream and restarted: every message arrives at least once; duplicates at most what was handled but not yet committed")
    func relayCrashAndRestart() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let source = try await cluster.makeTopic("crash-in", partitions: 2)
            let sink = try await cluster.makeTopic("crash-out", partitions: 2)
            let count = 400
            let producer = try cluster.makeProducer()
            for index in 0..<count {
                try await producer.send(KafkaProducerMessage(topic: source, key: "k\(index % 7)", value: "m\(index)"))
            }
            #expect(await producer.flush(timeout: .seconds(30)))
            await producer.close()

            // Everything that reaches the sink, with when it arrived.
            let arrivals = LockedState<[(value: String, at: ContinuousClock.Instant)]>([])
            let reader = try cluster.makeConsumer(group: "crash-reader-\(UUID())", topic: sink)
            let reading = Task {
                for try await message in reader.messages {
                    let value = message.valueString ?? ""
                    arrivals.withLock { $0.append((value, .now)) }
                }
            }
            let commitInterval = Duration.seconds(1)
            let relayArguments = [
                "relay", "--from", source, "--to", sink, "--group", "crash-relay-\(UUID())", "--work-ms", "10",
                "--bootstrap-servers", cluster.bootstrapServers,
                "--kafka-property", "auto.commit.interval.ms=\(commitInterval.components.seconds * 1000)",
                "--kafka-property", "session.timeout.ms=6000",
            ]
            let quiet = ["OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"]

            let first = try DemoProcess.start(relayArguments, environment: quiet)
            try await eventually(timeout: .seconds(60), "the first relay has relayed 150 messages") { arrivals.withLock { $0.count } >= 150 }
            kill(first.process.processIdentifier, SIGKILL)
            let killedAt = ContinuousClock.now
            let killed = try await first.wait(timeout: .seconds(10))
            #expect(killed.status == SIGKILL)

            let second = try DemoProcess.start(relayArguments, environment: quiet)
            try await eventually(timeout: .seconds(90), "every message reaches the sink") {
                Set(arrivals.withLock { $0.map(\.value) }).count == count
            }
            second.terminate()
            let stopped = try await second.wait(timeout: .seconds(60))
            #expect(stopped.status == 0, "\(stopped.errors)")
            reading.cancel()
            await reader.close()
            _ = try? await reading.value

            let all = arrivals.withLock { $0 }
            let values = all.map(\.value)
            #expect(Set(values) == Set((0..<count).map { "m\($0)" }), "none lost")
            let duplicates = values.count - Set(values).count
            // A restarted relay re-reads from the last commit: it repeats at most what the killed
            // one had handled since (stored, committed every second) plus the message in hand.
            let uncommittedWindow = all.filter { $0.at > killedAt - commitInterval * 2 && $0.at <= killedAt + .milliseconds(500) }.count
            print("relay crash: \(values.count) arrivals, \(duplicates) duplicates, \(uncommittedWindow) relayed in the last two commit intervals")
            #expect(duplicates <= uncommittedWindow + 1, "\(duplicates) duplicates; \(uncommittedWindow) relayed in the last two commit intervals")
        }
    }

    @Test("produce → relay → consume, three processes: each message's trace continues through the relay")
    func demoToolsEndToEnd() async throws {
        try await withLeakCheck {
            let cluster = try TestCluster()
            let first = try await cluster.makeTopic("demo-in", partitions: 2)
            let second = try await cluster.makeTopic("demo-out", partitions: 2)
            let receiver = try await OTLPReceiver.start()
            defer { Task { await receiver.stop() } }
            let common = ["--bootstrap-servers", cluster.bootstrapServers, "--otlp-endpoint", "http://127.0.0.1:\(receiver.port)"]

            let produce = try await DemoProcess.run(["produce", "--topic", first, "--count", "4", "--key", "k"] + common)
            #expect(produce.status == 0, "\(produce.errors)")
            #expect(produce.output.contains("Sent 4 of 4 messages to \(first) (0 failed)"), "\(produce.output)")
            let relay = try await DemoProcess.run(["relay", "--from", first, "--to", second, "--group", "relay-\(UUID())", "--count", "4"] + common)
            #expect(relay.status == 0 && relay.output.contains("Relayed 4 messages"), "\(relay.output) \(relay.errors)")
            let consume = try await DemoProcess.run(["consume", "--topic", second, "--group", "sink-\(UUID())", "--count", "4"] + common)
            #expect(consume.status == 0, "\(consume.errors)")
            #expect(consume.output.components(separatedBy: "key=k 100 bytes").count - 1 == 4, "\(consume.output)")

            let traces = Dictionary(grouping: try ExportedSpan.decode(receiver.requests), by: \.traceID)
            #expect(traces.count == 4)
            for (_, trace) in traces {
                let root = try #require(trace.first { $0.span.parentSpanID.isEmpty })
                #expect(root.service == "kafka-tracing-demo-produce" && root.span.name.hasPrefix("produce "))
                let send = try trace.child(of: root, named: "send \(first)", service: "kafka-tracing-demo-produce", kind: .producer)
                let hop = try trace.child(of: send, named: "process \(first)", service: "kafka-tracing-demo-relay", kind: .consumer)
                let resend = try trace.child(of: hop, named: "send \(second)", service: "kafka-tracing-demo-relay", kind: .producer)
                _ = try trace.child(of: resend, named: "process \(second)", service: "kafka-tracing-demo-consume", kind: .consumer)
                #expect(trace.count == 5)
            }
        }
    }
}

/// One span of an OTLP request, with its resource's `service.name`.
struct ExportedSpan {
    var service: String
    var span: Opentelemetry_Proto_Trace_V1_Span
    var traceID: Data { self.span.traceID }

    func attribute(_ key: String) -> String? {
        guard let value = self.span.attributes.first(where: { $0.key == key })?.value.value else { return nil }
        switch value {
        case .stringValue(let string): return string
        case .intValue(let int): return String(int)
        case .boolValue(let bool): return String(bool)
        case .doubleValue(let double): return String(double)
        default: return "\(value)"
        }
    }

    /// Decodes every request the receiver got (protobuf, the exporter's default).
    static func decode(_ requests: [OTLPReceiver.Request]) throws -> [ExportedSpan] {
        var spans: [ExportedSpan] = []
        // (The pipeline also posts its metrics, to /v1/metrics.)
        for request in requests where request.uri != "/v1/metrics" {
            #expect(request.uri == "/v1/traces" && request.headers["Content-Type"] == ["application/x-protobuf"])
            let decoded = try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest(serializedBytes: request.body)
            for resourceSpans in decoded.resourceSpans {
                let service = resourceSpans.resource.attributes.first { $0.key == "service.name" }?.value.stringValue ?? "?"
                for scope in resourceSpans.scopeSpans {
                    spans += scope.spans.map { ExportedSpan(service: service, span: $0) }
                }
            }
        }
        return spans
    }
}

extension [ExportedSpan] {
    /// The one child of `parent` with this name, checked for its service and kind.
    func child(
        of parent: ExportedSpan,
        named name: String,
        service: String,
        kind: Opentelemetry_Proto_Trace_V1_Span.SpanKind
    ) throws -> ExportedSpan {
        let matches = self.filter { $0.span.parentSpanID == parent.span.spanID && $0.span.name == name }
        let child = try #require(
            matches.first,
            "no \(name) under \(parent.span.name); its children: \(self.filter { $0.span.parentSpanID == parent.span.spanID }.map(\.span.name))"
        )
        #expect(matches.count == 1, "\(matches.count) spans named \(name) under \(parent.span.name)")
        #expect(child.service == service, "\(name) is in \(child.service), not \(service)")
        #expect(child.span.kind == kind, "\(name) is \(child.span.kind), not \(kind)")
        return child
    }
}

/// Runs the demo executable built beside the tests.
enum DemoProcess {
    struct Result {
        var status: Int32
        var output: String
        var errors: String
    }

    static var executable: URL {
        get throws {
            let name = "kafka-tracing-demo"
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            let candidates = [
                URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name),
                root.appendingPathComponent(".build/debug/\(name)"),
            ]
            return try #require(
                candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) },
                "\(name) is not built; looked at \(candidates.map(\.path)) (swift test builds it)"
            )
        }
    }

    /// A running demo process.
    final class Running: @unchecked Sendable {
        let process: Process
        let arguments: [String]
        let directory: URL
        let output: FileHandle
        let errors: FileHandle

        init(process: Process, arguments: [String], directory: URL, output: FileHandle, errors: FileHandle) {
            self.process = process
            self.arguments = arguments
            self.directory = directory
            self.output = output
            self.errors = errors
        }

        /// What it printed so far.
        var outputSoFar: String { (try? String(contentsOf: self.directory.appendingPathComponent("stdout"), encoding: .utf8)) ?? "" }

        /// Sends SIGTERM, as a container runtime does on shutdown.
        func terminate() { self.process.terminate() }

        /// Waits for the exit (killing the process after `timeout`).
        func wait(timeout: Duration = .seconds(120)) async throws -> Result {
            let deadline = ContinuousClock.now + timeout
            while self.process.isRunning, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            if self.process.isRunning {
                kill(self.process.processIdentifier, SIGKILL)
                Issue.record("kafka-tracing-demo \(self.arguments.joined(separator: " ")) did not finish within \(timeout)")
            }
            self.process.waitUntilExit()
            try self.output.close()
            try self.errors.close()
            defer { try? FileManager.default.removeItem(at: self.directory) }
            return Result(
                status: self.process.terminationStatus,
                output: try String(contentsOf: self.directory.appendingPathComponent("stdout"), encoding: .utf8),
                errors: try String(contentsOf: self.directory.appendingPathComponent("stderr"), encoding: .utf8)
            )
        }
    }

    /// Runs the demo with `arguments`, in an environment without the caller's `OTEL_*` and Kafka
    /// variables plus `environment`, and returns its exit status and output.
    static func run(
        _ arguments: [String],
        environment: [String: String] = [:],
        timeout: Duration = .seconds(120)
    ) async throws -> Result {
        try await self.start(arguments, environment: environment).wait(timeout: timeout)
    }

    /// Starts the demo with `arguments` (see ``run(_:environment:timeout:)``).
    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Running {
        let process = Process()
        process.executableURL = try self.executable
        process.arguments = arguments
        var variables = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("OTEL_") && $0.key != "KAFKA_BOOTSTRAP_SERVERS"
        }
        variables.merge(environment) { $1 }
        process.environment = variables
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let outputURL = directory.appendingPathComponent("stdout")
        let errorsURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorsURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputURL)
        let errors = try FileHandle(forWritingTo: errorsURL)
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return Running(process: process, arguments: arguments, directory: directory, output: output, errors: errors)
    }
}
