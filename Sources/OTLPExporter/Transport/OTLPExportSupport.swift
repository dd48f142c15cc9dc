import Foundation
import Locking
import Logging
import SwiftProtobuf
import Synchronization
import TracingSDK

/// What every OTLP transport (HTTP here, gRPC in `OTLPGRPCExporter`) counts and logs: items
/// exported, dropped and rejected, retries; failures logged at most every 10 seconds, a partial
/// success once at warning level.
package final class OTLPExportCounters: Sendable {
    let signal: OTLPExporterConfiguration.Signal
    package let logger: Logger
    private let exported = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)
    private let rejected = Atomic<Int>(0)
    private let retried = Atomic<Int>(0)
    private let partialSuccessLogged = Atomic<Bool>(false)
    private let failureLog = Locked<ContinuousClock.Instant?>(nil)

    package init(signal: OTLPExporterConfiguration.Signal, logger: Logger) {
        self.signal = signal
        self.logger = logger
    }

    package var statistics: OTLPHTTPExporter.Statistics {
        OTLPHTTPExporter.Statistics(
            exportedSpans: self.exported.load(ordering: .relaxed),
            failedSpans: self.failed.load(ordering: .relaxed),
            rejectedSpans: self.rejected.load(ordering: .relaxed),
            retries: self.retried.load(ordering: .relaxed)
        )
    }

    /// `spans` or `data points`.
    package var itemName: String { self.signal == .traces ? "spans" : "data points" }

    package func countExported(_ count: Int) { self.exported.add(count, ordering: .relaxed) }
    package func countRetry() { self.retried.add(1, ordering: .relaxed) }

    /// One export of `count` items: counted as exported when `send` returns, as dropped (and
    /// logged) when it throws, whose error is rethrown.
    package func exporting(_ count: Int, _ send: () async throws -> Void) async throws {
        guard count > 0 else { return }
        do {
            try await send()
            self.countExported(count)
        } catch {
            self.dropped(count, because: error)
            throw error
        }
    }

    /// A batch that could not be delivered: counted and logged (rate-limited).
    package func dropped(_ count: Int, because error: any Error) {
        self.failed.add(count, ordering: .relaxed)
        let now = ContinuousClock.now
        let shouldLog = self.failureLog.withLock { last in
            if let previous = last, now - previous < .seconds(10) { return false }
            last = now
            return true
        }
        self.logger.log(
            level: shouldLog ? .warning : .debug,
            self.signal == .traces ? "Spans could not be exported and were dropped" : "Metrics could not be exported and were dropped",
            metadata: [
                "otlp.error": "\(error)",
                "otlp.droppedSpans": "\(count)",
                "otlp.droppedSpansTotal": "\(self.failed.load(ordering: .relaxed))",
            ]
        )
    }

    /// A successful response's body (protobuf, or JSON when `isJSON`): a partial success counted.
    package func responded(_ bytes: [UInt8], isJSON: Bool) {
        guard !bytes.isEmpty else { return }
        let rejected: Int64
        let message: String
        switch self.signal {
        case .traces:
            guard let partial = Self.decode(Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse.self, bytes, isJSON)?.partialSuccess
            else { return }
            (rejected, message) = (partial.rejectedSpans, partial.errorMessage)
        case .metrics:
            guard let partial = Self.decode(Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceResponse.self, bytes, isJSON)?.partialSuccess
            else { return }
            (rejected, message) = (partial.rejectedDataPoints, partial.errorMessage)
        }
        guard rejected > 0 || !message.isEmpty else { return }
        self.rejected.add(Int(rejected), ordering: .relaxed)
        let first = !self.partialSuccessLogged.exchange(true, ordering: .relaxed)
        self.logger.log(
            level: first ? .warning : .debug,
            "The collector rejected part of an export",
            metadata: [self.signal == .traces ? "otlp.rejectedSpans" : "otlp.rejectedDataPoints": "\(rejected)", "otlp.message": "\(message)"]
        )
    }

    private static func decode<Response: SwiftProtobuf.Message>(_ type: Response.Type, _ bytes: [UInt8], _ isJSON: Bool) -> Response? {
        if isJSON {
            var options = JSONDecodingOptions()
            options.ignoreUnknownFields = true
            return try? Response(jsonUTF8Bytes: bytes, options: options)
        }
        return try? Response(serializedBytes: bytes)
    }
}

/// The OTLP specification's retry loop, for every transport: an attempt either succeeds, fails
/// for good (throws), or asks to be retried — after the delay the collector named, else after an
/// exponential backoff with jitter (250 ms doubling to 5 s) — while the export's time lasts.
package enum OTLPRetryLoop {
    package enum Outcome: Sendable {
        case done
        /// Retryable; `after` is the delay the collector asked for (Retry-After, RetryInfo).
        case retry(OTLPExporterError, after: Duration?)
    }

    /// - Parameters:
    ///   - attempt: one try, given the time left until the deadline.
    ///   - clock: what the deadline and the delays are measured on (a test clock in tests).
    package static func run(
        timeout: Duration,
        clock: ElapsedClock = .continuous,
        counters: OTLPExportCounters,
        items: Int,
        _ attempt: (_ remaining: Duration) async throws -> Outcome
    ) async throws {
        let deadline = clock.elapsed() + timeout
        var backoff = Duration.milliseconds(250)
        while true {
            let remaining = deadline - clock.elapsed()
            guard remaining > .zero else {
                throw OTLPExporterError("export timed out after \(timeout) (\(counters.itemName): \(items))")
            }
            guard case .retry(let failure, let asked) = try await attempt(remaining) else { return }
            let delay = asked ?? backoff * Double.random(in: 0.5...1.5)
            backoff = min(backoff * 2, .seconds(5))
            guard clock.elapsed() + delay < deadline else { throw failure }
            counters.countRetry()
            counters.logger.debug("Retrying an OTLP export", metadata: ["reason": "\(failure.message)", "delay": "\(delay)"])
            try await clock.sleep(delay)
        }
    }
}

extension Duration {
    /// The duration in whole nanoseconds.
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
