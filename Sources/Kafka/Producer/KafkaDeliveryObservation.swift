import CRDKafka

/// One delivery report, as ``KafkaProducer/onDeliveryReport(_:)`` shows it to an observer:
/// cheap to make (nothing is copied out of librdkafka until asked for).
///
/// - Important: Valid only during the observer's call: it reads librdkafka's message in place.
///   Copy out what you need (``topic``, ``partition``, …); never keep the observation itself.
public struct KafkaDeliveryObservation {
    let message: UnsafePointer<rd_kafka_message_t>

    init(_ message: UnsafePointer<rd_kafka_message_t>) {
        self.message = message
    }

    /// The same number for every message to one topic, for the producer's life: to key what an
    /// observer keeps per topic without making the topic's name each time.
    public var topicIdentity: UInt { UInt(bitPattern: self.message.pointee.rkt) }
    /// The topic's name (made anew at each call).
    public var topic: String { String(cString: rd_kafka_topic_name(self.message.pointee.rkt)) }
    /// The partition the message went to (or was meant for, `-1` when none was chosen yet).
    public var partition: Int32 { self.message.pointee.partition }
    /// `nil` when the message was delivered.
    public var errorCode: KafkaError.Code? {
        self.message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.Code(self.message.pointee.err)
    }
    /// From the send to this report, as librdkafka measured it (`rd_kafka_message_latency`), in
    /// microseconds; `nil` when unknown.
    public var latencyMicroseconds: Int64? {
        let latency = rd_kafka_message_latency(self.message)
        return latency >= 0 ? latency : nil
    }
}
