/// A record's timestamp and what set it.
public struct KafkaTimestamp: Sendable, Hashable, CustomStringConvertible {
    /// Who set a record's timestamp.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Backing: Sendable, Hashable { case createTime, logAppendTime }
        private let backing: Backing

        /// Set by the producer when the record was created.
        public static let createTime = Kind(backing: .createTime)
        /// Set by the broker when it appended the record to the log.
        public static let logAppendTime = Kind(backing: .logAppendTime)

        public var description: String {
            switch self.backing {
            case .createTime: "CreateTime"
            case .logAppendTime: "LogAppendTime"
            }
        }
    }

    /// Milliseconds since the Unix epoch.
    public var milliseconds: Int64
    public var kind: Kind

    public init(milliseconds: Int64, kind: Kind) {
        self.milliseconds = milliseconds
        self.kind = kind
    }

    public var description: String { "\(self.milliseconds)ms (\(self.kind))" }
}
