import CRDKafka
import Dispatch
import Locking
import Logging

/// Hands librdkafka's statistics reports to a client's observer, off every Kafka thread: the
/// callback (on a poll thread, or on a sender serving reports) only copies the JSON text; reading
/// it and calling the observer happen on this client's own serial queue, so a send never waits for
/// a report to be parsed and reports arrive in order.
final class RDKafkaStatisticsDispatch: Sendable {
    private final class Observer: Sendable {
        let observe: @Sendable (KafkaStatistics) -> Void
        init(_ observe: @escaping @Sendable (KafkaStatistics) -> Void) { self.observe = observe }
    }

    private let observer = SetOnceReference<Observer>()
    private let queue: DispatchQueue
    private let logger: Logger

    init(logger: Logger) {
        self.queue = DispatchQueue(label: "kafka.statistics", qos: .utility)
        self.logger = logger
    }

    /// Sets the observer (the first one set stays). - Returns: whether this one was set.
    func observe(_ observe: @escaping @Sendable (KafkaStatistics) -> Void) -> Bool {
        let box = Observer(observe)
        return self.observer.storeIfNil(box) === box
    }

    /// One report from librdkafka; `json` is valid only during this call.
    func received(_ json: UnsafePointer<CChar>) {
        guard let observer = self.observer.load() else { return }
        let text = String(cString: json)
        let logger = self.logger
        self.queue.async {
            do {
                observer.observe(try KafkaStatistics(json: text))
            } catch {
                logger.warning("librdkafka statistics could not be read: \(error)")
            }
        }
    }
}

/// librdkafka's `stats_cb` (consumers, whose statistics are served by the consumer poll):
/// returning 0 lets librdkafka free the text.
let rdKafkaStatisticsCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
    _, json, _, opaque in
    guard let json, let opaque else { return 0 }
    Unmanaged<RDKafkaCallbackContext>.fromOpaque(opaque).takeUnretainedValue().statistics.received(json)
    return 0
}
