import CRDKafka
import Foundation
import Locking
import Logging
import Synchronization

/// The one owner of an `rd_kafka_t` handle: it destroys the handle exactly once, either when
/// ``destroy()`` is called (from a client's poll thread, off Swift's cooperative pool) or in
/// `deinit`.
final class RDKafkaClient: @unchecked Sendable {
    enum Kind {
        case producer
        case consumer

        var rd: rd_kafka_type_t { self == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER }
    }

    /// The handle. Valid until ``destroy()``; callers make sure no call races with destroy.
    let handle: OpaquePointer
    /// librdkafka's name for this client, such as `rdkafka#producer-1`.
    let name: String
    /// Callbacks from librdkafka threads find the logger (and the consumer's rebalance handler)
    /// through this context, passed as the handle's opaque. It is retained here and released only
    /// after the handle is destroyed, so it outlives every callback.
    private let context: Unmanaged<RDKafkaCallbackContext>

    /// Where this client's statistics reports go.
    var statistics: RDKafkaStatisticsDispatch { self.context.takeUnretainedValue().statistics }
    private let destroyed = Atomic<Bool>(false)

    /// Creates a handle from a validated configuration.
    /// - Parameter configure: extra C-level setup (callbacks, event mask) on the conf.
    init(
        kind: Kind,
        properties: KafkaClientProperties,
        context: RDKafkaCallbackContext,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) {
        let config = try RDKafkaConfig(properties: properties)
        let context = Unmanaged.passRetained(context)
        let handle: OpaquePointer? = config.withPointer { conf in
            rd_kafka_conf_set_opaque(conf, context.toOpaque())
            rd_kafka_conf_set_log_cb(conf, rdKafkaLogCallback)
            configure(conf)
            var errorText = [CChar](repeating: 0, count: 512)
            let handle = rd_kafka_new(kind.rd, conf, &errorText, errorText.count)
            if handle == nil {
                context.takeUnretainedValue().creationError = String(errorBuffer: errorText)
            }
            return handle
        }
        guard let handle else {
            let text = context.takeUnretainedValue().creationError ?? "unknown error"
            context.release()
            throw KafkaError.invalidConfiguration("could not create the Kafka \(kind): \(text)")
        }
        config.consumed()
        self.handle = handle
        self.context = context
        self.name = String(cString: rd_kafka_name(handle))
        RDKafkaClient.liveHandles.add(1, ordering: .relaxed)
    }

    /// The cluster's id once librdkafka has it from a metadata response: written once, read
    /// without a lock from any thread (spans of every message carry it).
    private let knownClusterID = SetOnceReference<ClusterID>()

    private final class ClusterID: Sendable {
        let value: String
        init(_ value: String) { self.value = value }
    }

    /// `nil` until the client has received metadata (and for brokers that report no id).
    var clusterID: String? { self.knownClusterID.load()?.value }

    /// Asks librdkafka for the cluster id without waiting, until it knows it. For the poll
    /// threads, which call it while the handle is alive; a no-op (one atomic load) once known.
    func refreshClusterID() {
        guard self.knownClusterID.load() == nil, let id = rd_kafka_clusterid(self.handle, 0) else { return }
        defer { rd_kafka_mem_free(self.handle, id) }
        _ = self.knownClusterID.storeIfNil(ClusterID(String(cString: id)))
    }

    /// Whether ``destroy()`` was called.
    var isDestroyed: Bool { self.destroyed.load(ordering: .acquiring) }

    /// Destroys the handle; later calls do nothing. Blocks until librdkafka's threads end.
    func destroy() {
        guard !self.destroyed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        rd_kafka_destroy(self.handle)
        RDKafkaClient.liveHandles.subtract(1, ordering: .relaxed)
    }

    deinit {
        self.destroy()
        self.context.release()
    }

    /// Counts handles created and not yet destroyed by this library (clients and embedded brokers).
    static let liveHandles = Atomic<Int>(0)
}

/// State that librdkafka's C callbacks reach through the handle's opaque pointer.
final class RDKafkaCallbackContext: @unchecked Sendable {
    let logger: Logger
    /// Set once before the handle exists, read only on the consumer's poll thread.
    var rebalance: ((RDKafkaRebalanceEvent) -> Void)?
    /// Set once before the handle exists, read only on the consumer's poll thread.
    var automaticCommit: ((RDKafkaCommit.Outcome) -> Void)?
    var creationError: String?
    /// Where statistics reports go (to nobody until an observer is set).
    let statistics: RDKafkaStatisticsDispatch

    init(logger: Logger) {
        self.logger = logger
        self.statistics = RDKafkaStatisticsDispatch(logger: logger)
    }
}

/// librdkafka's log lines go to the client's swift-log `Logger`, at the matching level.
private let rdKafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    handle, level, facility, buffer in
    guard let handle, let opaque = rd_kafka_opaque(handle) else { return }
    let context = Unmanaged<RDKafkaCallbackContext>.fromOpaque(opaque).takeUnretainedValue()
    let logLevel: Logger.Level =
        switch level {
        case ...2: .critical
        case 3: .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        default: .debug
        }
    guard context.logger.logLevel <= logLevel else { return }
    let message = buffer.map { String(cString: $0) } ?? ""
    context.logger.log(
        level: logLevel,
        "\(message)",
        metadata: ["kafka.facility": "\(facility.map { String(cString: $0) } ?? "")"],
        source: "librdkafka"
    )
}

/// Runs `body` on a dedicated thread, so blocking librdkafka calls never occupy Swift's
/// cooperative thread pool.
func startPollThread(name: String, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.name = name
    thread.start()
}

extension String {
    /// Reads the NUL-terminated text librdkafka wrote into an error buffer.
    init(errorBuffer: [CChar]) {
        self.init(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads a C string of known maximum length, replacing invalid UTF-8.
    init(rdKafkaBytes pointer: UnsafeRawPointer, count: Int) {
        self.init(decoding: UnsafeRawBufferPointer(start: pointer, count: count), as: UTF8.self)
    }
}
