import Foundation
import Logging
import OTLPExporter
import TracingSDK

/// A configuration problem that stops the demo: printed as `Error: …`, exit status 1.
struct DemoError: Error, CustomStringConvertible {
    var description: String
}

/// The demo's tracer provider. Every `OTEL_*` variable of the built-in tracer applies; traces are
/// printed as trees (`console`), and exported over OTLP too when an endpoint is set (by
/// `--otlp-endpoint` or `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`) unless `OTEL_TRACES_EXPORTER` says
/// otherwise. Unlike a long-running service, the demo refuses a bad value instead of using the default.
func makeDemoProvider(serviceName: String, otlpEndpoint: String?, logger: Logger) async throws -> TracerProvider {
    var environment = ProcessInfo.processInfo.environment
    if let endpoint = otlpEndpoint {
        let name = endpoint.hasSuffix("/v1/traces") ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" : "OTEL_EXPORTER_OTLP_ENDPOINT"
        environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = nil
        environment[name] = endpoint
    }
    let exportsOverOTLP = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains {
        !(environment[$0] ?? "").isEmpty
    }
    if (environment["OTEL_TRACES_EXPORTER"] ?? "").isEmpty {
        environment["OTEL_TRACES_EXPORTER"] = exportsOverOTLP ? "console,otlp" : "console"
    }
    var configuration = TracerProvider.Configuration(serviceName: serviceName, environment: environment).withOTLP()
    // Messages reach consumers after the producing request ended: print whole traces, at the end
    // or once a trace has been quiet for a while.
    configuration.exporterFactories["console"] = { _ in ConsoleSpanExporter(quietPeriod: .seconds(30)) }
    let provider = TracerProvider(configuration: configuration, logger: logger)
    if !provider.configurationProblems.isEmpty {
        await provider.shutdown()
        throw DemoError(description: provider.configurationProblems.joined(separator: "\n"))
    }
    return provider
}
