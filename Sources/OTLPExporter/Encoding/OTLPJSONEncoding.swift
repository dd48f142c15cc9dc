import Foundation
import SwiftProtobuf

/// OTLP/JSON: the protobuf JSON mapping with OTLP's rules: lowerCamelCase field names, enums as
/// integers, and trace and span ids as hex strings (not base64).
enum OTLPJSONEncoding {
    static func encode(_ request: some SwiftProtobuf.Message) throws -> Data {
        var options = JSONEncodingOptions()
        options.alwaysPrintEnumsAsInts = true
        options.preserveProtoFieldNames = false
        let json = try request.jsonUTF8Data(options: options)
        guard var object = try JSONSerialization.jsonObject(with: json) as? [String: Any] else { return json }
        object = self.hexIDs(object) as? [String: Any] ?? object
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    private static let idKeys: Set<String> = ["traceId", "spanId", "parentSpanId"]

    /// Rewrites base64 id fields as lowercase hex, everywhere in the tree.
    private static func hexIDs(_ value: Any) -> Any {
        switch value {
        case let dictionary as [String: Any]:
            var result: [String: Any] = [:]
            for (key, element) in dictionary {
                if Self.idKeys.contains(key), let base64 = element as? String, let data = Data(base64Encoded: base64) {
                    result[key] = data.map { String(format: "%02x", $0) }.joined()
                } else {
                    result[key] = self.hexIDs(element)
                }
            }
            return result
        case let array as [Any]:
            return array.map(self.hexIDs)
        default:
            return value
        }
    }
}
