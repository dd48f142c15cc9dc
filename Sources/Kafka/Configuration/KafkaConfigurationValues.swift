// Extensible choices are structs over librdkafka's own spelling, so new values can be added
// without breaking users' exhaustive switches.

/// How many replicas must acknowledge a write (`acks`).
public struct KafkaAcks: Sendable, Hashable, CustomStringConvertible {
    let value: String
    /// The producer does not wait for any acknowledgement (`acks=0`): no offsets in delivery reports.
    public static let none = KafkaAcks(value: "0")
    /// The partition leader alone acknowledges (`acks=1`).
    public static let leader = KafkaAcks(value: "1")
    /// All in-sync replicas acknowledge (`acks=all`), librdkafka's default.
    public static let all = KafkaAcks(value: "all")
    public var description: String { self.value }
}

/// A compression codec (`compression.codec`).
public struct KafkaCompression: Sendable, Hashable, CustomStringConvertible {
    let value: String
    public static let none = KafkaCompression(value: "none")
    public static let gzip = KafkaCompression(value: "gzip")
    public static let snappy = KafkaCompression(value: "snappy")
    public static let lz4 = KafkaCompression(value: "lz4")
    public static let zstd = KafkaCompression(value: "zstd")
    public var description: String { self.value }
}

/// How the client talks to brokers (`security.protocol`).
public struct KafkaSecurityProtocol: Sendable, Hashable, CustomStringConvertible {
    let value: String
    public static let plaintext = KafkaSecurityProtocol(value: "plaintext")
    public static let ssl = KafkaSecurityProtocol(value: "ssl")
    public static let saslPlaintext = KafkaSecurityProtocol(value: "sasl_plaintext")
    public static let saslSSL = KafkaSecurityProtocol(value: "sasl_ssl")
    public var description: String { self.value }
}

/// A SASL mechanism (`sasl.mechanisms`).
public struct KafkaSASLMechanism: Sendable, Hashable, CustomStringConvertible {
    let value: String
    public static let plain = KafkaSASLMechanism(value: "PLAIN")
    public static let scramSHA256 = KafkaSASLMechanism(value: "SCRAM-SHA-256")
    public static let scramSHA512 = KafkaSASLMechanism(value: "SCRAM-SHA-512")
    public static let gssapi = KafkaSASLMechanism(value: "GSSAPI")
    public static let oauthBearer = KafkaSASLMechanism(value: "OAUTHBEARER")
    public var description: String { self.value }
}

/// Where a consumer group starts when it has no committed offset (`auto.offset.reset`).
public struct KafkaAutoOffsetReset: Sendable, Hashable, CustomStringConvertible {
    let value: String
    /// Start from the oldest message still in the partition.
    public static let earliest = KafkaAutoOffsetReset(value: "earliest")
    /// Start from the next message produced.
    public static let latest = KafkaAutoOffsetReset(value: "latest")
    /// Fail with an error instead of choosing.
    public static let error = KafkaAutoOffsetReset(value: "error")
    public var description: String { self.value }
}

/// TLS and SASL settings shared by producers and consumers.
public struct KafkaSecurity: Sendable, Hashable {
    /// `security.protocol`; librdkafka's default is plaintext.
    public var securityProtocol: KafkaSecurityProtocol?
    /// `ssl.ca.location`: a CA certificate file (or directory) to verify brokers with.
    public var caCertificateLocation: String?
    /// `ssl.certificate.location`: the client's certificate, for mutual TLS.
    public var certificateLocation: String?
    /// `ssl.key.location`: the client's private key, for mutual TLS.
    public var keyLocation: String?
    /// `ssl.key.password`: the private key's password. Never printed or logged.
    public var keyPassword: String?
    /// `sasl.mechanisms`.
    public var saslMechanism: KafkaSASLMechanism?
    /// `sasl.username`.
    public var saslUsername: String?
    /// `sasl.password`. Never printed or logged.
    public var saslPassword: String?

    public init(
        securityProtocol: KafkaSecurityProtocol? = nil,
        caCertificateLocation: String? = nil,
        certificateLocation: String? = nil,
        keyLocation: String? = nil,
        keyPassword: String? = nil,
        saslMechanism: KafkaSASLMechanism? = nil,
        saslUsername: String? = nil,
        saslPassword: String? = nil
    ) {
        self.securityProtocol = securityProtocol
        self.caCertificateLocation = caCertificateLocation
        self.certificateLocation = certificateLocation
        self.keyLocation = keyLocation
        self.keyPassword = keyPassword
        self.saslMechanism = saslMechanism
        self.saslUsername = saslUsername
        self.saslPassword = saslPassword
    }

    var properties: [(String, String?)] {
        [
            ("security.protocol", self.securityProtocol?.value),
            ("ssl.ca.location", self.caCertificateLocation),
            ("ssl.certificate.location", self.certificateLocation),
            ("ssl.key.location", self.keyLocation),
            ("ssl.key.password", self.keyPassword),
            ("sasl.mechanisms", self.saslMechanism?.value),
            ("sasl.username", self.saslUsername),
            ("sasl.password", self.saslPassword),
        ]
    }
}
