// swift-tools-version:6.0
// Strata: a tiered storage engine for streams. Targets and their roles: docs/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "Strata",
    products: [
        .library(name: "Strata", targets: ["Strata"]),
        .library(name: "StrataFormat", targets: ["StrataFormat"]),
        .library(name: "StrataBlob", targets: ["StrataBlob"]),
        .library(name: "StrataKafka", targets: ["StrataKafka"]),
        .library(name: "StrataExport", targets: ["StrataExport"]),
        .library(name: "StrataParquet", targets: ["StrataParquet"]),
        .library(name: "StrataIceberg", targets: ["StrataIceberg"]),
        .executable(name: "strata", targets: ["strata"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3" ..< "4.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Observability (ARCHITECTURE.md "Observability"): metrics API, Prometheus backend, logging API.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // TLS listeners of `strata serve` (StrataServer only).
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
    ],
    targets: [
        // System libraries: Debian provides them as -dev packages (tools/test installs them).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // Kafka's produce codecs besides zstd (formats/kafka.md, "Compression"); StrataKafka only.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CLz4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // CRC32C with the SSE4.2 instruction (20x the Swift table loop, see TOOLCHAIN.md).
        .target(name: "CStrataCRC", cSettings: [.unsafeFlags(["-O3"])]),
        // swift-crypto for AES-256-GCM of encrypted cold frames (FrameCipher.swift).
        .target(
            name: "StrataFormat",
            dependencies: ["CZstd", "CStrataCRC", .product(name: "Crypto", package: "swift-crypto")]),
        // Records as text (JSON lines, CSV: formats/export.md) for the CLI and batch jobs; not engine code.
        .target(name: "StrataExport", dependencies: ["StrataFormat"]),
        // Parquet data files of the table schema (formats/table.md): pure, StrataFormat for zstd and records.
        .target(name: "StrataParquet", dependencies: ["StrataFormat"]),
        // Iceberg v2 table metadata (formats/table.md): Avro manifests and metadata JSON as bytes, no I/O;
        // StrataParquet for the data files' footers (statistics).
        .target(name: "StrataIceberg", dependencies: ["StrataParquet", "StrataFormat"]),
        .target(
            name: "StrataBlob",
            dependencies: ["CCurl", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // CoreMetrics only: a library user picks the backend (MetricsSystem.bootstrap or LakeOptions.metrics).
        .target(
            name: "Strata",
            dependencies: [
                "StrataFormat", "StrataBlob", "StrataParquet", "StrataIceberg",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),
        // Kafka wire protocol codecs (formats/kafka.md): pure, no NIO; StrataFormat for CRC32C and batches,
        // the C codecs for compressed produce batches.
        .target(name: "StrataKafka", dependencies: ["StrataFormat", "CZstd", "CZlib", "CSnappy", "CLz4"]),
        // Test doubles (in-memory and fault-injecting stores, a manual clock): never in a product.
        .target(name: "StrataTesting", dependencies: ["Strata", "StrataBlob"]),
        // `strata serve`: the Kafka protocol over the lake (SwiftNIO for I/O only; engine calls are async).
        .target(
            name: "StrataServer",
            dependencies: [
                "Strata", "StrataKafka", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "strata",
            dependencies: [
                "Strata", "StrataExport", "StrataServer", "StrataParquet", "StrataIceberg",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Rebuilds formats/vectors (tools/gen-vectors); the golden vector test checks them.
        .executableTarget(
            name: "strata-vectors", dependencies: ["StrataFormat", "StrataExport", "StrataParquet", "StrataIceberg"]),
        // StrataBlob for the project's one seeded generator (SplitMix64); StrataTesting to run the real `zstd -d`.
        .testTarget(name: "StrataFormatTests", dependencies: ["StrataFormat", "StrataBlob", "StrataTesting"]),
        .testTarget(name: "StrataKafkaTests", dependencies: ["StrataKafka", "StrataFormat"]),
        .testTarget(
            name: "StrataServerTests",
            dependencies: [
                "StrataServer", "Strata", "StrataKafka", "StrataTesting",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "StrataParquetTests", dependencies: ["StrataParquet", "StrataFormat", "StrataTesting"], exclude: ["Readers"]),
        .testTarget(
            name: "StrataIcebergTests", dependencies: ["StrataIceberg", "StrataParquet", "StrataFormat", "StrataTesting"],
            exclude: ["Readers"]),
        .testTarget(name: "StrataExportTests", dependencies: ["StrataExport", "StrataFormat"]),
        .testTarget(name: "StrataBlobTests", dependencies: ["StrataBlob", "StrataTesting"], exclude: ["Fixtures"]),
        .testTarget(
            name: "StrataTests",
            dependencies: [
                "Strata", "StrataFormat", "StrataBlob", "StrataParquet", "StrataIceberg", "StrataTesting",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
    ]
)
