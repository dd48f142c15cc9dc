import Foundation

/// One librdkafka statistics report (its `statistics.interval.ms` JSON, `STATISTICS.md`), with
/// the fields an operator watches read out: what a producer has queued, each broker's round-trip
/// time, and per partition a consumer's lag and fetch queue. Everything else is in ``json``.
///
/// Set ``KafkaProducerConfiguration/statisticsInterval`` (or
/// ``KafkaConsumerConfiguration/statisticsInterval``) and observe the reports with
/// ``KafkaProducer/onStatistics(_:)`` or ``KafkaConsumer/onStatistics(_:)``.
public struct KafkaStatistics: Sendable {
    /// One broker connection.
    public struct Broker: Sendable, Hashable {
        /// librdkafka's name for it, `host:port/id` (`host:port/bootstrap` before its id is known).
        public var name: String
        /// The broker's id, `-1` for a bootstrap connection.
        public var nodeID: Int32
        /// `UP`, `DOWN`, `CONNECT`, …
        public var state: String
        /// Round-trip time over the last interval, in microseconds; `nil` when no request was made.
        public var roundTripAverageMicroseconds: Int64?
        public var roundTripP99Microseconds: Int64?
    }

    /// One partition this client produces to or consumes from.
    public struct Partition: Sendable, Hashable {
        public var topic: String
        public var partition: Int32
        /// High watermark − the offset the application stored (what it finished with), in
        /// messages: librdkafka's `consumer_lag_stored`, else `consumer_lag` (from the committed
        /// offset); `nil` when neither is known yet, or for a producer.
        public var consumerLag: Int64?
        /// Messages fetched and waiting in librdkafka for the application (`fetchq_cnt`).
        public var fetchQueueMessages: Int64
        /// Messages waiting to be sent to this partition (`msgq_cnt` + `xmit_msgq_cnt`).
        public var producerQueueMessages: Int64
        /// `hi_offset`, `-1` when unknown.
        public var highWatermark: Int64
        /// `committed_offset`, negative when nothing was committed.
        public var committedOffset: Int64
    }

    /// librdkafka's name for the client (`rdkafka#consumer-2`).
    public var clientName: String
    /// `producer` or `consumer`.
    public var clientType: String
    /// Messages a producer holds that are not yet delivered (`msg_cnt`).
    public var queuedMessages: Int64
    /// Their size in bytes (`msg_size`).
    public var queuedBytes: Int64
    public var brokers: [Broker]
    /// Real partitions only (librdkafka's internal unassigned partition `-1` is left out).
    public var partitions: [Partition]
    /// The whole report as librdkafka wrote it.
    public var json: String

    /// Reads a report.
    /// - Throws: `DecodingError` when the text is not librdkafka's statistics JSON.
    public init(json: String) throws {
        let report = try JSONDecoder().decode(Report.self, from: Data(json.utf8))
        self.json = json
        self.clientName = report.name ?? ""
        self.clientType = report.type ?? ""
        self.queuedMessages = report.msg_cnt ?? 0
        self.queuedBytes = report.msg_size ?? 0
        self.brokers = (report.brokers ?? [:]).values
            .map { broker in
                let requests = (broker.rtt?.cnt ?? 0) > 0
                return Broker(
                    name: broker.name ?? "",
                    nodeID: broker.nodeid ?? -1,
                    state: broker.state ?? "",
                    roundTripAverageMicroseconds: requests ? broker.rtt?.avg : nil,
                    roundTripP99Microseconds: requests ? broker.rtt?.p99 : nil
                )
            }
            .sorted { $0.name < $1.name }
        var partitions: [Partition] = []
        for (name, topic) in report.topics ?? [:] {
            for partition in (topic.partitions ?? [:]).values {
                guard let id = partition.partition, id >= 0 else { continue }
                let lag = [partition.consumer_lag_stored, partition.consumer_lag].lazy.compactMap { $0 }.first { $0 >= 0 }
                partitions.append(
                    Partition(
                        topic: topic.topic ?? name,
                        partition: id,
                        consumerLag: report.type == "consumer" ? lag : nil,
                        fetchQueueMessages: partition.fetchq_cnt ?? 0,
                        producerQueueMessages: (partition.msgq_cnt ?? 0) + (partition.xmit_msgq_cnt ?? 0),
                        highWatermark: partition.hi_offset ?? -1,
                        committedOffset: partition.committed_offset ?? -1
                    )
                )
            }
        }
        self.partitions = partitions.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    // librdkafka's field names, as STATISTICS.md spells them; every field optional, so a report
    // from another version still reads.
    private struct Report: Decodable {
        var name: String?
        var type: String?
        var msg_cnt: Int64?
        var msg_size: Int64?
        var brokers: [String: BrokerReport]?
        var topics: [String: TopicReport]?
    }

    private struct BrokerReport: Decodable {
        var name: String?
        var nodeid: Int32?
        var state: String?
        var rtt: WindowReport?
    }

    private struct WindowReport: Decodable {
        var avg: Int64?
        var p99: Int64?
        var cnt: Int64?
    }

    private struct TopicReport: Decodable {
        var topic: String?
        var partitions: [String: PartitionReport]?
    }

    private struct PartitionReport: Decodable {
        var partition: Int32?
        var consumer_lag: Int64?
        var consumer_lag_stored: Int64?
        var fetchq_cnt: Int64?
        var msgq_cnt: Int64?
        var xmit_msgq_cnt: Int64?
        var hi_offset: Int64?
        var committed_offset: Int64?
    }
}
