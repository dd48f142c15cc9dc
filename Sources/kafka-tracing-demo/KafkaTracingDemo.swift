import ArgumentParser

/// A traced producer and consumer on the command line: the seed's order pipeline, and tools to
/// check that traces cross between services.
@main
struct KafkaTracingDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-tracing-demo",
        abstract: "Traced Kafka producers and consumers, on an embedded broker or a real cluster.",
        subcommands: [Pipeline.self, Produce.self, Consume.self, Relay.self, Broker.self],
        defaultSubcommand: Pipeline.self
    )
}
