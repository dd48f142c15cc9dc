// swift-tools-version:6.1
// Benchmarks live in their own package so users of the library do not pull their dependencies.
// Run them with `make bench` (or `swift package --disable-sandbox benchmark` here).
import PackageDescription

let package = Package(
    name: "benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-kafka-tracing", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.65.0"),
        .package(url: "https://github.com/ordo-one/malloc-interposer.git", from: "1.6.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.0.0"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.20.0"),
    ],
    targets: [
        // What several benchmarks share.
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                .product(name: "TracingSDK", package: "swift-kafka-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ],
            path: "Support/BenchmarkSupport"
        ),
        .executableTarget(
            name: "TracingSDKBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "BenchmarkSupport",
                .product(name: "TracingSDK", package: "swift-kafka-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Benchmarks/TracingSDKBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "OTLPExporterBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "BenchmarkSupport",
                .product(name: "TracingSDK", package: "swift-kafka-tracing"),
                .product(name: "OTLPExporter", package: "swift-kafka-tracing"),
                .product(name: "OTLPGRPCExporter", package: "swift-kafka-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/OTLPExporterBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "KafkaBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "BenchmarkSupport",
                .product(name: "Kafka", package: "swift-kafka-tracing"),
                .product(name: "KafkaTracing", package: "swift-kafka-tracing"),
                .product(name: "TracingSDK", package: "swift-kafka-tracing"),
                .product(name: "MetricsSDK", package: "swift-kafka-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/KafkaBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Not an ordo-one benchmark: the metrics' cost over a traced message, interleaved (run.sh).
        .executableTarget(
            name: "MetricsCost",
            dependencies: [
                .product(name: "Kafka", package: "swift-kafka-tracing"),
                .product(name: "KafkaTracing", package: "swift-kafka-tracing"),
                .product(name: "TracingSDK", package: "swift-kafka-tracing"),
                .product(name: "MetricsSDK", package: "swift-kafka-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Throughput/MetricsCost"
        ),
        // Not an ordo-one benchmark: the throughput runs that run.sh puts beside the C baseline.
        .executableTarget(
            name: "KafkaThroughput",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Kafka", package: "swift-kafka-tracing"),
                .product(name: "KafkaTracing", package: "swift-kafka-tracing"),
                .product(name: "TracingSDK", package: "swift-kafka-tracing"),
                .product(name: "OTLPExporter", package: "swift-kafka-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Throughput/KafkaThroughput"
        ),
    ],
    swiftLanguageModes: [.v6]
)
