import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Locking
import NIOCore
import NIOPosix

/// An in-process OTLP/gRPC collector: a real gRPC server (grpc-swift 2 over HTTP/2) serving
/// `TraceService/Export` and `MetricsService/Export`, which keeps each request's metadata and
/// bytes and answers as scripted.
public final class OTLPGRPCReceiver: RegistrableRPCService, Sendable {
    public struct Request: Sendable {
        public var method: String
        public var metadata: Metadata
        public var body: [UInt8]
    }

    public enum Reply: Sendable {
        case ok
        /// A successful answer with these bytes (a partial success).
        case body([UInt8])
        case fail(RPCError)
        case status(GoogleRPCStatus)
        /// Never answers (until the call is cancelled).
        case hang
    }

    private let state = Locked<(requests: [Request], script: [Reply])>(([], []))
    private let server = Locked<GRPCServer<HTTP2ServerTransport.Posix>?>(nil)
    private let serving = Locked<Task<Void, Never>?>(nil)
    public private(set) nonisolated(unsafe) var port = 0

    public var requests: [Request] { self.state.withLock { $0.requests } }

    /// Answers for the next requests, in order; `.ok` once they are used up.
    public func script(_ replies: [Reply]) { self.state.withLock { $0.script = replies } }

    /// Starts serving on 127.0.0.1, on a free port; with TLS from the test certificates.
    public static func start(tls: Bool = false) async throws -> OTLPGRPCReceiver {
        let receiver = OTLPGRPCReceiver()
        let security: HTTP2ServerTransport.Posix.TransportSecurity =
            tls
            ? .tls(
                certificateChain: [.file(path: fixture("server.pem"), format: .pem)],
                privateKey: .file(path: fixture("server-key.pem"), format: .pem)
            )
            : .plaintext
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.compression.enabledAlgorithms = .all
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: "127.0.0.1", port: 0),
            transportSecurity: security,
            config: config
        )
        let server = GRPCServer(transport: transport, services: [receiver])
        receiver.server.withLock { $0 = server }
        receiver.serving.withLock { $0 = Task { try? await server.serve() } }
        guard let address = try await transport.listeningAddress.ipv4 else { throw RPCError(code: .internalError, message: "no address") }
        receiver.port = address.port
        return receiver
    }

    public var endpoint: String { "http://127.0.0.1:\(self.port)" }

    public func stop() async {
        self.server.withLock { $0 }?.beginGracefulShutdown()
        self.serving.withLock { $0 }?.cancel()
        await self.serving.withLock { $0 }?.value
    }

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        for service in ["opentelemetry.proto.collector.trace.v1.TraceService", "opentelemetry.proto.collector.metrics.v1.MetricsService"] {
            let method = MethodDescriptor(fullyQualifiedService: service, method: "Export")
            router.registerHandler(forMethod: method, deserializer: RawBytes(), serializer: RawBytes()) { request, _ in
                var body: [UInt8] = []
                for try await message in request.messages { body += message }
                let reply = self.state.withLock { state -> Reply in
                    state.requests.append(Request(method: method.fullyQualifiedMethod, metadata: request.metadata, body: body))
                    return state.script.isEmpty ? .ok : state.script.removeFirst()
                }
                switch reply {
                case .ok:
                    return StreamingServerResponse(single: ServerResponse(message: []))
                case .body(let bytes):
                    return StreamingServerResponse(single: ServerResponse(message: bytes))
                case .fail(let error):
                    throw error
                case .status(let status):
                    throw status
                case .hang:
                    try await Task.sleep(for: .seconds(3600))
                    throw RPCError(code: .cancelled, message: "hung")
                }
            }
        }
    }
}

struct RawBytes: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

/// The OTLP HTTP tests' certificates (a CA, and a server certificate for localhost/127.0.0.1).
public func fixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("OTLPExporterTests/Fixtures/\(name)").path
}
