import Foundation
import Logging
import OTLPExporter
import OTLPGRPCExporter
import TracingSDK

/// A configuration problem that stops the demo: printed as `Error: …`, exit status 1.
struct DemoError: Error, CustomStringConvertible {
    var description: String
}

/// The process's environment with `--otlp-endpoint` applied for one signal (`TRACES` or
/// `METRICS`): a URL ending in `/v1/traces` is the traces' own endpoint (and, less that path, the
/// base for metrics); any other is the base, `OTEL_EXPORTER_OTLP_ENDPOINT` (over gRPC: the
/// collector's address). Also whether an OTLP endpoint is set for the signal at all.
func demoEnvironment(signal: String, otlpEndpoint: String?) -> (environment: [String: String], exportsOverOTLP: Bool) {
    var environment = ProcessInfo.processInfo.environment
    let specific = "OTEL_EXPORTER_OTLP_\(signal)_ENDPOINT"
    if let endpoint = otlpEndpoint {
        environment[specific] = nil
        let isTracesURL = endpoint.hasSuffix("/v1/traces")
        if isTracesURL && signal == "TRACES" {
            environment[specific] = endpoint
        } else {
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = isTracesURL ? String(endpoint.dropLast("/v1/traces".count)) : endpoint
        }
    }
    let exportsOverOTLP = ["OTEL_EXPORTER_OTLP_ENDPOINT", specific].contains { !(environment[$0] ?? "").isEmpty }
    return (environment, exportsOverOTLP)
}

/// The demo's tracer provider. Every `OTEL_*` variable of the built-in tracer applies; the first
/// `printedTraces` traces are printed as trees (`console`; a summary line counts the rest), and exported over OTLP too when an endpoint is set (by
/// `--otlp-endpoint` or `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`) unless `OTEL_TRACES_EXPORTER` says
/// otherwise — over HTTP, or gRPC with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`. Unlike a long-running
/// service, the demo refuses a bad value instead of using the default.
func makeDemoProvider(serviceName: String, otlpEndpoint: String?, printedTraces: Int, logger: Logger) async throws -> TracerProvider {
    var (environment, exportsOverOTLP) = demoEnvironment(signal: "TRACES", otlpEndpoint: otlpEndpoint)
    if (environment["OTEL_TRACES_EXPORTER"] ?? "").isEmpty {
        environment["OTEL_TRACES_EXPORTER"] = exportsOverOTLP ? "console,otlp" : "console"
    }
    var configuration = TracerProvider.Configuration(serviceName: serviceName, environment: environment)
        .withOTLP(defaultProtocol: .httpProtobuf)
    // Messages reach consumers after the producing request ended: print whole traces, at the end
    // or once a trace has been quiet for a while; only the first ones (`--printed-traces`), since
    // formatting a million trees costs more than producing the messages.
    configuration.exporterFactories["console"] = { _ in
        ConsoleSpanExporter(quietPeriod: .seconds(30), maxPrintedTraces: printedTraces)
    }
    let provider = TracerProvider(configuration: configuration, logger: logger)
    if !provider.configurationProblems.isEmpty {
        await provider.shutdown()
        throw DemoError(description: provider.configurationProblems.joined(separator: "\n"))
    }
    return provider
}
