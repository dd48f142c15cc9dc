import Kafka
import Testing

@Suite("librdkafka statistics")
struct KafkaStatisticsTests {
    /// A consumer's report as librdkafka 2.0 writes it (STATISTICS.md), shortened to the fields
    /// read plus a few that are not.
    static let consumerReport = """
        {"name":"rdkafka#consumer-3","client_id":"billing","type":"consumer","ts":1234,"time":1700000000,
         "replyq":0,"msg_cnt":0,"msg_size":0,
         "brokers":{
           "127.0.0.1:39001/1":{"name":"127.0.0.1:39001/1","nodeid":1,"state":"UP",
             "rtt":{"min":100,"max":900,"avg":250,"sum":2500,"cnt":10,"p50":200,"p99":870}},
           "127.0.0.1:39001/bootstrap":{"name":"127.0.0.1:39001/bootstrap","nodeid":-1,"state":"INIT",
             "rtt":{"min":0,"max":0,"avg":0,"cnt":0,"p99":0}}},
         "topics":{"orders":{"topic":"orders","partitions":{
           "0":{"partition":0,"fetchq_cnt":12,"hi_offset":40,"committed_offset":20,"stored_offset":25,
                "consumer_lag":20,"consumer_lag_stored":15,"msgq_cnt":0,"xmit_msgq_cnt":0},
           "1":{"partition":1,"fetchq_cnt":0,"hi_offset":-1,"committed_offset":-1001,
                "consumer_lag":-1,"consumer_lag_stored":-1},
           "2":{"partition":2,"fetchq_cnt":0,"hi_offset":9,"committed_offset":4,
                "consumer_lag":5,"consumer_lag_stored":-1},
           "-1":{"partition":-1,"fetchq_cnt":0,"consumer_lag":-1}}}},
         "cgrp":{"state":"up","rebalance_cnt":1}}
        """

    @Test("a consumer report: lag from the stored offset, else the committed one, else none; the internal partition left out")
    func consumerReport() throws {
        let statistics = try KafkaStatistics(json: Self.consumerReport)
        #expect(statistics.clientName == "rdkafka#consumer-3")
        #expect(statistics.clientType == "consumer")
        #expect(statistics.partitions.map(\.partition) == [0, 1, 2])
        #expect(statistics.partitions.map(\.consumerLag) == [15, nil, 5])
        #expect(statistics.partitions.map(\.fetchQueueMessages) == [12, 0, 0])
        #expect(statistics.partitions.map(\.highWatermark) == [40, -1, 9])
        #expect(statistics.partitions.allSatisfy { $0.topic == "orders" })
        #expect(statistics.json == Self.consumerReport)
    }

    @Test("brokers: round-trip times only when requests were made, sorted by name")
    func brokers() throws {
        let statistics = try KafkaStatistics(json: Self.consumerReport)
        #expect(statistics.brokers.map(\.name) == ["127.0.0.1:39001/1", "127.0.0.1:39001/bootstrap"])
        #expect(statistics.brokers.map(\.nodeID) == [1, -1])
        #expect(statistics.brokers.map(\.roundTripAverageMicroseconds) == [250, nil])
        #expect(statistics.brokers.map(\.roundTripP99Microseconds) == [870, nil])
        #expect(statistics.brokers[0].state == "UP")
    }

    @Test("a producer report: queued messages and bytes; per partition its queue, and no consumer lag")
    func producerReport() throws {
        let json = """
            {"name":"rdkafka#producer-1","type":"producer","msg_cnt":7,"msg_size":700,
             "topics":{"t":{"partitions":{"0":{"partition":0,"msgq_cnt":3,"xmit_msgq_cnt":4,"consumer_lag":-1}}}}}
            """
        let statistics = try KafkaStatistics(json: json)
        #expect(statistics.queuedMessages == 7)
        #expect(statistics.queuedBytes == 700)
        #expect(statistics.brokers.isEmpty)
        // The topic's name from its key when the entry has none.
        #expect(statistics.partitions.map(\.topic) == ["t"])
        #expect(statistics.partitions.map(\.producerQueueMessages) == [7])
        #expect(statistics.partitions.map(\.consumerLag) == [nil])
    }

    @Test("text that is not a statistics report is an error, not a crash", arguments: ["", "[]", "{\"msg_cnt\":\"many\"}", "{"])
    func malformed(json: String) {
        #expect(throws: (any Error).self) { try KafkaStatistics(json: json) }
    }
}
