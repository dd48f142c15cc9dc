import Foundation

/// Which messaging attribute names the spans carry, as OpenTelemetry's
/// `OTEL_SEMCONV_STABILITY_OPT_IN` chooses them.
public struct SemconvStabilityOptIn: Sendable, Hashable, CustomStringConvertible {
    private enum Backing: Sendable, Hashable { case messaging, messagingDup }
    private let backing: Backing

    /// `messaging`: the current names only (semantic conventions v1.27 and later). The default.
    public static let messaging = SemconvStabilityOptIn(backing: .messaging)
    /// `messaging/dup`: the current names and the pre-1.27 ones together, while dashboards move
    /// (`messaging.destination`, `messaging.operation`, `messaging.kafka.partition`,
    /// `messaging.kafka.destination.partition`, `messaging.kafka.message.offset`,
    /// `messaging.kafka.consumer.group`, `messaging.client_id`).
    public static let messagingDup = SemconvStabilityOptIn(backing: .messagingDup)

    /// Whether the pre-1.27 names are emitted too.
    public var emitsPreviousNames: Bool { self.backing == .messagingDup }

    /// Reads `OTEL_SEMCONV_STABILITY_OPT_IN`, a comma-separated list: `messaging/dup` wins over
    /// `messaging`; neither (or no variable) means ``messaging``. Values for other areas (`http`,
    /// `database`, …) are ignored.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Self {
        let values = (environment[KafkaTracingEnvironment.semconvStabilityOptIn] ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return values.contains("messaging/dup") ? .messagingDup : .messaging
    }

    public var description: String { self.backing == .messaging ? "messaging" : "messaging/dup" }
}

/// The environment variables the Kafka instrumentation reads (it shares none with the tracer
/// SDK's table, which it does not depend on).
enum KafkaTracingEnvironment {
    static let semconvStabilityOptIn = "OTEL_SEMCONV_STABILITY_OPT_IN"
}
