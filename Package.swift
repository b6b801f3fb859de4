// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "swift-brevitas",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "TensorEngine", targets: ["TensorEngine"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "QuantCore", targets: ["QuantCore"]),
        .library(name: "Quantizers", targets: ["Quantizers"]),
        .library(name: "QuantNN", targets: ["QuantNN"]),
        .library(name: "ONNXProto", targets: ["ONNXProto"]),
        .library(name: "ONNXExport", targets: ["ONNXExport"]),
        .library(name: "Graph", targets: ["Graph"]),
        .library(name: "ONNXImport", targets: ["ONNXImport"]),
        .library(name: "GraphQuant", targets: ["GraphQuant"]),
        .library(name: "PTQ", targets: ["PTQ"]),
        .library(name: "Conformance", targets: ["Conformance"]),
        .library(name: "IntegerInference", targets: ["IntegerInference"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Distributed", targets: ["Distributed"]),
        .library(name: "Brevitas", targets: ["Brevitas"]),
        .executable(name: "brevitas", targets: ["BrevitasMain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "CKernels"),
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "TensorEngine",
            dependencies: ["CKernels", .target(name: "COpenBLAS", condition: .when(platforms: [.linux]))]
        ),
        // One reference-fixture reader and one `expectClose` for every test target.
        .target(name: "TestSupport", dependencies: ["TensorEngine"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorEngineTests", dependencies: ["TensorEngine", "TestSupport"]),
        .executableTarget(
            name: "EngineBench", dependencies: ["TensorEngine"], path: "Benchmarks/EngineBench",
            exclude: ["torch_conv.py"]),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        .target(
            name: "NN",
            dependencies: ["TensorEngine", "CZlib"],
            resources: [.copy("Resources/digits.csv.gz"), .copy("Resources/DIGITS-LICENSE.md")]
        ),
        .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport"]),
        .target(name: "QuantCore", dependencies: ["TensorEngine", "NN", "CKernels"]),
        .target(name: "Quantizers", dependencies: ["TensorEngine", "NN", "QuantCore"]),
        .target(name: "QuantNN", dependencies: ["TensorEngine", "NN", "QuantCore", "Quantizers"]),
        .testTarget(name: "QuantCoreTests", dependencies: ["TensorEngine", "QuantCore"]),
        .testTarget(name: "QuantizersTests", dependencies: ["TensorEngine", "QuantCore", "Quantizers", "QuantNN"]),
        .testTarget(name: "QuantNNTests", dependencies: ["TensorEngine", "NN", "QuantCore", "Quantizers", "QuantNN", "TestSupport"]),
        .target(
            name: "ONNXProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["onnx.proto3", "REGENERATE.md"]
        ),
        .target(
            name: "ONNXExport",
            dependencies: [
                "TensorEngine", "NN", "QuantCore", "Quantizers", "QuantNN", "ONNXProto", "Graph", "GraphQuant",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .testTarget(
            name: "ONNXExportTests",
            dependencies: ["TensorEngine", "NN", "QuantCore", "Quantizers", "QuantNN", "ONNXProto", "ONNXExport", "Conformance", "Models", "TestSupport",
                           "Graph", "GraphQuant", "ONNXImport"],
            exclude: ["check_onnx.py"]
        ),
        .target(name: "Graph", dependencies: ["TensorEngine", "NN"]),
        .testTarget(name: "GraphTests", dependencies: ["Graph", "NN", "TensorEngine"]),
        .target(
            name: "ONNXImport",
            dependencies: ["TensorEngine", "NN", "Graph", "ONNXProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .testTarget(name: "ONNXImportTests", dependencies: ["ONNXImport", "ONNXProto", "Graph", "NN", "TensorEngine"]),
        .target(name: "GraphQuant", dependencies: ["Graph", "QuantNN", "Quantizers", "QuantCore", "NN", "TensorEngine"]),
        .testTarget(name: "GraphQuantTests", dependencies: ["GraphQuant", "Graph", "QuantNN", "Quantizers", "QuantCore", "NN", "TensorEngine", "TestSupport"]),
        .target(name: "PTQ", dependencies: ["GraphQuant", "Graph", "QuantNN", "Quantizers", "QuantCore", "NN", "TensorEngine"]),
        .testTarget(name: "PTQTests", dependencies: ["PTQ", "GraphQuant", "Graph", "QuantNN", "Quantizers", "QuantCore", "NN", "TensorEngine", "TestSupport"]),
        .target(name: "IntegerInference", dependencies: ["TensorEngine", "NN", "QuantCore", "Quantizers", "QuantNN", "Graph", "GraphQuant"]),
        .testTarget(name: "IntegerInferenceTests", dependencies: ["IntegerInference", "TensorEngine", "NN", "Quantizers", "QuantNN", "Graph", "GraphQuant", "ONNXImport", "TestSupport"]),
        .target(name: "Conformance", dependencies: ["TensorEngine", "NN", "QuantCore", "Quantizers", "QuantNN", "ONNXExport", "Graph", "GraphQuant", "PTQ"]),
        .testTarget(name: "ConformanceTests", dependencies: ["Conformance", "TestSupport"]),
        .target(
            name: "Models",
            dependencies: ["TensorEngine", "NN", "Quantizers", "QuantNN", "ONNXExport", "IntegerInference"]
        ),
        // Data-parallel training over MPI (Open MPI: libopenmpi-dev, scripts/install-deps.sh).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]),
        .target(name: "Distributed", dependencies: ["CMPI", "TensorEngine", "NN", "QuantCore", "QuantNN"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "TensorEngine", "NN", "QuantNN", "Quantizers", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "TensorEngine", "NN", "QuantNN", "TestSupport"]),
        // The umbrella: `import Brevitas` re-exports every public library.
        .target(
            name: "Brevitas",
            dependencies: ["TensorEngine", "NN", "QuantCore", "Quantizers", "QuantNN", "ONNXExport", "Graph", "ONNXImport",
                           "IntegerInference", "Models"]
        ),
        .testTarget(name: "BrevitasTests", dependencies: ["Brevitas"]),
        .target(
            name: "BrevitasCLI",
            dependencies: [
                "TensorEngine", "NN", "QuantCore", "Quantizers", "QuantNN", "Conformance", "ONNXExport", "Graph", "ONNXImport", "IntegerInference", "Models",
                "GraphQuant", "PTQ", "Distributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "BrevitasCLITests", dependencies: ["BrevitasCLI", "Models", "TensorEngine", "NN", "QuantNN", "Graph", "GraphQuant", "ONNXExport", "ONNXImport", "ONNXProto",
                                                          .product(name: "SwiftProtobuf", package: "swift-protobuf"), "TestSupport"]),
        .executableTarget(name: "BrevitasMain", dependencies: ["BrevitasCLI"]),
    ],
    swiftLanguageModes: [.v5]
)

// libFuzzer targets, one per reader of outside files (Fuzz/README.md). They exist only when
// scripts/fuzz.sh builds them (BREVITAS_FUZZ=1, own --build-path, -sanitize=fuzzer,address), so
// `swift build` and `swift test` never see them.
if Context.environment["BREVITAS_FUZZ"] == "1" {
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzSafeTensors", ["NN", "TensorEngine"]),
        ("FuzzONNXImport", ["ONNXImport", "NN", "TensorEngine"]),
        ("FuzzNumPy", ["NN", "TensorEngine"]),
        ("FuzzIDX", ["NN", "TensorEngine"]),
        ("FuzzCIFAR", ["NN", "TensorEngine"]),
        ("FuzzRunConfig", ["BrevitasCLI", "Models"]),
        ("FuzzConformanceCase", ["Conformance", "NN", "QuantNN", "Quantizers", "TensorEngine"]),
    ]
    for target in fuzzTargets {
        package.targets.append(.executableTarget(
            name: target.name, dependencies: target.dependencies, path: "Fuzz/\(target.name)",
            exclude: ["corpus"], swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
    }
}
