import Logging

/// The OpenTelemetry environment variables this SDK reads, in one table.
package enum EnvironmentKey: String, CaseIterable {
    case sdkDisabled = "OTEL_SDK_DISABLED"
    case serviceName = "OTEL_SERVICE_NAME"
    case resourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"
    case sampler = "OTEL_TRACES_SAMPLER"
    case samplerArgument = "OTEL_TRACES_SAMPLER_ARG"
    case propagators = "OTEL_PROPAGATORS"
    case exporter = "OTEL_TRACES_EXPORTER"
    case batchScheduleDelay = "OTEL_BSP_SCHEDULE_DELAY"
    case batchExportTimeout = "OTEL_BSP_EXPORT_TIMEOUT"
    case batchMaxQueueSize = "OTEL_BSP_MAX_QUEUE_SIZE"
    case batchMaxExportBatchSize = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
    case attributeValueLengthLimit = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
    case attributeCountLimit = "OTEL_ATTRIBUTE_COUNT_LIMIT"
    case spanAttributeValueLengthLimit = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"
    case spanAttributeCountLimit = "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"
    case spanEventCountLimit = "OTEL_SPAN_EVENT_COUNT_LIMIT"
    case spanLinkCountLimit = "OTEL_SPAN_LINK_COUNT_LIMIT"
    case eventAttributeCountLimit = "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"
    case linkAttributeCountLimit = "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"
    // Metrics (the MetricsSDK module).
    case metricsExporter = "OTEL_METRICS_EXPORTER"
    case metricExportInterval = "OTEL_METRIC_EXPORT_INTERVAL"
    case metricExportTimeout = "OTEL_METRIC_EXPORT_TIMEOUT"
    case metricsTemporalityPreference = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
}

/// Reads environment variables, warning once per invalid value and falling back to the default.
package struct EnvironmentReader {
    package let values: [String: String]
    package let logger: Logger
    /// What was wrong, one sentence each, for ``TracerProvider/configurationProblems``.
    package let problems = ProblemList()

    package init(values: [String: String], logger: Logger) {
        self.values = values
        self.logger = logger
    }

    package func string(_ key: EnvironmentKey) -> String? {
        guard let value = self.values[key.rawValue]?.trimmingOWS(), !value.isEmpty else { return nil }
        return String(value)
    }

    package func bool(_ key: EnvironmentKey) -> Bool? {
        guard let value = self.string(key) else { return nil }
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default:
            self.invalid(key, value, expected: "true or false")
            return nil
        }
    }

    package func int(_ key: EnvironmentKey, minimum: Int = 0) -> Int? {
        guard let value = self.string(key) else { return nil }
        guard let number = Int(value), number >= minimum else {
            self.invalid(key, value, expected: "a whole number of at least \(minimum)")
            return nil
        }
        return number
    }

    package func milliseconds(_ key: EnvironmentKey) -> Duration? {
        self.int(key).map { .milliseconds($0) }
    }

    package func double(_ key: EnvironmentKey, in range: ClosedRange<Double>) -> Double? {
        guard let value = self.string(key) else { return nil }
        guard let number = Double(value), range.contains(number) else {
            self.invalid(key, value, expected: "a number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return number
    }

    package func invalid(_ key: EnvironmentKey, _ value: String, expected: String) {
        self.problems.append("\(key.rawValue)=\(value) is not valid: expected \(expected)")
        self.logger.warning(
            "Ignoring an invalid value of \(key.rawValue); using the default",
            metadata: ["value": "\(value)", "expected": "\(expected)"]
        )
    }
}

/// The configuration problems met while a provider is built (a class: readers are passed by value).
package final class ProblemList {
    package private(set) var messages: [String] = []
    package func append(_ message: String) { self.messages.append(message) }
}

extension EnvironmentReader {
    /// The exporters an `OTEL_{SIGNAL}_EXPORTER` list names: `none` for none, `console` (unless
    /// a factory replaces it), and any name with a factory; `otlp` is the default once its factory
    /// is registered, else `console`. Unknown names and exporters that cannot be made are
    /// reported as problems and left out.
    package func exporters<Exporter>(
        _ key: EnvironmentKey,
        factories: [String: @Sendable (Logger) throws -> Exporter],
        console: () -> Exporter,
        signal: String,
        logger: Logger
    ) -> ([String], [Exporter]) {
        let defaultName = factories["otlp"] != nil ? "otlp" : "console"
        let names = (self.string(key) ?? defaultName).split(separator: ",").map { String($0.trimmingOWS().lowercased()) }
        var used: [String] = []
        var exporters: [Exporter] = []
        for name in names {
            if name == "none" { return (["none"], []) }
            if name == "console" && factories[name] == nil {
                used.append(name)
                exporters.append(console())
                continue
            }
            guard let factory = factories[name] else {
                let others = factories.keys.filter { $0 != "console" }.sorted().map { ", \($0)" }.joined()
                self.invalid(key, name, expected: "console, none" + others)
                continue
            }
            do {
                exporters.append(try factory(logger))
                used.append(name)
            } catch {
                self.problems.append("The \(name) exporter could not be created: \(error)")
                logger.warning("Could not create the \(name) exporter; \(signal) will not go there", metadata: ["error": "\(error)"])
            }
        }
        return (used, exporters)
    }
}
