// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-kafka-tracing",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Kafka", targets: ["Kafka"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
    ],
    targets: [
        // The C library, found with pkg-config (Debian: librdkafka-dev).
        .systemLibrary(
            name: "CRDKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        // The Swift Kafka client over librdkafka, with the embedded (mock) broker.
        .target(
            name: "Kafka",
            dependencies: [
                "CRDKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "KafkaTests",
            dependencies: ["Kafka"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Kafka",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "IntegrationTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
