import Locking
import Logging

/// Test support shared by the test targets.
/// Every log line (message and metadata) of the loggers it makes, at every level.
public final class LogCapture: Sendable {
    private let storage = Locked<[String]>([])
    public var lines: [String] { self.storage.withLock { $0 } }

    public init() {}

    public func logger(label: String) -> Logger {
        var logger = Logger(label: label) { label in Handler(label: label, capture: self) }
        logger.logLevel = .trace
        return logger
    }

    fileprivate func append(_ line: String) { self.storage.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let label: String
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
            self.capture.append("\(event.level) \(self.label): \(event.message) \(merged)")
        }
    }
}
