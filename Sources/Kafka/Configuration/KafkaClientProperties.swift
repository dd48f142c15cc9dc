import Foundation
/// The librdkafka properties a configuration resolves to, in the order they are applied, with
/// secrets kept out of every printed form.
public struct KafkaClientProperties: Sendable, Hashable, CustomStringConvertible {
    /// Key/value pairs in application order: typed settings first, then passthrough properties,
    /// so a passthrough property overrides a typed one.
    public private(set) var entries: [(key: String, value: String)]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for entry in self.entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }

    init(entries: [(key: String, value: String)] = []) { self.entries = entries }

    mutating func set(_ key: String, _ value: String?) {
        guard let value else { return }
        self.entries.append((key, value))
    }

    /// The value that will be in effect for `key` (the last one set).
    public subscript(key: String) -> String? {
        self.entries.last(where: { $0.key == key })?.value
    }

    /// Whether a property holds a secret that must never be printed, logged or put in an error.
    public static func isSecret(_ key: String) -> Bool {
        let key = key.lowercased()
        return key.contains("password") || key.contains("secret") || key == "ssl.key.pem"
            || key == "ssl_key" || key == "sasl.oauthbearer.config" || key.hasSuffix(".pem") && key.contains("key")
    }

    /// `value`, or a mask when `key` is a secret.
    static func printable(_ key: String, _ value: String) -> String {
        Self.isSecret(key) ? "***" : value
    }

    public var description: String {
        "[" + self.entries.map { "\($0.key)=\(Self.printable($0.key, $0.value))" }.joined(separator: ", ") + "]"
    }
}

/// Settings every client has: where the brokers are, who it is, how it authenticates, and any
/// librdkafka property not covered by a typed setting.
protocol KafkaClientConfiguration: Sendable, CustomStringConvertible {
    var bootstrapServers: [String] { get }
    var clientID: String? { get }
    var security: KafkaSecurity { get }
    var properties: [String: String] { get }
    /// The typed settings specific to this kind of client.
    func addSpecificProperties(to properties: inout KafkaClientProperties)
}

extension KafkaClientConfiguration {
    /// Every property this configuration sets, typed ones first, passthrough ones last (sorted by key,
    /// so the order is stable).
    var resolvedProperties: KafkaClientProperties {
        var result = KafkaClientProperties()
        result.set("bootstrap.servers", self.bootstrapServers.joined(separator: ","))
        result.set("client.id", self.clientID)
        for (key, value) in self.security.properties { result.set(key, value) }
        self.addSpecificProperties(to: &result)
        for (key, value) in self.properties.sorted(by: { $0.key < $1.key }) { result.set(key, value) }
        return result
    }

    public var description: String {
        "\(Self.self)\(self.resolvedProperties)"
    }

    func validateCommon() throws(KafkaError) {
        let servers = self.bootstrapServers.map { $0.trimmingCharacters(in: " ") }
        guard !servers.isEmpty, !servers.contains(where: \.isEmpty) else {
            throw .invalidConfiguration(
                "bootstrapServers is empty: give at least one broker as \"host:port\" (for example \"localhost:9092\")"
            )
        }
        // librdkafka's own message for a missing certificate or key file does not name the file.
        let properties = self.resolvedProperties
        for key in ["ssl.ca.location", "ssl.certificate.location", "ssl.key.location"] {
            guard let path = properties[key], !path.isEmpty, path != "probe" else { continue }
            guard FileManager.default.fileExists(atPath: path) else {
                throw .invalidConfiguration("\(key) names \"\(path)\", which does not exist: give the path of a readable PEM file")
            }
        }
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so a non-zero duration never becomes zero.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> Substring {
        var slice = self[...]
        while slice.first == character { slice.removeFirst() }
        while slice.last == character { slice.removeLast() }
        return slice
    }
}
