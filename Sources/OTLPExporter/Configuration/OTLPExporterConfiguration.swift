import Foundation
import Logging
import MetricsSDK
import TracingSDK

/// Where and how the OTLP exporter sends spans. Anything left `nil` comes from the environment
/// (`OTEL_EXPORTER_OTLP_TRACES_*` over `OTEL_EXPORTER_OTLP_*`), then from the OTLP default:
/// code wins over the environment.
public struct OTLPExporterConfiguration: Sendable {
    /// The wire format.
    public struct WireProtocol: Sendable, Hashable, CustomStringConvertible {
        let value: String
        /// Protobuf over HTTP (`http/protobuf`), the default.
        public static let httpProtobuf = WireProtocol(value: "http/protobuf")
        /// JSON over HTTP (`http/json`).
        public static let httpJSON = WireProtocol(value: "http/json")
        /// Protobuf over gRPC (`grpc`, port 4317): exported by the `OTLPGRPCExporter` module.
        public static let grpc = WireProtocol(value: "grpc")
        public var description: String { self.value }
    }

    /// Request body compression.
    public struct Compression: Sendable, Hashable, CustomStringConvertible {
        let value: String
        public static let none = Compression(value: "none")
        public static let gzip = Compression(value: "gzip")
        public var description: String { self.value }
    }

    /// The full URL spans are posted to, such as `http://localhost:4318/v1/traces`.
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used as is; `OTEL_EXPORTER_OTLP_ENDPOINT` gets
    /// `/v1/traces` appended.) Over gRPC, the collector's address, such as
    /// `http://localhost:4317` (the default): `https://` or no scheme means TLS, unless
    /// ``insecure`` (`OTEL_EXPORTER_OTLP_INSECURE=true`) for an address without a scheme.
    public var endpoint: String?
    /// gRPC only, for an ``endpoint`` without a scheme: `true` for a plaintext connection.
    public var insecure: Bool?
    /// Extra request headers, such as an authorization token. Their values are never logged.
    public var headers: [String: String]?
    /// How long one export may take, retries included (default 10 s).
    public var timeout: Duration?
    public var compression: Compression?
    public var wireProtocol: WireProtocol?
    /// A PEM file of CA certificates to verify an `https` collector with.
    public var certificateFile: String?
    /// A PEM client certificate and key, for mutual TLS.
    public var clientCertificateFile: String?
    public var clientKeyFile: String?
    /// The environment to read; the process's by default.
    public var environment: [String: String]

    public init(
        endpoint: String? = nil,
        insecure: Bool? = nil,
        headers: [String: String]? = nil,
        timeout: Duration? = nil,
        compression: Compression? = nil,
        wireProtocol: WireProtocol? = nil,
        certificateFile: String? = nil,
        clientCertificateFile: String? = nil,
        clientKeyFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.endpoint = endpoint
        self.insecure = insecure
        self.headers = headers
        self.timeout = timeout
        self.compression = compression
        self.wireProtocol = wireProtocol
        self.certificateFile = certificateFile
        self.clientCertificateFile = clientCertificateFile
        self.clientKeyFile = clientKeyFile
        self.environment = environment
    }

    /// The settings in force, with every default applied.
    package struct Resolved: Sendable {
        /// The URL posted to; over gRPC, the endpoint as given.
        package var url: String
        /// gRPC: where to connect, and whether with TLS.
        package var host: String
        package var port: Int
        package var usesTLS: Bool
        package var headers: [(String, String)]
        package var timeout: Duration
        package var compression: Compression
        package var wireProtocol: WireProtocol
        /// The variable that chose the protocol, for messages.
        package var protocolVariable: String?
        package var certificateFile: String?
        package var clientCertificateFile: String?
        package var clientKeyFile: String?
    }

    /// Resolves code, environment and defaults.
    /// - Throws: ``OTLPExporterError`` for an unsupported protocol or compression, a malformed
    ///   endpoint, header list or timeout.
    /// What is exported: each signal has its own path and `OTEL_EXPORTER_OTLP_{SIGNAL}_*` variables.
    package enum Signal: String, Sendable {
        case traces
        case metrics

        package var variablePrefix: String { "OTEL_EXPORTER_OTLP_\(self.rawValue.uppercased())_" }
    }

    /// - Parameter defaultProtocol: the protocol when neither code nor environment names one.
    package func resolve(signal: Signal = .traces, defaultProtocol: WireProtocol = .httpProtobuf) throws(OTLPExporterError) -> Resolved {
        let environment = self.environment
        func variable(_ suffix: String) -> (name: String, value: String)? {
            for name in ["\(signal.variablePrefix)\(suffix)", "OTEL_EXPORTER_OTLP_\(suffix)"] {
                if let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty {
                    return (name, value)
                }
            }
            return nil
        }

        let wireProtocol: WireProtocol
        var protocolVariable: String?
        if let configured = self.wireProtocol {
            wireProtocol = configured
        } else if let (name, value) = variable("PROTOCOL") {
            protocolVariable = name
            switch value.lowercased() {
            case "http/protobuf": wireProtocol = .httpProtobuf
            case "http/json": wireProtocol = .httpJSON
            case "grpc": wireProtocol = .grpc
            default:
                throw OTLPExporterError("\(name)=\(value) is not an OTLP protocol: use http/protobuf, http/json or grpc")
            }
        } else {
            wireProtocol = defaultProtocol
        }
        let isGRPC = wireProtocol == .grpc

        var url: String
        if let endpoint = self.endpoint {
            url = endpoint
        } else if let specific = environment["\(signal.variablePrefix)ENDPOINT"]?.trimmingCharacters(in: .whitespaces),
            !specific.isEmpty
        {
            url = specific
        } else if isGRPC {
            // gRPC: one address for every signal, used as is.
            let base = environment["OTEL_EXPORTER_OTLP_ENDPOINT"]?.trimmingCharacters(in: .whitespaces) ?? ""
            url = base.isEmpty ? "http://localhost:4317" : base
        } else {
            let base = environment["OTEL_EXPORTER_OTLP_ENDPOINT"]?.trimmingCharacters(in: .whitespaces) ?? ""
            url = (base.isEmpty ? "http://localhost:4318" : base)
            url = (url.hasSuffix("/") ? String(url.dropLast()) : url) + "/v1/\(signal.rawValue)"
        }
        let host: String
        let port: Int
        let usesTLS: Bool
        if isGRPC && !url.contains("://") {
            // `host:port` with no scheme: TLS unless OTEL_EXPORTER_OTLP_INSECURE=true.
            guard let parsed = URL(string: "grpc://" + url), let parsedHost = parsed.host, !parsedHost.isEmpty else {
                throw OTLPExporterError("invalid OTLP endpoint \"\(url)\": give an address such as http://localhost:4317")
            }
            host = parsedHost
            port = parsed.port ?? 4317
            var insecure = self.insecure ?? false
            if self.insecure == nil, let (name, value) = variable("INSECURE") {
                switch value.lowercased() {
                case "true": insecure = true
                case "false": insecure = false
                default: throw OTLPExporterError("\(name)=\(value) is not a boolean: use true or false")
                }
            }
            usesTLS = !insecure
        } else {
            let example = isGRPC ? "http://localhost:4317" : "http://localhost:4318/v1/\(signal.rawValue)"
            guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
                let parsedHost = parsed.host, !parsedHost.isEmpty
            else {
                throw OTLPExporterError("invalid OTLP endpoint \"\(url)\": give an http:// or https:// URL such as \(example)")
            }
            host = parsedHost
            usesTLS = scheme == "https"
            port = parsed.port ?? (isGRPC ? 4317 : (usesTLS ? 443 : 80))
        }

        let compression: Compression
        if let configured = self.compression {
            compression = configured
        } else if let (name, value) = variable("COMPRESSION") {
            switch value.lowercased() {
            case "gzip": compression = .gzip
            case "none": compression = .none
            default: throw OTLPExporterError("\(name)=\(value) is not supported: use gzip or none")
            }
        } else {
            compression = .none
        }

        let timeout: Duration
        if let configured = self.timeout {
            timeout = configured
        } else if let (name, value) = variable("TIMEOUT") {
            guard let milliseconds = Int(value), milliseconds > 0 else {
                throw OTLPExporterError("\(name)=\(value) is not a timeout: give whole milliseconds, such as 10000")
            }
            timeout = .milliseconds(milliseconds)
        } else {
            timeout = .seconds(10)
        }

        var headers: [(String, String)] = []
        if let configured = self.headers {
            headers = configured.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        } else if let (name, value) = variable("HEADERS") {
            for pair in value.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2,
                    let key = parts[0].trimmingCharacters(in: .whitespaces).removingPercentEncoding, !key.isEmpty,
                    let headerValue = parts[1].trimmingCharacters(in: .whitespaces).removingPercentEncoding
                else {
                    // Never echo the value: it may be a secret.
                    throw OTLPExporterError("\(name) is malformed: expected key=value pairs separated by commas")
                }
                headers.append((key, headerValue))
            }
        }

        return Resolved(
            url: url,
            host: host,
            port: port,
            usesTLS: usesTLS,
            headers: headers,
            timeout: timeout,
            compression: compression,
            wireProtocol: wireProtocol,
            protocolVariable: protocolVariable,
            certificateFile: self.certificateFile ?? variable("CERTIFICATE")?.value,
            clientCertificateFile: self.clientCertificateFile ?? variable("CLIENT_CERTIFICATE")?.value,
            clientKeyFile: self.clientKeyFile ?? variable("CLIENT_KEY")?.value
        )
    }
}

/// A configuration or transport problem of the OTLP exporter, with what to fix.
public struct OTLPExporterError: Error, CustomStringConvertible, Sendable {
    public var message: String
    package init(_ message: String) { self.message = message }
    public var description: String { "OTLPExporterError: \(self.message)" }
}

extension TracerProvider.Configuration {
    /// Lets `OTEL_TRACES_EXPORTER=otlp` (the default once registered) create an OTLP exporter.
    ///
    /// ```swift
    /// let provider = TracerProvider.bootstrap(configuration: TracerProvider.Configuration(serviceName: "orders").withOTLP())
    /// ```
    public func withOTLP(_ configuration: OTLPExporterConfiguration? = nil) -> Self {
        var copy = self
        let otlp = configuration ?? OTLPExporterConfiguration(environment: self.environment)
        copy.exporterFactories["otlp"] = { logger in try OTLPHTTPExporter(configuration: otlp, logger: logger) }
        return copy
    }
}

extension MeterProvider.Configuration {
    /// Registers the OTLP metrics exporter as `otlp` (the default of `OTEL_METRICS_EXPORTER` once
    /// registered), configured from `configuration` or from this configuration's environment.
    public func withOTLP(_ configuration: OTLPExporterConfiguration? = nil) -> Self {
        var copy = self
        let otlp = configuration ?? OTLPExporterConfiguration(environment: self.environment)
        copy.exporterFactories["otlp"] = { logger in try OTLPHTTPMetricExporter(configuration: otlp, logger: logger) }
        return copy
    }
}

extension TelemetryProvider.Configuration {
    /// Traces and metrics both over OTLP (`OTEL_TRACES_EXPORTER` and `OTEL_METRICS_EXPORTER`
    /// default to `otlp`).
    public func withOTLP(_ configuration: OTLPExporterConfiguration? = nil) -> Self {
        var copy = self
        copy.tracing = self.tracing.withOTLP(configuration)
        copy.metrics = self.metrics.withOTLP(configuration)
        return copy
    }
}
