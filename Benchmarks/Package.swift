// swift-tools-version:6.1
// netft's per-operation Core microbenchmarks (ordo-one/benchmark), a package
// of their own so that the benchmark library and its allocator interposer
// are never resolved by a user of netft's own package. Shared/ links to the
// main package's sources: one copy of the code.
//   cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --target NetFTCoreBenchmarks
import PackageDescription

let package = Package(
    name: "netft-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"])
    ],
    targets: [
        .systemLibrary(name: "CSodium", path: "Shared/CSodium", pkgConfig: "libsodium"),
        .target(name: "NetFTCore", dependencies: ["CSodium"], path: "Shared/NetFTCore"),
        .executableTarget(
            name: "NetFTCoreBenchmarks",
            dependencies: ["NetFTCore", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/NetFTCoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
