import CRDKafka
import Logging
import Synchronization

/// Owns the client handle a librdkafka mock cluster lives in; destroying it stops the cluster.
///
/// The mock functions post their work to the cluster's own thread, so calling them from any
/// thread is safe while the cluster exists.
final class RDKafkaMockCluster: @unchecked Sendable {
    private let client: RDKafkaClient
    /// Owned by ``client``'s handle and destroyed with it.
    private let cluster: OpaquePointer
    private let destroyed = Atomic<Bool>(false)
    let brokerCount: Int
    let bootstrapServers: String

    init(brokers: Int, logger: Logger) throws(KafkaError) {
        // librdkafka starts the cluster inside a client handle (`test.mock.num.brokers`); that
        // handle never connects anywhere and owns the cluster.
        var properties = KafkaClientProperties()
        properties.set("client.id", "embedded-kafka-broker")
        properties.set("test.mock.num.brokers", String(brokers))
        let client = try RDKafkaClient(kind: .producer, properties: properties, context: RDKafkaCallbackContext(logger: logger))
        guard let cluster = rd_kafka_handle_mock_cluster(client.handle) else {
            throw KafkaError(code: .state, message: "librdkafka could not start a mock cluster", isRetriable: false)
        }
        self.client = client
        self.cluster = cluster
        self.brokerCount = brokers
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    func createTopic(_ name: String, partitions: Int, replicationFactor: Int) throws(KafkaError) {
        try self.check(
            rd_kafka_mock_topic_create(self.cluster, name, Int32(partitions), Int32(replicationFactor)),
            "creating topic \"\(name)\""
        )
    }

    func setBroker(_ brokerID: Int32, up: Bool) throws(KafkaError) {
        if up {
            try self.check(rd_kafka_mock_broker_set_up(self.cluster, brokerID), "bringing broker \(brokerID) up")
        } else {
            try self.check(rd_kafka_mock_broker_set_down(self.cluster, brokerID), "taking broker \(brokerID) down")
        }
    }

    func setRoundTripTime(_ brokerID: Int32, milliseconds: Int32) throws(KafkaError) {
        try self.check(
            rd_kafka_mock_broker_set_rtt(self.cluster, brokerID, milliseconds),
            "setting broker \(brokerID)'s round-trip time"
        )
    }

    func pushRequestErrors(apiKey: Int16, _ errors: [KafkaError.Code]) {
        let raw = errors.map(\.rd)
        raw.withUnsafeBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(self.cluster, apiKey, buffer.count, buffer.baseAddress)
        }
    }

    func clearRequestErrors(apiKey: Int16) {
        rd_kafka_mock_clear_request_errors(self.cluster, apiKey)
    }

    func setTopicError(_ topic: String, _ error: KafkaError.Code) {
        rd_kafka_mock_topic_set_error(self.cluster, topic, error.rd)
    }

    func destroy() {
        guard !self.destroyed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        self.client.destroy()
    }

    private func check(_ error: rd_kafka_resp_err_t, _ what: String) throws(KafkaError) {
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rdKafka(error, context: what) }
    }

    deinit {
        self.destroy()
    }
}

/// Process-wide facts about librdkafka handles, for leak checks in tests.
public enum KafkaDiagnostics {
    /// Handles (clients and embedded clusters) this library created and has not destroyed yet.
    public static var liveHandleCount: Int { RDKafkaClient.liveHandles.load(ordering: .relaxed) }

    /// Waits until librdkafka has no live handle left in the process, or `timeout` passes.
    /// - Returns: `true` when every handle is destroyed (`rd_kafka_wait_destroyed`).
    public static func waitForAllHandlesDestroyed(timeout: Duration) -> Bool {
        rd_kafka_wait_destroyed(Int32(timeout.milliseconds)) == 0
    }

    /// The version of the librdkafka library loaded at run time, such as `2.0.2`.
    public static var librdkafkaVersion: String { String(cString: rd_kafka_version_str()) }
}
