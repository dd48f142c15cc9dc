import Locking
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An in-process HTTP server standing in for an OpenTelemetry collector: it records every request
/// and answers from a script (status, headers, body, delay), then 200 by default. Shared by the
/// exporter tests and the end-to-end tests of the demo.
public final class OTLPReceiver: Sendable {
    public struct Request: Sendable {
        public var method: HTTPMethod
        public var uri: String
        public var headers: HTTPHeaders
        public var body: [UInt8]
    }

    public struct Response: Sendable {
        public var status: HTTPResponseStatus
        public var headers: [(String, String)]
        public var body: [UInt8]
        /// Answer after this long; `nil` answers at once. A long delay stands for a hung collector.
        public var delay: TimeAmount?

        public init(status: HTTPResponseStatus = .ok, headers: [(String, String)] = [], body: [UInt8] = [], delay: TimeAmount? = nil) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
        }
    }

    private let channel: any Channel
    private let state = Locked<(requests: [Request], script: [Response])>(([], []))

    public var port: Int { self.channel.localAddress!.port! }
    private let scheme: String
    public var endpoint: String { "\(self.scheme)://127.0.0.1:\(self.port)/v1/traces" }
    public var requests: [Request] { self.state.withLock { $0.requests } }

    /// Queues answers for the next requests.
    public func script(_ responses: Response...) {
        self.state.withLock { $0.script += responses }
    }

    fileprivate func record(_ request: Request) -> Response {
        self.state.withLock { state in
            state.requests.append(request)
            return state.script.isEmpty ? Response() : state.script.removeFirst()
        }
    }

    private init(channel: any Channel, scheme: String) {
        self.channel = channel
        self.scheme = scheme
    }

    /// - Parameters:
    ///   - tls: serve https with this context instead of plain http.
    ///   - port: the port to listen on; 0 picks a free one.
    public static func start(tls: NIOSSLContext? = nil, port: Int = 0) async throws -> OTLPReceiver {
        let box = Locked<OTLPReceiver?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                if let tls {
                    do {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                return channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler { request in box.withLock { $0! }.record(request) })
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        let receiver = OTLPReceiver(channel: channel, scheme: tls == nil ? "http" : "https")
        box.withLock { $0 = receiver }
        return receiver
    }

    public func stop() async {
        try? await self.channel.close()
    }

    private final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let respond: @Sendable (Request) -> Response
        private let pending = Locked<(head: HTTPRequestHead?, body: [UInt8])>((nil, []))

        init(respond: @escaping @Sendable (Request) -> Response) { self.respond = respond }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head(let head):
                self.pending.withLock { $0 = (head, []) }
            case .body(let buffer):
                self.pending.withLock { $0.body += buffer.readableBytesView }
            case .end:
                let (head, body) = self.pending.withLock { $0 }
                guard let head else { return }
                let response = self.respond(Request(method: head.method, uri: head.uri, headers: head.headers, body: body))
                let write = { [context] in
                    var headers = HTTPHeaders(response.headers)
                    headers.add(name: "Content-Length", value: "\(response.body.count)")
                    context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
                    if !response.body.isEmpty {
                        context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
                    }
                    context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                }
                if let delay = response.delay {
                    let loopBound = NIOLoopBound(write, eventLoop: context.eventLoop)
                    context.eventLoop.scheduleTask(in: delay) { loopBound.value() }
                } else {
                    write()
                }
            }
        }
    }
}
