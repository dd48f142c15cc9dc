import CRDKafka

/// Owns an `rd_kafka_conf_t` until `rd_kafka_new` takes it.
///
/// librdkafka takes ownership of a conf only when `rd_kafka_new` succeeds; on failure (and when
/// the conf is only built to validate properties) it is freed here.
final class RDKafkaConfig {
    private(set) var pointer: OpaquePointer?

    /// Applies every property, failing on the first that librdkafka rejects.
    /// - Throws: ``KafkaError`` with librdkafka's own text; a secret's value is masked in it.
    init(properties: KafkaClientProperties) throws(KafkaError) {
        let pointer = rd_kafka_conf_new()!
        self.pointer = pointer
        for (key, value) in properties.entries {
            try Self.set(key, value, on: pointer)
        }
    }

    private static func set(_ key: String, _ value: String, on pointer: OpaquePointer) throws(KafkaError) {
        var errorText = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(pointer, key, value, &errorText, errorText.count)
        guard result != RD_KAFKA_CONF_OK else { return }
        var text = String(errorBuffer: errorText)
        if KafkaClientProperties.isSecret(key), !value.isEmpty {
            text = text.replacing(value, with: "***")
        }
        let what = result == RD_KAFKA_CONF_UNKNOWN ? "unknown configuration property" : "invalid configuration value"
        throw KafkaError.invalidConfiguration("\(what) \"\(key)\": \(text)")
    }

    /// Sets a C callback-related option directly; used before ``take()``.
    func withPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(self.pointer!)
    }

    /// Hands the conf to `rd_kafka_new`; call ``consumed()`` when that succeeded.
    func consumed() { self.pointer = nil }

    deinit {
        if let pointer { rd_kafka_conf_destroy(pointer) }
    }
}
