/// One offset commit a consumer made, as ``KafkaConsumer/onCommit(_:)`` reports it: why, what was
/// committed, when, and whether the broker accepted it.
public struct KafkaCommitReport: Sendable {
    /// Why the consumer committed.
    public struct Reason: Sendable, Hashable, CustomStringConvertible {
        private enum Backing: Sendable, Hashable { case manual, revoke, close, automatic }
        private let backing: Backing

        /// ``KafkaConsumer/commit()``.
        public static let manual = Reason(backing: .manual)
        /// Partitions are being revoked in a rebalance.
        public static let revoke = Reason(backing: .revoke)
        /// The consumer is closing.
        public static let close = Reason(backing: .close)
        /// librdkafka's periodic commit (`auto.commit.interval.ms`). librdkafka reports only when
        /// its result arrived, so such a report starts and ends at that moment.
        public static let automatic = Reason(backing: .automatic)

        public var description: String {
            switch self.backing {
            case .manual: "manual"
            case .revoke: "revoke"
            case .close: "close"
            case .automatic: "automatic"
            }
        }
    }

    public var reason: Reason
    /// For each partition committed: the committed offset (the next one the group will read).
    /// Partitions whose commit failed are left out.
    public var offsets: [KafkaTopicPartition: Int64]
    /// When the commit started and ended, in nanoseconds since the Unix epoch.
    public var startNanosecondsSinceEpoch: UInt64
    public var endNanosecondsSinceEpoch: UInt64
    /// The error of the commit as a whole, or of its first failed partition.
    public var error: KafkaError?

    public init(
        reason: Reason,
        offsets: [KafkaTopicPartition: Int64],
        startNanosecondsSinceEpoch: UInt64,
        endNanosecondsSinceEpoch: UInt64,
        error: KafkaError?
    ) {
        self.reason = reason
        self.offsets = offsets
        self.startNanosecondsSinceEpoch = startNanosecondsSinceEpoch
        self.endNanosecondsSinceEpoch = endNanosecondsSinceEpoch
        self.error = error
    }
}
