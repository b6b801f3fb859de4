// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "swift-brevitas",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "TensorEngine", targets: ["TensorEngine"]),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "TensorEngine",
            dependencies: [.target(name: "COpenBLAS", condition: .when(platforms: [.linux]))]
        ),
        .testTarget(name: "TensorEngineTests", dependencies: ["TensorEngine"]),
    ],
    swiftLanguageModes: [.v5]
)
