// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-kafka-tracing",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Kafka", targets: ["Kafka"]),
        .library(name: "TracingSDK", targets: ["TracingSDK"]),
        .library(name: "MetricsSDK", targets: ["MetricsSDK"]),
        .library(name: "OTLPExporter", targets: ["OTLPExporter"]),
        .library(name: "OTLPGRPCExporter", targets: ["OTLPGRPCExporter"]),
        .library(name: "KafkaTracing", targets: ["KafkaTracing"]),
        .library(name: "TracingCapabilities", targets: ["TracingCapabilities"]),
        .executable(name: "kafka-tracing-demo", targets: ["kafka-tracing-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.2.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.65.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.28.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.27.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.0.0"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.0.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.0.0"),
        // Tests only: HTTP header fields, to show propagation into what HTTP frameworks use.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
    ],
    targets: [
        // The C library, found with pkg-config (Debian: librdkafka-dev).
        .systemLibrary(
            name: "CRDKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        // Under ThreadSanitizer only: librdkafka's C11 threads started through pthread_create,
        // so TSan sees them (empty in every other build).
        .target(name: "CTSanThreads"),
        // The lock of all shared state (pthread-based, so ThreadSanitizer sees it).
        .target(name: "Locking"),
        // The Swift Kafka client over librdkafka, with the embedded (mock) broker.
        .target(
            name: "Kafka",
            dependencies: [
                "Locking",
                "CRDKafka",
                "CTSanThreads",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Optional capabilities a tracer can offer instrumentation (protocols, and the template
        // class one of them shares): the instrumentation detects them and takes a faster path,
        // without depending on our SDK.
        .target(
            name: "TracingCapabilities",
            dependencies: ["Locking", .product(name: "Tracing", package: "swift-distributed-tracing")]
        ),
        // The built-in tracer: an OpenTelemetry-style SDK behind swift-distributed-tracing.
        .target(
            name: "TracingSDK",
            dependencies: [
                "Locking",
                "TracingCapabilities",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The built-in metrics pipeline: a swift-metrics backend with OpenTelemetry aggregation and
        // a periodic reader, sharing the tracer's resource and environment variables.
        .target(
            name: "MetricsSDK",
            dependencies: [
                "Locking",
                "TracingSDK",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The OTLP exporter: spans to any OpenTelemetry collector over HTTP (protobuf or JSON).
        .target(
            name: "OTLPExporter",
            dependencies: [
                "Locking",
                "TracingSDK",
                "TracingCapabilities",
                "MetricsSDK",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Generated/README.md"]
        ),
        // OTLP over gRPC (port 4317), in its own module so that only its users build gRPC.
        .target(
            name: "OTLPGRPCExporter",
            dependencies: [
                "Locking",
                "OTLPExporter",
                "TracingSDK",
                "MetricsSDK",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The instrumentation: TracedProducer and the traced consumer. It depends on
        // swift-distributed-tracing and the Kafka client only, never on our SDK.
        .target(
            name: "KafkaTracing",
            dependencies: [
                "Locking",
                "Kafka",
                "TracingCapabilities",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The demo: the order pipeline on the embedded broker, traced end to end.
        .executableTarget(
            name: "kafka-tracing-demo",
            dependencies: [
                "Locking",
                "Kafka",
                "KafkaTracing",
                "TracingSDK",
                "MetricsSDK",
                "OTLPExporter",
                "OTLPGRPCExporter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The propagation parsers under libFuzzer (scripts/fuzz.sh); built normally, it replays
        // the inputs given as arguments.
        .executableTarget(
            name: "PropagationFuzzer",
            dependencies: ["TracingSDK"]
        ),
        // Tests only: an in-process HTTP server standing in for an OpenTelemetry collector.
        .target(
            name: "OTLPTestReceiver",
            dependencies: [
                "Locking",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/OTLPTestReceiver"
        ),
        .testTarget(
            name: "OTLPExporterTests",
            dependencies: [
                "OTLPExporter",
                "TracingCapabilities",
                "MetricsSDK",
                .product(name: "Metrics", package: "swift-metrics"),
                "OTLPTestReceiver",
                "TracingSDK",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "OTLPGRPCExporterTests",
            dependencies: [
                "OTLPGRPCExporter",
                "OTLPTestReceiver",
                "OTLPExporter",
                "TracingSDK",
                "MetricsSDK",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "TracingSDKTests",
            dependencies: [
                "OTLPTestReceiver",
                "Locking",
                "TracingSDK",
                "TracingCapabilities",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["FuzzCorpus"]
        ),
        .testTarget(
            name: "MetricsSDKTests",
            dependencies: [
                "Locking",
                "MetricsSDK",
                "TracingSDK",
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "KafkaTests",
            dependencies: ["Kafka", "Locking"]
        ),
        .testTarget(name: "LockingTests", dependencies: ["Locking"]),
        .testTarget(name: "KafkaTracingTests", dependencies: ["KafkaTracing"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Locking",
                "Kafka",
                "KafkaTracing",
                "TracingSDK",
                "MetricsSDK",
                "OTLPExporter",
                "OTLPGRPCExporter",
                "OTLPTestReceiver",
                "TracingCapabilities",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "IntegrationTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
