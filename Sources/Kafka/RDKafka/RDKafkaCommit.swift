import CRDKafka
import Foundation

/// Offset commits whose outcome, per partition, is known: the commits the consumer makes itself
/// (manual, on revoke, before closing) wait for the broker with `rd_kafka_commit_queue` and a
/// callback of their own, and librdkafka's periodic ones arrive at the handle's
/// `offset_commit_cb` (served on the poll thread).
enum RDKafkaCommit {
    /// What one commit's callback was told.
    struct Outcome {
        var error: rd_kafka_resp_err_t = RD_KAFKA_RESP_ERR_NO_ERROR
        var offsets: [(partition: KafkaTopicPartition, offset: Int64, error: rd_kafka_resp_err_t)] = []

        init() {}

        init(error: rd_kafka_resp_err_t, list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
            self.error = error
            guard let list else { return }
            for index in 0..<Int(list.pointee.cnt) {
                let element = list.pointee.elems[index]
                self.offsets.append(
                    (KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition), element.offset, element.err)
                )
            }
        }

        /// `nil` when nothing was committed (no offset stored since the last commit).
        func report(reason: KafkaCommitReport.Reason, start: UInt64, end: UInt64) -> KafkaCommitReport? {
            if self.error == RD_KAFKA_RESP_ERR__NO_OFFSET || (self.error == RD_KAFKA_RESP_ERR_NO_ERROR && self.offsets.isEmpty) {
                return nil
            }
            var committed: [KafkaTopicPartition: Int64] = [:]
            var failure = self.error == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.rdKafka(self.error, context: "committing offsets")
            for entry in self.offsets {
                if entry.error == RD_KAFKA_RESP_ERR_NO_ERROR {
                    if entry.offset >= 0 { committed[entry.partition] = entry.offset }
                } else if failure == nil {
                    failure = KafkaError.rdKafka(entry.error, context: "committing the offset of \(entry.partition)")
                }
            }
            // Nothing committed and nothing failed: nothing to report.
            if committed.isEmpty && failure == nil { return nil }
            return KafkaCommitReport(
                reason: reason,
                offsets: committed,
                startNanosecondsSinceEpoch: start,
                endNanosecondsSinceEpoch: end,
                error: failure
            )
        }
    }

    /// Commits the stored offsets of the current assignment and waits for the broker's answer.
    /// Blocks: call it off Swift's cooperative pool.
    static func commitStored(_ handle: OpaquePointer) -> (error: rd_kafka_resp_err_t, outcome: Outcome, start: UInt64, end: UInt64) {
        let start = wallClockNanoseconds()
        var outcome = Outcome()
        // A NULL queue makes the commit synchronous; the callback runs inside this call, so the
        // pointer to `outcome` stays valid for as long as it is used.
        let error = withUnsafeMutablePointer(to: &outcome) { pointer in
            rd_kafka_commit_queue(handle, nil, nil, commitQueueCallback, pointer)
        }
        return (error, outcome, start, wallClockNanoseconds())
    }
}

/// Nanoseconds since the Unix epoch (CLOCK_REALTIME), as span timestamps are. (Package access:
/// the instrumentation compares Kafka timestamps with the same clock.)
package func wallClockNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

private let commitQueueCallback:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
    ) -> Void = { _, error, offsets, opaque in
        guard let opaque else { return }
        opaque.assumingMemoryBound(to: RDKafkaCommit.Outcome.self).pointee = RDKafkaCommit.Outcome(error: error, list: offsets)
    }

/// librdkafka's periodic commits, reported through the handle's callback context (on the poll
/// thread, inside `rd_kafka_consumer_poll`).
let rdKafkaOffsetCommitCallback:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
    ) -> Void = { _, error, offsets, opaque in
        guard let opaque, let serve = Unmanaged<RDKafkaCallbackContext>.fromOpaque(opaque).takeUnretainedValue().automaticCommit else {
            return
        }
        serve(RDKafkaCommit.Outcome(error: error, list: offsets))
    }
