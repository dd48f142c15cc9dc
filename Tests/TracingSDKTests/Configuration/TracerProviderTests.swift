import Locking
import Logging
import Testing
import Tracing
@testable import TracingSDK

/// Captures log messages, to check that bad configuration is reported.
final class CapturedLogs: Sendable {
    let messages = Locked<[String]>([])

    var logger: Logger {
        Logger(label: "test") { _ in CapturingHandler(logs: self) }
    }

    struct CapturingHandler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let metadata = (event.metadata ?? [:]).map { "\($0)=\($1)" }.sorted().joined(separator: " ")
            self.logs.messages.withLock { $0.append("\(event.level) \(event.message) \(metadata)") }
        }
    }
}

@Suite("Provider configuration")
struct TracerProviderTests {
    @Test("resource: code wins over OTEL_SERVICE_NAME, which wins over OTEL_RESOURCE_ATTRIBUTES")
    func resource() {
        let environment = [
            "OTEL_SERVICE_NAME": "from-env",
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes,team=pay%20ments,deployment.environment.name=prod",
        ]
        let fromEnvironment = TracerProvider(configuration: .init(exporters: [], environment: environment)).tracer.resource
        #expect(fromEnvironment.serviceName == "from-env")
        #expect(fromEnvironment.attributes.get("team") == .string("pay ments"))
        #expect(fromEnvironment.attributes.get("deployment.environment.name") == .string("prod"))
        #expect(fromEnvironment.attributes.get("telemetry.sdk.language") == .string("swift"))
        #expect(fromEnvironment.attributes.get("telemetry.sdk.name") == .string(SDKInfo.name))
        #expect(fromEnvironment.attributes.get("process.pid") != nil)
        #expect(fromEnvironment.attributes.get("host.name") != nil)

        let fromCode = TracerProvider(
            configuration: .init(serviceName: "orders", serviceVersion: "1.2", deploymentEnvironment: "staging", exporters: [], environment: environment)
        ).tracer.resource
        #expect(fromCode.serviceName == "orders")
        #expect(fromCode.attributes.get("service.version") == .string("1.2"))
        #expect(fromCode.attributes.get("deployment.environment.name") == .string("staging"))

        let unnamed = TracerProvider(configuration: .init(exporters: [], environment: [:])).tracer.resource
        #expect(unnamed.serviceName?.hasPrefix("unknown_service:") == true)
    }

    @Test("samplers from OTEL_TRACES_SAMPLER and its argument")
    func samplers() {
        func sampler(_ name: String, _ argument: String? = nil) -> String {
            var environment = ["OTEL_TRACES_SAMPLER": name]
            environment["OTEL_TRACES_SAMPLER_ARG"] = argument
            return TracerProvider(configuration: .init(exporters: [], environment: environment)).tracer.sampler.description
        }
        #expect(sampler("always_on") == "AlwaysOnSampler")
        #expect(sampler("always_off") == "AlwaysOffSampler")
        #expect(sampler("traceidratio", "0.5") == "TraceIdRatioBased{0.5}")
        #expect(sampler("parentbased_traceidratio", "0.1").hasPrefix("ParentBased{root:TraceIdRatioBased{0.1}"))
        #expect(sampler("parentbased_always_off").hasPrefix("ParentBased{root:AlwaysOffSampler"))
        #expect(sampler("errors_and_slow", "0.2").hasPrefix("ErrorAndSlowTraces{ratio:0.2"))
    }

    @Test("an invalid value is logged once as a warning and replaced by the default")
    func invalidValues() {
        let logs = CapturedLogs()
        let provider = TracerProvider(
            configuration: .init(
                exporters: [],
                environment: [
                    "OTEL_TRACES_SAMPLER": "sometimes",
                    "OTEL_TRACES_SAMPLER_ARG": "2",
                    "OTEL_BSP_MAX_QUEUE_SIZE": "lots",
                    "OTEL_SDK_DISABLED": "maybe",
                    "OTEL_ATTRIBUTE_COUNT_LIMIT": "-1",
                ]
            ),
            logger: logs.logger
        )
        #expect(provider.tracer.sampler.description.hasPrefix("ParentBased{root:AlwaysOnSampler"))
        #expect(!provider.isDisabled)
        let warnings = logs.messages.withLock { $0 }.filter { $0.hasPrefix("warning") }
        #expect(warnings.contains { $0.contains("OTEL_TRACES_SAMPLER;") && $0.contains("value=sometimes") })
        #expect(warnings.contains { $0.contains("OTEL_SDK_DISABLED") })
        #expect(warnings.contains { $0.contains("OTEL_ATTRIBUTE_COUNT_LIMIT") })
        #expect(warnings.count == 3)  // the sampler argument and queue size are not read for this sampler/processor
        #expect(
            provider.configurationProblems == [
                "OTEL_SDK_DISABLED=maybe is not valid: expected true or false",
                "OTEL_ATTRIBUTE_COUNT_LIMIT=-1 is not valid: expected a whole number of at least 0",
                "OTEL_TRACES_SAMPLER=sometimes is not valid: expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio or errors_and_slow",
            ]
        )
        #expect(TracerProvider(configuration: .init(exporters: [], environment: ["OTEL_TRACES_SAMPLER": "always_on"])).configurationProblems.isEmpty)
    }

    @Test("OTEL_BSP_* and OTEL_*_LIMIT configure the batch processor and limits; code wins")
    func batchAndLimits() throws {
        let environment = [
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_BSP_MAX_QUEUE_SIZE": "100",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
            "OTEL_BSP_SCHEDULE_DELAY": "250",
            "OTEL_BSP_EXPORT_TIMEOUT": "1000",
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "7",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "20",
        ]
        let provider = TracerProvider(configuration: .init(environment: environment))
        let batch = try #require(provider.batchProcessor).configuration
        #expect(batch.maxQueueSize == 100 && batch.maxExportBatchSize == 10)
        #expect(batch.scheduleDelay == .milliseconds(250) && batch.exportTimeout == .seconds(1))
        #expect(provider.tracer.shared.limits.attributeCountLimit == 7)
        #expect(provider.tracer.shared.limits.attributeValueLengthLimit == 20)
        #expect(provider.exporterNames == ["console"])

        var limits = SpanLimits()
        limits.attributeCountLimit = 3
        let coded = TracerProvider(configuration: .init(limits: limits, environment: environment))
        #expect(coded.tracer.shared.limits.attributeCountLimit == 3)
    }

    @Test("OTEL_TRACES_EXPORTER none and OTEL_SDK_DISABLED")
    func exportersAndDisabled() async {
        let none = TracerProvider(configuration: .init(environment: ["OTEL_TRACES_EXPORTER": "none"]))
        #expect(none.exporterNames == ["none"] && none.batchProcessor == nil)

        let disabled = TracerProvider(configuration: .init(environment: ["OTEL_SDK_DISABLED": "true"]))
        #expect(disabled.isDisabled)
        let span = disabled.tracer.startSpan("nothing")
        #expect(!span.isRecording)
        span.end()

        let factory = TracerProvider(
            configuration: .init(
                exporterFactories: ["memory": { _ in InMemorySpanExporter() }],
                environment: ["OTEL_TRACES_EXPORTER": "memory,console"]
            )
        )
        #expect(factory.exporterNames == ["memory", "console"])

        // A factory named console replaces the built-in one; an unknown name is a problem.
        let replaced = InMemorySpanExporter()
        let custom = TracerProvider(
            configuration: .init(
                exporterFactories: ["console": { _ in replaced }],
                exportsImmediately: true,
                environment: ["OTEL_TRACES_EXPORTER": "console,zipkin"]
            )
        )
        #expect(custom.exporterNames == ["console"])
        #expect(custom.configurationProblems == ["OTEL_TRACES_EXPORTER=zipkin is not valid: expected console, none"])
        custom.tracer.startSpan("to the replacement").end()
        await custom.forceFlush()
        #expect(replaced.spans.map(\.name) == ["to the replacement"])
    }

    @Test("several providers with different resources live in one process")
    func severalProviders() async {
        let exporter = InMemorySpanExporter()
        let a = TracerProvider(configuration: .init(serviceName: "a", exporters: [exporter], exportsImmediately: true, environment: [:]))
        let b = TracerProvider(configuration: .init(serviceName: "b", exporters: [exporter], exportsImmediately: true, environment: [:]))
        let root = a.tracer.startSpan("in a")
        b.tracer.startSpan("in b", context: root.context).end()
        root.end()
        await a.forceFlush()
        await b.forceFlush()
        let services = Dictionary(uniqueKeysWithValues: exporter.spans.map { ($0.name, $0.resource.serviceName) })
        #expect(services == ["in a": "a", "in b": "b"])
        await a.shutdown()
        await b.shutdown()
    }
}
