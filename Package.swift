// swift-tools-version: 6.2

import Foundation
import PackageDescription

// The architecture, visible from the target list: Forest <- Scoring <- Pipeline -> Kafka, HTTP;
// the `verdict` executable composes them. Only VerdictKafka imports the C library.
let package = Package(
    name: "verdict",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "verdict", targets: ["verdict"]),
        .library(name: "VerdictKafka", targets: ["VerdictKafka"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(
            name: "VerdictKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "VerdictForest"),
        .target(
            name: "VerdictONNX",
            dependencies: ["VerdictForest", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Proto"]
        ),
        .target(
            name: "VerdictScoring",
            dependencies: ["VerdictForest", .product(name: "Yams", package: "Yams")]
        ),
        .target(name: "VerdictSynthetic", dependencies: ["VerdictScoring"]),
        .target(
            name: "VerdictPipeline",
            dependencies: [
                "VerdictKafka",
                "VerdictScoring",
                "VerdictForest",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "VerdictHTTP",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "verdict",
            dependencies: [
                "VerdictKafka",
                "VerdictForest",
                "VerdictONNX",
                "VerdictScoring",
                "VerdictSynthetic",
                "VerdictPipeline",
                "VerdictHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // examples/swift: a downstream consumer of decisions on the Kafka wrapper (docs/integration.md;
        // run against the embedded broker in make test).
        .executableTarget(
            name: "verdict-example-consumer",
            dependencies: ["VerdictKafka", .product(name: "Logging", package: "swift-log")],
            path: "examples/swift/DecisionConsumer"
        ),
        // libFuzzer targets (scripts/fuzz builds them with -sanitize=fuzzer,address -DFUZZING); an
        // ordinary build is a replay tool that runs saved inputs once.
        .executableTarget(name: "verdict-fuzz", dependencies: ["VerdictForest", "VerdictONNX", "VerdictScoring"], path: "Sources/VerdictFuzz"),
        .testTarget(
            name: "VerdictKafkaTests",
            dependencies: ["VerdictKafka", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "VerdictForestTests", dependencies: ["VerdictForest", "VerdictONNX"], exclude: ["Fixtures"]),
        .testTarget(
            name: "VerdictScoringTests",
            dependencies: ["VerdictScoring", "VerdictForest", "VerdictONNX", "VerdictSynthetic"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "VerdictPipelineTests",
            dependencies: [
                "VerdictPipeline", "VerdictKafka", "VerdictScoring", "VerdictForest", "VerdictONNX",
                .product(name: "Logging", package: "swift-log"), .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "VerdictHTTPTests",
            dependencies: [
                "VerdictHTTP", .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "VerdictKafka", "VerdictPipeline", "VerdictScoring",
                .product(name: "Logging", package: "swift-log"), .product(name: "Yams", package: "Yams"),
            ]
        ),
    ]
)

// One set of settings for every target, as swift-configuration does. CI (.ci/run and
// .github/workflows/ci.yml) sets VERDICT_WARNINGS_AS_ERRORS=1: a warning in our code fails the build
// there, while a local build stays usable mid-change. Dependencies are not affected.
let warningsAsErrors = ProcessInfo.processInfo.environment["VERDICT_WARNINGS_AS_ERRORS"] == "1"
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(contentsOf: [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ])
    if warningsAsErrors { settings.append(.treatAllWarnings(as: .error)) }
    target.swiftSettings = settings
}

// The forest evaluator and its TreeSHAP are SIMD arithmetic on doubles. Built for Haswell-class
// x86-64 (AVX2 and FMA: Intel since 2013, AMD since Zen in 2017, every x86 cloud instance type in
// use), TreeSHAP runs 8-14% faster on 300-tree depth-6 models than built for baseline x86-64,
// whose SSE2 takes two instructions per SIMD4<Double> operation (docs/benchmarks.md section 16).
// Only VerdictForest is built so, and `verdict` checks the CPU before any of its code runs: on a
// CPU without these instructions it exits with a message naming this variable, instead of dying of
// SIGILL mid-stream.
// VERDICT_TARGET_CPU=x86-64 builds for any x86-64 CPU (docs/operations.md, "CPU").
#if arch(x86_64)
let forestCPU = Context.environment["VERDICT_TARGET_CPU"] ?? "haswell"
// Two choices only: the executable's check knows the instructions of these two.
precondition(["haswell", "x86-64"].contains(forestCPU), "VERDICT_TARGET_CPU is '\(forestCPU)'; use haswell (the default) or x86-64")
if forestCPU == "haswell" {
    for target in package.targets {
        if target.name == "VerdictForest" {
            target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-target-cpu", forestCPU])]
        } else if target.name == "verdict" {
            // What the executable checks for before it runs a command (Sources/VerdictPipeline/Services/CPUSupport.swift).
            target.swiftSettings = (target.swiftSettings ?? []) + [.define("VERDICT_FOREST_HASWELL")]
        }
    }
}
#endif
