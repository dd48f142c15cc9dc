import CRDKafka

/// An error from the Kafka client: librdkafka's error code and name, a message that says what to
/// fix, whether retrying may help, whether the client is unusable, and where it was raised.
public struct KafkaError: Error, Sendable, CustomStringConvertible, Hashable {
    /// librdkafka's error code (`rd_kafka_resp_err_t`). Negative codes are local to the client,
    /// positive ones come from the broker.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The raw `rd_kafka_resp_err_t` value.
        public let rawValue: Int32

        public init(rawValue: Int32) { self.rawValue = rawValue }

        init(_ err: rd_kafka_resp_err_t) { self.rawValue = err.rawValue }

        var rd: rd_kafka_resp_err_t { rd_kafka_resp_err_t(rawValue: self.rawValue) }

        /// librdkafka's name for the code, such as `MSG_SIZE_TOO_LARGE` or `_MSG_TIMED_OUT`.
        public var name: String { String(cString: rd_kafka_err2name(self.rd)) }

        public var description: String { self.name }

        public static let noError = Code(RD_KAFKA_RESP_ERR_NO_ERROR)
        public static let messageTimedOut = Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        public static let messageSizeTooLarge = Code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        public static let invalidArgument = Code(RD_KAFKA_RESP_ERR__INVALID_ARG)
        public static let invalidTopic = Code(RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION)
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        public static let notLeaderForPartition = Code(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)
        public static let requestTimedOut = Code(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT)
        public static let transport = Code(RD_KAFKA_RESP_ERR__TRANSPORT)
        public static let allBrokersDown = Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        public static let purgedFromQueue = Code(RD_KAFKA_RESP_ERR__PURGE_QUEUE)
        public static let purgedInFlight = Code(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        public static let state = Code(RD_KAFKA_RESP_ERR__STATE)
        public static let shutdown = Code(RD_KAFKA_RESP_ERR__DESTROY)
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        public static let recordListTooLarge = Code(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE)
        public static let invalidRecord = Code(RD_KAFKA_RESP_ERR_INVALID_RECORD)
        public static let notEnoughReplicas = Code(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS)
        public static let leaderNotAvailable = Code(RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
        public static let unknownMemberID = Code(RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID)
        public static let illegalGeneration = Code(RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION)
        public static let rebalanceInProgress = Code(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
        public static let topicAuthorizationFailed = Code(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
        public static let invalidRequiredAcks = Code(RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS)
    }

    /// librdkafka's error code.
    public var code: Code
    /// What went wrong and, where we know it, what to change.
    public var message: String
    /// Whether the same operation may succeed if tried again.
    public var isRetriable: Bool
    /// Whether the client can no longer be used and must be recreated.
    public var isFatal: Bool
    /// Where the error was raised in this library.
    public var file: String
    public var line: UInt

    /// librdkafka's name for ``code``, such as `_MSG_TIMED_OUT`.
    public var name: String { self.code.name }

    public init(
        code: Code,
        message: String,
        isRetriable: Bool? = nil,
        isFatal: Bool = false,
        file: String = #fileID,
        line: UInt = #line
    ) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable ?? Self.retriableCodes.contains(code)
        self.isFatal = isFatal
        self.file = file
        self.line = line
    }

    public var description: String {
        var text = "KafkaError(\(self.name)): \(self.message)"
        if self.isFatal { text += " [fatal]" } else if self.isRetriable { text += " [retriable]" }
        return text
    }

    // Equality and hashing ignore where the error was raised.
    public static func == (lhs: KafkaError, rhs: KafkaError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.isRetriable == rhs.isRetriable
            && lhs.isFatal == rhs.isFatal
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
        hasher.combine(self.message)
    }

    /// Codes for which librdkafka or the broker say that a retry may succeed.
    static let retriableCodes: Set<Code> = [
        .messageTimedOut, .queueFull, .notLeaderForPartition, .requestTimedOut, .transport,
        .allBrokersDown, .notEnoughReplicas, .leaderNotAvailable, .rebalanceInProgress,
        Code(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND),
        Code(RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION),
        Code(RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS),
        Code(RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE),
        Code(RD_KAFKA_RESP_ERR_NOT_COORDINATOR),
        Code(RD_KAFKA_RESP_ERR__TIMED_OUT),
        Code(RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE),
        Code(RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR),
        Code(RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND),
        Code(RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE),
    ]
}

extension KafkaError {
    /// An error from a librdkafka response code, with librdkafka's own description.
    static func rdKafka(
        _ err: rd_kafka_resp_err_t,
        context: String? = nil,
        isFatal: Bool = false,
        file: String = #fileID,
        line: UInt = #line
    ) -> KafkaError {
        let text = String(cString: rd_kafka_err2str(err))
        return KafkaError(
            code: Code(err),
            message: context.map { "\($0): \(text)" } ?? text,
            isFatal: isFatal,
            file: file,
            line: line
        )
    }

    /// Consumes (destroys) an `rd_kafka_error_t`, keeping its code, string and flags.
    static func consuming(
        _ error: OpaquePointer,
        context: String? = nil,
        file: String = #fileID,
        line: UInt = #line
    ) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        let text = String(cString: rd_kafka_error_string(error))
        return KafkaError(
            code: Code(rd_kafka_error_code(error)),
            message: context.map { "\($0): \(text)" } ?? text,
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            file: file,
            line: line
        )
    }

    static func invalidConfiguration(_ message: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: .invalidArgument, message: message, isRetriable: false, file: file, line: line)
    }

    static func closed(_ what: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: .shutdown, message: "\(what) is shut down", isRetriable: false, file: file, line: line)
    }
}
