import Kafka
import Metrics

extension MessagingMetrics {
    /// Sets a configuration's statistics interval to the options' when metrics are measured and
    /// the configuration asks for none itself.
    static func askForStatistics(_ interval: inout Duration?, _ properties: [String: String], _ options: KafkaTracingOptions) {
        guard interval == nil, properties["statistics.interval.ms"] == nil,
            !(MetricsSystem.factory is NOOPMetricsHandler)
        else { return }
        interval = options.clientStatisticsInterval
    }

    /// Records the gauges of one librdkafka statistics report. Runs on the client's statistics
    /// queue (see `KafkaProducer.onStatistics`), never on a Kafka thread: every few seconds, so
    /// instruments are simply asked of the factory, which hands out the same one for the same
    /// label and dimensions.
    func observed(_ statistics: KafkaStatistics) {
        let factory = self.factory
        if statistics.clientType == "producer" {
            Gauge(label: MessagingMetricName.producerQueueMessages, dimensions: self.client, factory: factory)
                .record(statistics.queuedMessages)
            Gauge(label: MessagingMetricName.producerQueueBytes, dimensions: self.client, factory: factory)
                .record(statistics.queuedBytes)
        }
        for broker in statistics.brokers where broker.nodeID >= 0 {
            var dimensions = self.client
            let (host, port) = Self.hostAndPort(ofBroker: broker.name)
            dimensions.append((MessagingAttribute.serverAddress, host))
            if let port { dimensions.append((MessagingAttribute.serverPort, port)) }
            dimensions.append(("messaging.kafka.broker.id", String(broker.nodeID)))
            if let average = broker.roundTripAverageMicroseconds {
                Gauge(label: MessagingMetricName.brokerRoundTripAverage, dimensions: dimensions, factory: factory)
                    .record(Double(average) / 1_000_000)
            }
            if let p99 = broker.roundTripP99Microseconds {
                Gauge(label: MessagingMetricName.brokerRoundTripP99, dimensions: dimensions, factory: factory)
                    .record(Double(p99) / 1_000_000)
            }
        }
        guard statistics.clientType == "consumer" else { return }
        for partition in statistics.partitions {
            let dimensions =
                self.client + [
                    (MessagingAttribute.destinationName, partition.topic),
                    (MessagingAttribute.partitionID, String(partition.partition)),
                ]
            if let lag = partition.consumerLag {
                Gauge(label: MessagingMetricName.consumerLag, dimensions: dimensions, factory: factory).record(lag)
            }
            Gauge(label: MessagingMetricName.fetchQueueMessages, dimensions: dimensions, factory: factory)
                .record(partition.fetchQueueMessages)
        }
    }

    /// `host:port/id` (librdkafka's broker name) → host and port.
    static func hostAndPort(ofBroker name: String) -> (String, String?) {
        let address = name.split(separator: "/", maxSplits: 1).first.map(String.init) ?? name
        guard let colon = address.lastIndex(of: ":"), !address.hasSuffix("]") else { return (address, nil) }
        var host = address[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return (String(host), String(address[address.index(after: colon)...]))
    }
}
