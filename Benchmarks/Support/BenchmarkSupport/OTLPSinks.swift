import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOHTTP1
import NIOPosix

/// An OTLP/HTTP collector on 127.0.0.1 that answers 200 to everything, as fast as it can (or,
/// with `hangs`, never answers). Returns its channel (close it to stop) and port.
public func startOTLPHTTPSink(hangs: Bool = false) async throws -> (channel: any Channel, port: Int) {
    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let hangs: Bool
        init(hangs: Bool) { self.hangs = hangs }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = self.unwrapInboundIn(data), !self.hangs else { return }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/x-protobuf")
            headers.add(name: "Content-Length", value: "0")
            context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(Handler(hangs: hangs)) }
        }
        .bind(host: "127.0.0.1", port: 0)
        .get()
    return (channel, channel.localAddress!.port!)
}

/// An OTLP/gRPC collector on 127.0.0.1 (grpc-swift 2) that accepts every `Export` of traces and
/// metrics with an empty answer. Returns the serving task (cancel it to stop) and the port.
public func startOTLPGRPCSink() async throws -> (task: Task<Void, Never>, port: Int) {
    struct Bytes: MessageSerializer, MessageDeserializer {
        func serialize<Output: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Output { Output(message) }
        // (The body is dropped unread, as the HTTP sink drops it: both rows measure the client.)
        func deserialize<Input: GRPCContiguousBytes>(_ bytes: Input) throws -> [UInt8] { [] }
    }
    struct Collector: RegistrableRPCService {
        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            for service in ["opentelemetry.proto.collector.trace.v1.TraceService", "opentelemetry.proto.collector.metrics.v1.MetricsService"] {
                router.registerHandler(
                    forMethod: MethodDescriptor(fullyQualifiedService: service, method: "Export"),
                    deserializer: Bytes(),
                    serializer: Bytes()
                ) { request, _ in
                    for try await _ in request.messages {}
                    return StreamingServerResponse(single: ServerResponse(message: []))
                }
            }
        }
    }
    let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
    let server = GRPCServer(transport: transport, services: [Collector()])
    let task = Task<Void, Never> { try? await server.serve() }
    let port = try await transport.listeningAddress.ipv4?.port ?? 0
    return (task, port)
}
