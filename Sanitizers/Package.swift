// swift-tools-version:6.1
// netft's Core and its tests, alone, for the sanitizer lanes
// (scripts/sanitizers.sh: AddressSanitizer and ThreadSanitizer). Shared/
// links to the main package's sources: one copy of the code, and none of the
// main package's dependencies to rebuild under each sanitizer.
import PackageDescription

let package = Package(
    name: "netft-sanitizers",
    targets: [
        .systemLibrary(name: "CSodium", path: "Shared/CSodium", pkgConfig: "libsodium"),
        .target(name: "NetFTCore", dependencies: ["CSodium"], path: "Shared/NetFTCore"),
        .testTarget(name: "NetFTCoreTests", dependencies: ["NetFTCore"], path: "Shared/NetFTCoreTests"),
    ]
)
