// swift-tools-version:6.1
// netft: a fault-tolerant cluster network adapter for Linux.
import PackageDescription

let package = Package(
    name: "netft",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "netft", targets: ["netft"]),
        .library(name: "NetFTCore", targets: ["NetFTCore"]),
        .library(name: "NetFTDataplane", targets: ["NetFTDataplane"]),
        // LD_PRELOAD into a daemon to count allocations per packet (netft bench).
        .library(name: "NetFTMallocCounter", type: .dynamic, targets: ["CMallocCounter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
    ],
    targets: [
        // Thin C over libbpf, libxdp, libpcap, libmnl, libnftables and TUN ioctls. No policy.
        .target(
            name: "CNetFTShims",
            path: "CShims/CNetFTShims",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Wno-unused-parameter"])],
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("xdp"), .linkedLibrary("pcap"), .linkedLibrary("mnl"), .linkedLibrary("nftables")]
        ),
        .target(name: "CMallocCounter", path: "CShims/CMallocCounter"),
        // libsodium, for frame authentication: pure computation, so Core may import it.
        .systemLibrary(
            name: "CSodium",
            path: "CShims/CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // Pure logic: codec, windows, heartbeats, selection. No syscalls; clock injected.
        .target(name: "NetFTCore", dependencies: ["CSodium"]),
        // The I/O: XDP classifier, AF_XDP sockets, TUN, captures.
        .target(
            name: "NetFTDataplane",
            dependencies: ["NetFTCore", "CNetFTShims"],
            plugins: ["BPFObjectPlugin"]
        ),
        // Namespaces, veths, switches, routers, daemons and traffic tools: what the
        // lab, the bench and the kernel tests build on.
        .target(name: "NetFTFabric", dependencies: ["NetFTDataplane", "NetFTDaemon", "NetFTCore", "CNetFTShims"]),
        // `netft lab`: the field's failures as scenarios, their timelines and report.
        .target(name: "NetFTLab", dependencies: ["NetFTFabric", "NetFTDaemon", "NetFTDataplane", "NetFTCore"]),
        // `netft bench`: runner, report, rigs; the only user of the histogram library.
        .target(
            name: "NetFTBench",
            dependencies: [
                "NetFTFabric", "NetFTLab", "NetFTDaemon", "NetFTDataplane", "NetFTCore", "CNetFTShims",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The node: configuration, interface and topology managers, the event loop, control.
        .target(
            name: "NetFTDaemon",
            dependencies: [
                "NetFTCore", "NetFTDataplane", "CNetFTShims",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // In-memory dataplane, adapter and fabric: whole nodes in one test process, no root.
        .target(name: "NetFTTestSupport", dependencies: ["NetFTCore", "NetFTDataplane", "CNetFTShims"]),
        .executableTarget(
            name: "netft",
            dependencies: [
                "NetFTCore", "NetFTDataplane", "NetFTFabric", "NetFTLab", "NetFTBench", "NetFTDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Build-time helper: turns the compiled BPF object into Swift source.
        .executableTarget(name: "EmbedBPF"),
        .plugin(
            name: "BPFObjectPlugin",
            capability: .buildTool(),
            dependencies: ["EmbedBPF"]
        ),
        .testTarget(name: "NetFTCoreTests", dependencies: ["NetFTCore"]),
        .testTarget(
            name: "NetFTDaemonTests",
            dependencies: [
                "NetFTDaemon", "NetFTCore", "NetFTDataplane", "NetFTTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Configs")]
        ),
        .testTarget(
            name: "NetFTDataplaneTests",
            dependencies: ["NetFTDataplane", "NetFTCore", "NetFTFabric", "CNetFTShims", "NetFTTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        // Whole nodes in namespaces: daemons, traffic, failures. Needs root.
        .testTarget(
            name: "NetFTIntegrationTests",
            dependencies: ["NetFTFabric", "NetFTLab", "NetFTDaemon", "NetFTDataplane", "NetFTCore", "CNetFTShims", "NetFTTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
