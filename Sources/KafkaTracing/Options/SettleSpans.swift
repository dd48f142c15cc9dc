/// Which offset commits get a settle span: a CLIENT span `commit {topic}` with
/// `messaging.operation.type` = `settle` that links the process spans whose offsets it commits.
public struct SettleSpans: Sendable, Hashable {
    private enum Backing: Sendable, Hashable { case none, explicit, all }
    private let backing: Backing

    /// No settle spans (the default).
    public static let none = SettleSpans(backing: .none)
    /// The commits the consumer makes itself: ``Kafka/KafkaConsumer/commit()``, on a partition
    /// revocation, and on close.
    public static let explicit = SettleSpans(backing: .explicit)
    /// Those and librdkafka's periodic ones (`auto.commit.interval.ms`), which librdkafka reports
    /// only once their result arrives: their spans have no duration.
    public static let all = SettleSpans(backing: .all)

    var isEnabled: Bool { self.backing != .none }
    var includesAutomatic: Bool { self.backing == .all }
}
