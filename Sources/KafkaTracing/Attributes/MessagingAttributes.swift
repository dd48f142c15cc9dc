import Kafka
import Locking
import Tracing
import TracingCapabilities

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
    static let clusterID = "messaging.kafka.cluster.id"
    static let retryAttempt = "messaging.kafka.retry.attempt"
    static let commitReason = "messaging.kafka.commit.reason"

    // The pre-1.27 names (`OTEL_SEMCONV_STABILITY_OPT_IN=messaging/dup`).
    static let legacyDestination = "messaging.destination"
    static let legacyPartition = "messaging.kafka.partition"
    static let legacyDestinationPartition = "messaging.kafka.destination.partition"
    static let legacyOffset = "messaging.kafka.message.offset"
    static let legacyOperation = "messaging.operation"
    static let legacyConsumerGroup = "messaging.kafka.consumer.group"
    static let legacyClientID = "messaging.client_id"
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

    func apply(to attributes: inout SpanAttributes, previousNames: Bool) {
        if let clientID { attributes.set(MessagingAttribute.clientID, value: .string(clientID)) }
        if let consumerGroup { attributes.set(MessagingAttribute.consumerGroup, value: .string(consumerGroup)) }
        if let serverAddress { attributes.set(MessagingAttribute.serverAddress, value: .string(serverAddress)) }
        if let serverPort { attributes.set(MessagingAttribute.serverPort, value: .int64(Int64(serverPort))) }
        if previousNames {
            if let clientID { attributes.set(MessagingAttribute.legacyClientID, value: .string(clientID)) }
            if let consumerGroup { attributes.set(MessagingAttribute.legacyConsumerGroup, value: .string(consumerGroup)) }
        }
    }
}

/// The attributes every span of one kind for one topic starts with (system, operation,
/// destination, client, server), built once per topic. A tracer offering
/// ``AttributeTemplateTracer`` keeps the template in each span by reference (and its exporter
/// encodes it once); under any other, each span gets a copy: a copy shares the dictionary until
/// the span adds its own attributes, where setting each name anew would hash every name again for
/// every message. Room is reserved for the span's own attributes, so the copy a span makes when it
/// adds them does not grow and rehash.
final class AttributeTemplates: Sendable {
    /// Beyond this many topics, templates are built per span instead of kept.
    static let maxTopics = 256

    private struct Template {
        var attributes: SpanAttributeTemplate
        /// Built before the cluster id was known: built again once it is.
        var lacksClusterID: Bool
    }

    private let operationName: String
    private let operationType: String
    private let legacyOperation: String?
    private let client: ClientAttributes
    private let clusterID: @Sendable () -> String?
    /// How many attributes a span may add to the template (room reserved for them).
    let perMessage: Int
    private let templates = Locked<[String: Template]>([:])
    /// The templates made with the cluster id (final), read without the lock.
    private let settled = TopicTable<SpanAttributeTemplate>()

    /// - Parameters:
    ///   - operationName: `messaging.operation.name` (`send`, `process`, `commit`).
    ///   - operationType: `messaging.operation.type` (`send`, `process`, `settle`).
    ///   - legacyOperation: `messaging.operation` in the pre-1.27 names, when they are emitted.
    ///   - clusterID: the client's cluster id, once known (read without waiting).
    ///   - perMessage: how many attributes a span may add to the template (room is reserved).
    init(
        operationName: String,
        operationType: String? = nil,
        legacyOperation: String?,
        client: ClientAttributes,
        clusterID: @escaping @Sendable () -> String?,
        perMessage: Int
    ) {
        self.operationName = operationName
        self.operationType = operationType ?? operationName
        self.legacyOperation = legacyOperation
        self.client = client
        self.clusterID = clusterID
        self.perMessage = perMessage
    }

    private func build(_ topic: String?, clusterID: String?) -> SpanAttributes {
        var attributes = SpanAttributes()
        attributes.set(MessagingAttribute.system, value: .string("kafka"))
        attributes.set(MessagingAttribute.operationName, value: .string(self.operationName))
        attributes.set(MessagingAttribute.operationType, value: .string(self.operationType))
        if let topic { attributes.set(MessagingAttribute.destinationName, value: .string(topic)) }
        if let clusterID { attributes.set(MessagingAttribute.clusterID, value: .string(clusterID)) }
        self.client.apply(to: &attributes, previousNames: self.legacyOperation != nil)
        if let legacyOperation {
            if let topic { attributes.set(MessagingAttribute.legacyDestination, value: .string(topic)) }
            attributes.set(MessagingAttribute.legacyOperation, value: .string(legacyOperation))
        }
        attributes.reserveCapacity(attributes.count + self.perMessage)
        return attributes
    }

    /// - Parameter topic: `nil` for an operation on several topics: no destination.
    func attributes(for topic: String?) -> SpanAttributes { self.template(for: topic).attributes }

    /// - Parameter topic: `nil` for an operation on several topics: no destination.
    func template(for topic: String?) -> SpanAttributeTemplate {
        // (Kafka topic names are never empty, so "" keys the template without a destination.)
        let key = topic ?? ""
        if let settled = self.settled.value(for: key) { return settled }
        let cached = self.templates.withLock { $0[key] }
        if let cached, !cached.lacksClusterID {
            self.settled.keep(cached.attributes, for: key)
            return cached.attributes
        }
        // No template yet, or one made before the cluster id was known (one atomic load).
        let clusterID = self.clusterID()
        if let cached, clusterID == nil { return cached.attributes }
        let template = Template(
            attributes: SpanAttributeTemplate(self.build(topic, clusterID: clusterID)),
            lacksClusterID: clusterID == nil
        )
        self.templates.withLock { templates in
            if templates.count < Self.maxTopics || templates[key] != nil { templates[key] = template }
        }
        return template.attributes
    }
}

extension KafkaTracingOptions {
    /// The chosen headers as `messaging.kafka.header.<name>` (the last one of a repeated key;
    /// null or non-UTF-8 values are left out).
    func captureHeaders(_ headers: [KafkaHeader], into attributes: inout SpanAttributeList) {
        self.captureHeaders(into: &attributes) { name in headers.last(where: { $0.key == name })?.stringValue }
    }

    /// The same for a consumed message, read in place.
    func captureHeaders(of message: KafkaConsumerMessage, into attributes: inout SpanAttributeList) {
        self.captureHeaders(into: &attributes) { message.headerValue(forKey: $0) }
    }

    /// `value(name)` is the last value of header `name`, or `nil`.
    private func captureHeaders(into attributes: inout SpanAttributeList, _ value: (String) -> String?) {
        for name in self.capturedHeaders {
            if let value = value(name) { attributes.set(MessagingAttribute.headerPrefix + name, value: .string(value)) }
        }
    }
}

extension ActiveTracer {
    /// Gives a span that just started a topic's attributes and those `addOwn` adds: the template
    /// by reference when the tracer can keep it (``AttributeTemplateTracer``), else a copy of it
    /// with the span's own set into it.
    ///
    /// The span's own attributes are collected in a list (``SpanAttributeList``: no hashing, one
    /// array): the built-in tracer keeps it as it is, any other gets them set into the template's
    /// dictionary.
    /// - Parameter reserving: how many attributes `addOwn` may add (room is made for them at once).
    @inline(__always)
    func setStartAttributes(
        of span: any Span,
        template: SpanAttributeTemplate,
        reserving: Int,
        _ addOwn: (inout SpanAttributeList) -> Void
    ) {
        var own = SpanAttributeList(minimumCapacity: reserving)
        addOwn(&own)
        if let tracer = self.templating, tracer.setStartAttributes(of: span, template: template, adding: own) { return }
        span.addStartAttributes(template.attributes.merging(own))
    }

    /// Adds or replaces attributes of a span (names that are new to it, or whose values the
    /// template does not hold): only into its own attributes when the tracer keeps them apart.
    @inline(__always)
    func addAttributes(to span: any Span, _ update: (inout SpanAttributeList) -> Void) {
        if let tracer = self.templating, tracer.addAttributes(to: span, update) { return }
        var added = SpanAttributeList()
        update(&added)
        // One access in place (a tracer whose span edits its attributes in place copies
        // nothing); `updateAttributes` copies the whole set.
        span.attributes.set(contentsOf: added)
    }
}

extension Span {
    /// Gives a span that just started its attributes: assigned whole when it has none yet (the
    /// usual case: no hashing, and the tracer does not prepare storage of its own only to have it
    /// replaced), merged into what the tracer already set otherwise.
    func addStartAttributes(_ attributes: SpanAttributes) {
        if self.attributes.isEmpty {
            self.attributes = attributes
        } else {
            self.updateAttributes { $0.merge(attributes) }
        }
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
