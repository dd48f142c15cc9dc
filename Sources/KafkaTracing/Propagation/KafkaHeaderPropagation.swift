import Kafka
import Tracing

/// Writes trace context into a message's headers: a header of the same key is replaced, the
/// others stay in order.
public struct KafkaHeadersInjector: Injector {
    public init() {}

    public func inject(_ value: String, forKey key: String, into headers: inout [KafkaHeader]) {
        // (Checked first: removing in place would copy a header list shared with the caller's
        // message even when nothing matches.)
        if headers.contains(where: { $0.key == key }) { headers.removeAll { $0.key == key } }
        headers.append(KafkaHeader(key: key, value: value))
    }
}

/// Reads trace context from a message's headers. When a key repeats, the last header wins; a
/// null, oversized or non-UTF-8 value counts as absent, so a malformed header starts a new trace.
public struct KafkaHeadersExtractor: Extractor {
    /// Header values longer than this are ignored, bounding the work per message.
    public static let maxValueBytes = 16 * 1024

    public init() {}

    public func extract(key: String, from headers: [KafkaHeader]) -> String? {
        guard let header = headers.last(where: { $0.key == key }), let count = header.valueCount,
            count <= Self.maxValueBytes
        else { return nil }
        return header.stringValue
    }
}

/// Reads trace context from a consumed message's headers in place (no copy of the headers): the
/// same rules as ``KafkaHeadersExtractor``.
public struct KafkaConsumerMessageExtractor: Extractor {
    public init() {}

    public func extract(key: String, from message: KafkaConsumerMessage) -> String? {
        message.headerValue(forKey: key, maxBytes: KafkaHeadersExtractor.maxValueBytes)
    }
}
