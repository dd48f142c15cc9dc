import CRDKafka
import Logging

/// librdkafka's Admin API on a short-lived handle, used from a thread of the ``BlockingCallExecutor``.
final class RDKafkaAdmin: @unchecked Sendable {
    private let client: RDKafkaClient

    init(properties: KafkaClientProperties, logger: Logger) throws(KafkaError) {
        self.client = try RDKafkaClient(kind: .producer, properties: properties, context: RDKafkaCallbackContext(logger: logger))
    }

    /// - Returns: `true` when created, `false` when it already existed.
    func createTopic(
        _ name: String,
        partitions: Int,
        replicationFactor: Int,
        timeoutMilliseconds: Int32
    ) async -> Result<Bool, KafkaError> {
        let result = await BlockingCallExecutor.shared.run {
            self.createTopicBlocking(name, partitions, replicationFactor, timeoutMilliseconds)
        }
        // Destroying the handle blocks too; the caller need not wait for it.
        BlockingCallExecutor.shared.submit { self.client.destroy() }
        return result
    }

    private func createTopicBlocking(
        _ name: String,
        _ partitions: Int,
        _ replicationFactor: Int,
        _ timeout: Int32
    ) -> Result<Bool, KafkaError> {
        let handle = self.client.handle
        var errorText = [CChar](repeating: 0, count: 512)
        guard let newTopic = rd_kafka_NewTopic_new(name, Int32(partitions), Int32(replicationFactor), &errorText, errorText.count)
        else {
            return .failure(.invalidConfiguration("cannot create topic \"\(name)\": \(String(errorBuffer: errorText))"))
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeout, &errorText, errorText.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout, &errorText, errorText.count)
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(handle, &topics, 1, options, queue)
        // The request itself times out after `timeout`; allow a little more for the event.
        guard let event = rd_kafka_queue_poll(queue, timeout + 5_000) else {
            return .failure(KafkaError(code: .requestTimedOut, message: "creating topic \"\(name)\" timed out"))
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return .failure(
                KafkaError(
                    code: KafkaError.Code(eventError),
                    message: "creating topic \"\(name)\" failed: \(String(cString: rd_kafka_event_error_string(event)))"
                )
            )
        }
        var count = 0
        guard let result = rd_kafka_event_CreateTopics_result(event),
            let results = rd_kafka_CreateTopics_result_topics(result, &count), count == 1
        else {
            return .failure(KafkaError(code: .state, message: "creating topic \"\(name)\": no result from the broker"))
        }
        let topicError = rd_kafka_topic_result_error(results[0])
        switch topicError {
        case RD_KAFKA_RESP_ERR_NO_ERROR: return .success(true)
        case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: return .success(false)
        default:
            let text = rd_kafka_topic_result_error_string(results[0]).map { String(cString: $0) } ?? ""
            return .failure(
                KafkaError(code: KafkaError.Code(topicError), message: "creating topic \"\(name)\" failed: \(text)")
            )
        }
    }
}
