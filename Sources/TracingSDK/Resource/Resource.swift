#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tracing

/// The entity that produces telemetry: a service, on a host, in a process. Every span of a tracer
/// carries its tracer's resource.
public struct Resource: Sendable, Equatable {
    public var attributes: SpanAttributes {
        didSet { self.identity = Identity() }
    }
    /// Shared by copies of an unchanged resource, so that exporters grouping thousands of spans
    /// by resource compare one pointer instead of every attribute.
    private var identity = Identity()

    private final class Identity: Sendable {}

    public init(attributes: SpanAttributes = [:]) { self.attributes = attributes }

    public static func == (lhs: Resource, rhs: Resource) -> Bool {
        lhs.identity === rhs.identity || lhs.attributes == rhs.attributes
    }

    /// `service.name`.
    public var serviceName: String? {
        if case .string(let name) = self.attributes.get("service.name") { return name }
        return nil
    }

    /// This resource's attributes with `other`'s on top.
    public func merging(_ other: Resource) -> Resource {
        var attributes = self.attributes
        attributes.merge(other.attributes)
        return Resource(attributes: attributes)
    }

    /// What the SDK knows by itself: `telemetry.sdk.*`, `host.name`, `process.pid`, and a
    /// `service.name` of `unknown_service:<process>`.
    public static func detected() -> Resource {
        var attributes = SpanAttributes()
        attributes.set("telemetry.sdk.name", value: .string(SDKInfo.name))
        attributes.set("telemetry.sdk.language", value: .string("swift"))
        attributes.set("telemetry.sdk.version", value: .string(SDKInfo.version))
        attributes.set("service.name", value: .string("unknown_service:\(processName())"))
        attributes.set("process.pid", value: .int64(Int64(getpid())))
        if let host = hostName() { attributes.set("host.name", value: .string(host)) }
        return Resource(attributes: attributes)
    }

    /// Parses `OTEL_RESOURCE_ATTRIBUTES` (`key=value,key2=value2`, values percent-decoded).
    /// - Returns: the attributes, or `nil` when the value is malformed (the whole value is then
    ///   ignored, as the specification asks).
    public static func parseAttributes(_ text: String) -> SpanAttributes? {
        var attributes = SpanAttributes()
        for member in text.split(separator: ",", omittingEmptySubsequences: true) {
            let pair = member.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { return nil }
            let key = pair[0].trimmingOWS()
            guard !key.isEmpty, let value = percentDecode(pair[1].trimmingOWS()) else { return nil }
            attributes.set(String(key), value: .string(value))
        }
        return attributes
    }
}

private func processName() -> String {
    CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "swift"
}

private func hostName() -> String? {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count) == 0 else { return nil }
    let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return name.isEmpty ? nil : name
}
