import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Locking
import Logging
import NIOCore
import OTLPExporter

/// One collector connection over gRPC, shared by nothing but its exporter: made in `init`,
/// connected on the first export (grpc-swift keeps it up and reconnects with backoff), closed by
/// `shutdown`, which never waits longer than the export timeout.
///
/// Each export is one unary `Export` call whose body is our protobuf writer's bytes, passed
/// through as they are; its deadline is what is left of the export timeout, and failed calls are
/// retried as the OTLP specification says for gRPC.
final class OTLPGRPCTransport: Sendable {
    let settings: OTLPExporterConfiguration.Resolved
    let counters: OTLPExportCounters
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let method: MethodDescriptor
    private let metadata: Metadata
    private let connection = Locked<Connection>(.idle)

    private enum Connection {
        case idle
        case running(Task<Void, Never>)
        case closed
    }

    init(configuration: OTLPExporterConfiguration, logger: Logger, signal: OTLPExporterConfiguration.Signal) throws {
        let settings = try configuration.resolve(signal: signal, defaultProtocol: .grpc)
        guard settings.wireProtocol == .grpc else {
            throw OTLPExporterError(
                "\(settings.protocolVariable ?? "wireProtocol")=\(settings.wireProtocol) is not gRPC: use OTLPHTTPExporter, "
                    + "or withOTLP(defaultProtocol:), which chooses by protocol"
            )
        }
        self.settings = settings
        var logger = logger
        logger[metadataKey: "otlp.endpoint"] = "\(settings.url)"
        self.counters = OTLPExportCounters(signal: signal, logger: logger)
        self.method = MethodDescriptor(
            fullyQualifiedService: signal == .traces
                ? "opentelemetry.proto.collector.trace.v1.TraceService"
                : "opentelemetry.proto.collector.metrics.v1.MetricsService",
            method: "Export"
        )
        var metadata = Metadata()
        // (gRPC metadata keys are lower case; the values are never logged.)
        for (name, value) in settings.headers { metadata.addString(value, forKey: name.lowercased()) }
        self.metadata = metadata

        let security: HTTP2ClientTransport.Posix.TransportSecurity
        if settings.usesTLS {
            security = .tls { tls in
                if let file = settings.certificateFile {
                    tls.trustRoots = .certificates([.file(path: file, format: .pem)])
                }
                if let certificate = settings.clientCertificateFile, let key = settings.clientKeyFile {
                    tls.certificateChain = [.file(path: certificate, format: .pem)]
                    tls.privateKey = .file(path: key, format: .pem)
                }
            }
        } else {
            security = .plaintext
        }
        var transportConfiguration = HTTP2ClientTransport.Posix.Config.defaults
        // Reconnect as the HTTP exporter retries: from 250 ms, doubling, to 5 s, with jitter.
        transportConfiguration.backoff = .init(initial: .milliseconds(250), max: .seconds(5), multiplier: 2, jitter: 0.2)
        transportConfiguration.compression = .init(algorithm: .none, enabledAlgorithms: .all)
        do {
            let transport = try HTTP2ClientTransport.Posix(
                target: .dns(host: settings.host, port: settings.port),
                transportSecurity: security,
                config: transportConfiguration
            )
            self.client = GRPCClient(transport: transport)
        } catch {
            throw OTLPExporterError("cannot set up the OTLP gRPC connection to \(settings.url): \(error)")
        }
    }

    /// Starts the connection on first use; `false` once shut down.
    private func connect() -> Bool {
        self.connection.withLock { state in
            switch state {
            case .running: return true
            case .closed: return false
            case .idle:
                let client = self.client
                // Detached: the connection belongs to no caller's task (nor its trace).
                state = .running(Task.detached { try? await client.runConnections() })
                return true
            }
        }
    }

    /// One export: the body sent with retries until the timeout.
    func send(_ body: ByteBuffer, items: Int) async throws {
        guard self.connect() else { throw OTLPExporterError("the exporter is shut down") }
        let request = ClientRequest(message: body, metadata: self.metadata)
        try await OTLPRetryLoop.run(timeout: self.settings.timeout, counters: self.counters, items: items) { remaining in
            var options = CallOptions.defaults
            options.timeout = remaining
            options.compression = self.settings.compression == .gzip ? .gzip : CompressionAlgorithm.none
            do {
                let response = try await self.client.unary(
                    request: request,
                    descriptor: self.method,
                    serializer: PassThroughSerializer(),
                    deserializer: BytesDeserializer(),
                    options: options
                ) { response in try response.message }
                self.counters.responded(response, isJSON: false)
                return .done
            } catch let error as RPCError {
                if Task.isCancelled { throw CancellationError() }
                let failure = OTLPExporterError("the collector answered \(error.code): \(error.message)")
                let retryInfo = Self.retryDelay(error)
                switch error.code {
                case .unavailable, .cancelled, .deadlineExceeded, .aborted, .outOfRange, .dataLoss:
                    return .retry(failure, after: retryInfo)
                case .resourceExhausted:
                    // Retryable only when the collector says when (RetryInfo).
                    guard let retryInfo else { throw failure }
                    return .retry(failure, after: retryInfo)
                default:
                    throw failure
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as OTLPExporterError {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                return .retry(OTLPExporterError("cannot reach the collector: \(error)"), after: nil)
            }
        }
    }

    /// The delay a `google.rpc.RetryInfo` in the status details asks for.
    static func retryDelay(_ error: RPCError) -> Duration? {
        guard let status = try? error.unpackGoogleRPCStatus() else { return nil }
        for detail in status.details {
            if let info = detail.retryInfo { return info.delay }
        }
        return nil
    }

    /// Closes the connection: in-flight calls get until the export timeout, then are cancelled.
    /// Never waits longer than that, whatever the collector does.
    func shutdown() async {
        let task = self.connection.withLock { state -> Task<Void, Never>? in
            defer { state = .closed }
            if case .running(let task) = state { return task }
            return nil
        }
        self.client.beginGracefulShutdown()
        guard let task else { return }
        let (ended, continuation) = AsyncStream<Void>.makeStream()
        Task { await task.value; continuation.yield() }
        let timer = Task {
            try? await Task.sleep(for: self.settings.timeout)
            continuation.yield()
        }
        for await _ in ended { break }
        timer.cancel()
        task.cancel()
    }
}

/// The request body as our protobuf writer made it: no second encoding.
struct PassThroughSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: ByteBuffer) throws -> Bytes {
        Bytes(message.readableBytesView)
    }
}

/// The response's bytes, decoded by the caller (a partial success).
struct BytesDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}
