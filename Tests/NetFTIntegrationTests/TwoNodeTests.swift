import Foundation
import Glibc
import NetFTCore
import NetFTDataplane
import NetFTDaemon
import NetFTFabric
import NetFTLab
import Testing

/// Two nodes joined by two networks (a switch namespace each), daemons as in
/// production, with each dataplane.
@Suite("Two nodes over two networks", .serialized)
struct TwoNodeTests {
    @Test("ping (IPv4 and IPv6) and a checked 50 MB TCP transfer, over each underlay", arguments: DataplaneKind.allCases, ClusterFabric.Underlay.allCases)
    func pingAndTCP(dataplane: DataplaneKind, underlay: ClusterFabric.Underlay) throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = dataplane
        spec.underlay = underlay
        let fabric = try upFabric(spec, tag: "two\(dataplane.rawValue)")
        defer { fabric.tearDown() }
        let b = fabric.node("node2")
        #expect(fabric.routes("node1").allSatisfy { $0.real_local.contains(underlay == .ipv6 ? ":" : ".") }, "routes run over \(underlay)")
        let before = fabric.pathCounters()
        #expect(fabric.exec("node1", ["ping", "-c", "3", "-i", "0.2", "-W", "2", "\(b.virtualIPv4)"]), "IPv4 ping to node2's virtual address")
        #expect(fabric.exec("node1", ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "\(b.virtualIPv6)%netft0"]), "IPv6 ping to node2's link-local virtual address")
        let result = try TCPTransfer.run(from: fabric.node("node1").namespace, to: b.namespace, address: b.virtualIPv4, bytes: 50 << 20)
        #expect(result.bytes == 50 << 20 && result.intact, "every byte arrived intact")
        let path = fabric.pathCounters().since(before)
        print("[\(dataplane), \(underlay)] 50 MB TCP through the tunnel: \(String(format: "%.2f", result.gbps)) Gbit/s; \(path.summary)")
        expectFramesTook(dataplane, path, atLeast: 30_000)
    }

    @Test("cutting the active route's link during a TCP transfer, over each underlay", arguments: DataplaneKind.allCases, ClusterFabric.Underlay.allCases)
    func linkCutDuringTransfer(dataplane: DataplaneKind, underlay: ClusterFabric.Underlay) throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = dataplane
        spec.underlay = underlay
        let fabric = try upFabric(spec, tag: "cut\(dataplane.rawValue)")
        defer { fabric.tearDown() }
        let b = fabric.node("node2")
        var cut = -1
        let before = fabric.pathCounters()
        let result = try TCPTransfer.run(from: fabric.node("node1").namespace, to: b.namespace, address: b.virtualIPv4, bytes: 50 << 20) {
            let active = fabric.routes("node1").first { $0.active == true }
            let network = (active?.network).flatMap { Int($0.dropFirst(3)) } ?? 1
            cut = network - 1
            try fabric.setLink("node1", network: cut, up: false)
        }
        #expect(cut >= 0)
        #expect(result.bytes == 50 << 20 && result.intact, "the transfer completed intact across the failover")
        expectFramesTook(dataplane, fabric.pathCounters().since(before), atLeast: 30_000)
        print("[\(dataplane), \(underlay)] link cut during TCP: traffic stopped for \(Int(result.longestStallSeconds * 1000)) ms; \(String(format: "%.2f", result.gbps)) Gbit/s overall")
        let routes = fabric.routes("node1")
        let down = routes.first { $0.network == "net\(cut + 1)" }
        #expect(down?.state == "down")
        #expect(down?.reason == "local_link_down")
        #expect(routes.contains { $0.active == true && $0.network != "net\(cut + 1)" })
        #expect(fabric.log("node1").contains("Setting state to Down for route from \(fabric.address(network: cut, node: 0)) to \(fabric.address(network: cut, node: 1)) (local_link_down)"))
    }

    @Test func sigtermLeavesNothingBehind() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "term")
        defer { fabric.tearDown() }
        let pins = "\(fabric.pinRoot)/node1"
        #expect(FileManager.default.fileExists(atPath: "\(pins)/eth0/stats"), "pins exist while running")
        #expect(fabric.stop("node1") == 0, "exit 0 after SIGTERM")
        #expect(!FileManager.default.fileExists(atPath: pins), "pins removed")
        #expect(!fabric.exec("node1", ["ip", "link", "show", "netft0"]), "TUN device removed")
        #expect(!fabric.exec("node1", ["sh", "-c", "ip link show eth0 | grep -q xdp"]), "XDP detached from eth0")
        #expect(!FileManager.default.fileExists(atPath: fabric.node("node1").controlPath), "control socket removed")
    }

    @Test("a peer started late: node1's routes are Down as no_session, then Up with the preferred network active at once")
    func aPeerStartedLateIsNamedThenPreferredAtOnce() throws {
        try requireKernelLab()
        let fabric = try ClusterFabric(spec: ClusterFabric.Spec(), binary: netftBinary, tag: "late")
        defer { fabric.tearDown() }
        try fabric.start("node1")
        let named = fabric.wait(seconds: 5) {
            let routes = fabric.routes("node1")
            return !routes.isEmpty && routes.allSatisfy { $0.state == "down" && $0.reason == "no_session" }
        }
        #expect(named, "\(fabric.routes("node1").map { "\($0.network) \($0.state) \($0.reason ?? "-")" })")
        try fabric.start("node2")
        #expect(fabric.waitAllRoutesUp(seconds: 5))
        // Routes never Up are no flap: net1, the preferred network, takes the
        // traffic now, not after a hold-down (4 detection times, 400 ms here).
        let active = fabric.routes("node1").first { $0.active }?.network
        #expect(active == "net1", "node1's active route is on \(active ?? "none")")
    }

    @Test func aSecondDaemonForTheSameNodeIsRefused() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "dup")
        defer { fabric.tearDown() }
        let n = fabric.node("node1")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--net=/run/netns/\(n.namespace)", netftBinary, "run", "--config", fabric.configPath, "--node", "node1",
                             "--dataplane", "udp", "--control", n.controlPath, "--adapter", "netft9"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 1)
        #expect(message.contains("another netft daemon"), "\(message)")
        #expect(fabric.status("node1") != nil, "the first daemon still answers")
    }
}

@Suite("Lossless failover", .serialized)
struct LosslessFailoverTests {
    /// A silent cut (the switch drops node1's frames, links stay up) with and
    /// without lossless failover: with it, what the dead route swallowed during
    /// detection is resent on the new route.
    @Test("a silent cut of the active network", arguments: [false, true])
    func silentCut(lossless: Bool) throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        spec.losslessFailover = lossless
        let fabric = try upFabric(spec, tag: lossless ? "lsl" : "nols")
        defer { fabric.tearDown() }
        let b = fabric.node("node2")
        let stream = try TrafficStream(from: fabric.node("node1").namespace, to: b.namespace, address: b.virtualIPv4)
        defer { stream.stop() }
        usleep(300_000)
        let t0 = stream.now
        try fabric.cutSilently("node1", network: 0)
        #expect(fabric.wait(seconds: 5) { fabric.routes("node1").first { $0.network == "net1" }?.state == "down" })
        #expect(stream.waitForFlow(after: stream.now, seconds: 5))
        usleep(500_000)
        let w = stream.window(from: t0, to: stream.now - 0.2)
        print("[lossless \(lossless)] silent cut: \(w.lost) datagrams lost, traffic stopped \(Int(w.longestGap * 1000)) ms")
        if lossless {
            #expect(w.lost == 0, "lossless failover lost \(w.lost) datagrams")
            #expect(fabric.log("node1").contains("lossless failover: resent"))
        } else {
            #expect(w.lost > 0, "without lossless failover the detection window loses traffic (else the test measures nothing)")
        }
    }
}

/// The data frames took the dataplane's own path, not a fallback: AF_XDP
/// (under 1% through the kernel socket, no AF_XDP drop), or the UDP socket.
func expectFramesTook(_ dataplane: DataplaneKind, _ path: PathCounters, atLeast frames: UInt64, sourceLocation: SourceLocation = #_sourceLocation) {
    switch dataplane {
    case .xdp:
        #expect(path.dataViaAFXDP >= frames, "data frames through AF_XDP: \(path.dataViaAFXDP)", sourceLocation: sourceLocation)
        #expect(path.kernelShare < 0.01, "data frames through the kernel socket: \(path.dataViaKernel)", sourceLocation: sourceLocation)
        #expect(path.xskDrops == 0 && path.fillRingEmpty == 0, "AF_XDP drops \(path.xskDrops), fill ring empty \(path.fillRingEmpty)", sourceLocation: sourceLocation)
    case .udp:
        #expect(path.udpReceivedFrames >= frames, "frames received by the UDP socket: \(path.udpReceivedFrames)", sourceLocation: sourceLocation)
        #expect(path.dataViaAFXDP == 0, sourceLocation: sourceLocation)
    }
}
