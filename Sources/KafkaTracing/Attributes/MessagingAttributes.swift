import Kafka
import Tracing

/// OpenTelemetry messaging semantic-convention attribute names (v1.27 and later), and the older
/// ones some dashboards still use.
enum MessagingAttribute {
    static let system = "messaging.system"
    static let operationName = "messaging.operation.name"
    static let operationType = "messaging.operation.type"
    static let destinationName = "messaging.destination.name"
    static let partitionID = "messaging.destination.partition.id"
    static let offset = "messaging.kafka.offset"
    static let messageKey = "messaging.kafka.message.key"
    static let tombstone = "messaging.kafka.message.tombstone"
    static let consumerGroup = "messaging.consumer.group.name"
    static let clientID = "messaging.client.id"
    static let bodySize = "messaging.message.body.size"
    static let batchCount = "messaging.batch.message_count"
    static let serverAddress = "server.address"
    static let serverPort = "server.port"
    static let errorType = "error.type"
    static let headerPrefix = "messaging.kafka.header."

    static let legacyDestination = "messaging.destination"
    static let legacyPartition = "messaging.kafka.partition"
    static let legacyOffset = "messaging.kafka.message.offset"
    static let legacyOperation = "messaging.operation"
}

/// Facts about the client that every span of it carries.
struct ClientAttributes: Sendable {
    var clientID: String?
    var serverAddress: String?
    var serverPort: Int?
    var consumerGroup: String?

    init(bootstrapServers: [String], clientID: String?, consumerGroup: String? = nil) {
        self.clientID = clientID
        self.consumerGroup = consumerGroup
        // The first bootstrap server, `host:port` (IPv6 hosts in brackets).
        if let first = bootstrapServers.first?.split(separator: ",").first.map(String.init) {
            let server = first.trimmingPrefix("PLAINTEXT://").trimmingPrefix("SSL://")
            if let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]) {
                self.serverAddress = String(server[..<colon]).trimmingCharacters(in: ["[", "]"])
                self.serverPort = port
            } else {
                self.serverAddress = String(server)
            }
        }
    }

    func apply(to attributes: inout SpanAttributes) {
        if let clientID { attributes[MessagingAttribute.clientID] = clientID }
        if let consumerGroup { attributes[MessagingAttribute.consumerGroup] = consumerGroup }
        if let serverAddress { attributes[MessagingAttribute.serverAddress] = serverAddress }
        if let serverPort { attributes[MessagingAttribute.serverPort] = serverPort }
    }
}

extension Substring {
    func trimmingPrefix(_ prefix: String) -> Substring {
        self.hasPrefix(prefix) ? self.dropFirst(prefix.count) : self
    }

    func trimmingCharacters(in characters: Set<Character>) -> Substring {
        var slice = self
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return slice
    }
}

extension String {
    func trimmingPrefix(_ prefix: String) -> Substring { self[...].trimmingPrefix(prefix) }
}
