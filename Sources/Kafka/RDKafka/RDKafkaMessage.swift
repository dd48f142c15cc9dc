import CRDKafka

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Headers to and from librdkafka's `rd_kafka_headers_t`.
enum RDKafkaHeaders {
    /// A new `rd_kafka_headers_t` holding copies of `headers`, or `nil` when there are none.
    /// The caller owns it until `rd_kafka_produceva` succeeds.
    static func make(_ headers: [KafkaHeader]) -> OpaquePointer? {
        guard !headers.isEmpty else { return nil }
        let list = rd_kafka_headers_new(headers.count)!
        for header in headers {
            header.withValueBytes { bytes in
                if let bytes {
                    _ = rd_kafka_header_add(list, header.key, -1, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), bytes.count)
                } else {
                    _ = rd_kafka_header_add(list, header.key, -1, nil, 0)
                }
            }
        }
        return list
    }

    /// A consumed message's key, value and headers (in order, with duplicates and null values)
    /// copied into one payload.
    static func payload(
        of message: UnsafeMutablePointer<rd_kafka_message_t>,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?
    ) -> KafkaMessagePayload {
        var list: OpaquePointer?
        guard rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else {
            return .make(key: key, value: value, headerCount: 0, headersSize: 0) { _ in }
        }
        func header(_ index: Int) -> KafkaMessagePayload.RawHeader? {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR, let name
            else { return nil }
            return .init(
                key: UnsafeRawBufferPointer(start: name, count: strlen(name)),
                value: value.map { UnsafeRawBufferPointer(start: $0, count: size) }
            )
        }
        let count = rd_kafka_header_cnt(list)
        var headerCount = 0
        var headersSize = 0
        for index in 0..<count {
            guard let header = header(index) else { continue }
            headerCount += 1
            headersSize += KafkaMessagePayload.size(ofHeaderKey: header.key.count, valueCount: header.value?.count)
        }
        return .make(key: key, value: value, headerCount: headerCount, headersSize: headersSize) { writer in
            for index in 0..<count {
                if let header = header(index) { writer.append(key: header.key, value: header.value) }
            }
        }
    }
}

/// A message the poll thread fetched, still librdkafka's: buffered as is, and copied into a
/// ``KafkaConsumerMessage`` by the thread that takes it (the application's), which then destroys
/// it. So the message's bytes are allocated and freed on the application's thread (malloc's
/// per-thread caches) instead of allocated on the poll thread and freed on another, which made
/// the two contend for malloc's arena lock on every message. It has one owner at a time: the
/// consumer's buffer, or whoever the state machine handed it to; every one is destroyed before
/// the consumer closes (librdkafka's close waits for outstanding messages).
struct RDKafkaFetchedMessage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<rd_kafka_message_t>

    var topicPartition: KafkaTopicPartition {
        KafkaTopicPartition(topic: String(cString: rd_kafka_topic_name(self.pointer.pointee.rkt)), partition: self.pointer.pointee.partition)
    }

    func destroy() { rd_kafka_message_destroy(self.pointer) }
}

extension KafkaConsumerMessage {
    /// Copies a librdkafka message (which must carry no error) into one payload.
    init(_ message: UnsafeMutablePointer<rd_kafka_message_t>, topic: String) {
        let m = message.pointee
        self.init(
            topic: topic,
            partition: m.partition,
            offset: m.offset,
            timestamp: KafkaTimestamp(message),
            payload: RDKafkaHeaders.payload(
                of: message,
                key: m.key.map { UnsafeRawBufferPointer(start: $0, count: m.key_len) },
                value: m.payload.map { UnsafeRawBufferPointer(start: $0, count: m.len) }
            )
        )
    }
}

/// A topic-partition list built from Swift and freed when the closure returns.
enum RDKafkaTopicPartitionList {
    static func with<R>(
        _ entries: [(topic: String, partition: Int32, offset: Int64)],
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws -> R
    ) rethrows -> R {
        let list = rd_kafka_topic_partition_list_new(Int32(entries.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for entry in entries {
            rd_kafka_topic_partition_list_add(list, entry.topic, entry.partition)!.pointee.offset = entry.offset
        }
        return try body(list)
    }

    /// The (topic, partition) pairs of a librdkafka list.
    static func read(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
        guard let list else { return [] }
        return (0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            return KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
        }
    }
}

/// A partition of a topic.
public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible, Comparable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(self.topic)[\(self.partition)]" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// A rebalance as librdkafka reports it to the consumer.
struct RDKafkaRebalanceEvent {
    enum Kind { case assign, revoke, error(KafkaError) }
    var kind: Kind
    var partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
    var handle: OpaquePointer
}

extension KafkaTimestamp {
    /// Reads the timestamp of a librdkafka message; `nil` when it has none.
    init?(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let value = rd_kafka_message_timestamp(message, &type)
        switch type {
        case RD_KAFKA_TIMESTAMP_CREATE_TIME: self.init(milliseconds: value, kind: .createTime)
        case RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME: self.init(milliseconds: value, kind: .logAppendTime)
        default: return nil
        }
    }
}
