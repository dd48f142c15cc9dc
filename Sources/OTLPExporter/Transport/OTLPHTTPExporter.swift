import AsyncHTTPClient
import CompressNIO
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import SwiftProtobuf
import Synchronization
import TracingSDK

/// Exports spans to an OpenTelemetry collector (Jaeger, Tempo, the OTel Collector, …) with OTLP
/// over HTTP: `POST {endpoint}` with protobuf (default) or JSON, optionally gzip-compressed.
///
/// Retries follow the OTLP specification: 429, 502, 503, 504 and connection failures are retried
/// with exponential backoff and jitter, honouring `Retry-After`, all within the export timeout;
/// other failures are not retried. A batch that cannot be delivered is dropped and counted in
/// ``statistics`` (and logged at most every 10 seconds); the caller of `export` gets an error but
/// the application is never blocked: use it behind a ``BatchSpanProcessor``.
public final class OTLPHTTPExporter: SpanExporter {
    /// Counts since the exporter started.
    public struct Statistics: Sendable, Hashable {
        /// Spans the collector accepted.
        public var exportedSpans: Int
        /// Spans dropped because their batch could not be delivered.
        public var failedSpans: Int
        /// Spans the collector rejected in a partial success.
        public var rejectedSpans: Int
        /// Requests sent again after a retryable failure.
        public var retries: Int
    }

    private let settings: OTLPExporterConfiguration.Resolved
    private let client: HTTPClient
    private let ownsClient: Bool
    let counters: OTLPExportCounters

    /// The URL spans are posted to.
    public var endpoint: String { self.settings.url }

    /// - Throws: ``OTLPExporterError`` for an invalid configuration (unsupported protocol, bad
    ///   endpoint, unreadable certificate).
    public convenience init(configuration: OTLPExporterConfiguration = OTLPExporterConfiguration(), logger: Logger = Logger(label: "otlp")) throws {
        try self.init(configuration: configuration, logger: logger, signal: .traces)
    }

    /// What this exporter sends: spans, or (for ``OTLPHTTPMetricExporter``, whose transport it is)
    /// metrics.
    let signal: OTLPExporterConfiguration.Signal

    /// The export deadline and the retry delays are measured on it.
    let clock: ElapsedClock

    /// - Parameter clock: a test clock in tests; `ContinuousClock` otherwise.
    init(configuration: OTLPExporterConfiguration, logger: Logger, signal: OTLPExporterConfiguration.Signal, clock: ElapsedClock = .continuous) throws {
        self.signal = signal
        self.clock = clock
        self.settings = try configuration.resolve(signal: signal)
        guard self.settings.wireProtocol != .grpc else {
            throw OTLPExporterError(
                "\(self.settings.protocolVariable ?? "wireProtocol")=grpc needs the OTLPGRPCExporter module: import it and "
                    + "use withOTLP(defaultProtocol:) or OTLPGRPCExporter, or use http/protobuf (port 4318)"
            )
        }
        var logger = logger
        logger[metadataKey: "otlp.endpoint"] = "\(self.settings.url)"
        self.counters = OTLPExportCounters(signal: signal, logger: logger)
        if self.settings.certificateFile != nil || self.settings.clientCertificateFile != nil {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                if let file = self.settings.certificateFile {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
                }
                if let certificate = self.settings.clientCertificateFile, let key = self.settings.clientKeyFile {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                }
            } catch {
                throw OTLPExporterError("cannot read the OTLP TLS certificate or key: \(error)")
            }
            var clientConfiguration = Self.clientConfiguration
            clientConfiguration.tlsConfiguration = tls
            self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
            self.ownsClient = true
        } else {
            self.client = Self.sharedClient
            self.ownsClient = false
        }
    }

    /// The exporter's own requests are never traced. AsyncHTTPClient traces every request with the
    /// tracer that was current when its client was made (`HTTPClient.shared` too, made on first
    /// use): each export would add a span, exported in the next batch, whose export adds a span, …
    private static var clientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        configuration.tracing.tracer = nil
        return configuration
    }

    /// Shared by the exporters without TLS settings of their own and never shut down, like
    /// `HTTPClient.shared` (a client must be shut down before it is released).
    private static let sharedClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)

    public var statistics: Statistics { self.counters.statistics }

    public func export(_ batch: [FinishedSpan]) async throws {
        try await self.counters.exporting(batch.count) { try await self.send(self.encode(batch), spanCount: batch.count) }
    }

    public func forceFlush() async throws {}

    public func shutdown() async {
        if self.ownsClient { try? await self.client.shutdown() }
    }

    // MARK: Encoding

    /// The request body for a batch, as it would be sent (for benchmarks).
    public func encodeForBenchmark(_ batch: [FinishedSpan]) throws -> Int {
        try self.encode(batch).readableBytes
    }

    func encode(_ batch: [FinishedSpan]) throws -> ByteBuffer {
        let buffer =
            self.settings.wireProtocol == .httpJSON
            ? ByteBuffer(bytes: try OTLPJSONEncoding.encode(OTLPEncoding.request(batch)))
            : OTLPProtobufWriter.request(batch, OTLPEncoding.group(batch))
        return try self.compressIfAsked(buffer)
    }

    var sendsJSON: Bool { self.settings.wireProtocol == .httpJSON }

    func compressIfAsked(_ buffer: ByteBuffer) throws -> ByteBuffer {
        guard self.settings.compression == .gzip else { return buffer }
        var buffer = buffer
        return try buffer.compress(with: .gzip(), allocator: ByteBufferAllocator())
    }

    // MARK: Transport

    private static let retryableStatuses: Set<UInt> = [429, 502, 503, 504]

    /// POSTs one body with retries until the timeout. (`spanCount`: the items in it, spans or
    /// data points, for messages.)
    func send(_ body: ByteBuffer, spanCount: Int) async throws {
        var request = HTTPClientRequest(url: self.settings.url)
        request.method = .POST
        request.headers.add(
            name: "Content-Type",
            value: self.settings.wireProtocol == .httpJSON ? "application/json" : "application/x-protobuf"
        )
        request.headers.add(name: "User-Agent", value: "\(SDKInfo.name)/\(SDKInfo.version)")
        if self.settings.compression == .gzip { request.headers.add(name: "Content-Encoding", value: "gzip") }
        for (name, value) in self.settings.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(body)

        try await OTLPRetryLoop.run(timeout: self.settings.timeout, clock: self.clock, counters: self.counters, items: spanCount) { remaining in
            let failure: OTLPExporterError
            do {
                let response = try await self.client.execute(request, timeout: .nanoseconds(remaining.nanoseconds))
                let responseBody = try await response.body.collect(upTo: 4 * 1024 * 1024)
                let status = response.status.code
                if (200..<300).contains(status) {
                    self.counters.responded(
                        Array(responseBody.readableBytesView),
                        isJSON: response.headers.first(name: "Content-Type")?.utf8.firstRange(of: "json".utf8) != nil
                    )
                    return .done
                }
                failure = OTLPExporterError(
                    "the collector answered \(status) \(response.status.reasonPhrase)\(Self.snippet(responseBody))"
                )
                guard Self.retryableStatuses.contains(status) else { throw failure }
                return .retry(failure, after: response.headers.first(name: "Retry-After").flatMap(Self.parseRetryAfter))
            } catch let error as OTLPExporterError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if Task.isCancelled { throw CancellationError() }
                // Connection refused, reset, timed out: the collector may come back.
                return .retry(OTLPExporterError("cannot reach the collector: \(error)"), after: nil)
            }
        }
    }

    static func parseRetryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        let seconds = max(date.timeIntervalSinceNow, 0)
        return .milliseconds(Int64(seconds * 1000))
    }

    private static func snippet(_ body: ByteBuffer) -> String {
        guard body.readableBytes > 0 else { return "" }
        let text = String(decoding: body.readableBytesView.prefix(200), as: UTF8.self)
        return ": \(text)"
    }
}
