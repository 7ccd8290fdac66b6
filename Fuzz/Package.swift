// swift-tools-version:6.1
// libFuzzer targets over netft's Core, built apart from the main package so
// `-sanitize=fuzzer` (which brings its own main) touches nothing else.
// Shared/ links to the main package's Core sources: one copy of the code.
// Run them with scripts/fuzz.sh.
import PackageDescription

let package = Package(
    name: "netft-fuzz",
    targets: [
        .systemLibrary(name: "CSodium", path: "Shared/CSodium", pkgConfig: "libsodium"),
        .target(name: "NetFTCore", dependencies: ["CSodium"], path: "Shared/NetFTCore"),
        .target(name: "FuzzSupport", dependencies: ["NetFTCore"], path: "Targets/FuzzSupport"),
        // Arbitrary bytes through the frame codec and every payload parser.
        .executableTarget(name: "FuzzFrameCodec", dependencies: ["NetFTCore", "FuzzSupport"], path: "Targets/FuzzFrameCodec"),
        // Arbitrary frames into a NodeEngine that holds a session with its peer.
        .executableTarget(name: "FuzzNodeEngine", dependencies: ["NetFTCore", "FuzzSupport"], path: "Targets/FuzzNodeEngine"),
    ]
)
