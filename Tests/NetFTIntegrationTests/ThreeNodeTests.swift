import Foundation
import Glibc
import NetFTCore
import NetFTDataplane
import NetFTDaemon
import NetFTFabric
import NetFTLab
import NetFTTestSupport
import Testing

@Suite("Three nodes over two networks", .serialized)
struct ThreeNodeTests {
    @Test func exactlyTheExpectedRoutesComeUpAndInterfaceChangesAreFollowed() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.nodes = 3
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "three")
        defer { fabric.tearDown() }
        for (i, node) in fabric.nodes.enumerated() {
            let routes = fabric.routes(node.name)
            var expected: Set<String> = []
            for (j, peer) in fabric.nodes.enumerated() where j != i {
                for k in 0..<2 {
                    expected.insert("\(peer.name) net\(k + 1) \(ClusterFabric.address(network: k, node: i)) \(ClusterFabric.address(network: k, node: j))")
                }
            }
            let actual = Set(routes.map { "\($0.peer) \($0.network) \($0.real_local) \($0.real_remote)" })
            #expect(actual == expected, "\(node.name) routes")
            let log = fabric.log(node.name)
            #expect(log.components(separatedBy: "[NETFT] Added route <struct mscs::FaultTolerantRoute>").count - 1 == 4)
            #expect(log.contains("<realLocal>\(ClusterFabric.address(network: 0, node: i)):~3343~</realLocal>"))
            #expect(log.contains("<Delay>25</Delay>") && log.contains("<Threshold>4</Threshold>"))
        }

        // A NIC going down and coming back while running.
        try fabric.setLink("node1", network: 1, up: false)
        #expect(fabric.wait(seconds: 5) {
            fabric.routes("node1").filter { $0.network == "net2" }.allSatisfy { $0.reason == "local_link_down" }
        }, "routes over the downed NIC are down with reason local_link_down")
        #expect(fabric.wait(seconds: 5) {
            fabric.routes("node2").first { $0.peer == "node1" && $0.network == "net2" }?.state == "down"
        }, "the peer sees the route down too")
        #expect(fabric.routes("node1").filter { $0.network == "net1" }.allSatisfy { $0.active == true })
        try fabric.setLink("node1", network: 1, up: true)
        #expect(fabric.waitAllRoutesUp(seconds: 10), "routes come back when the NIC does")
        #expect(fabric.log("node1").contains("[IM] interface eth1 (198.18.2.1) is down"))
        #expect(fabric.log("node1").contains("[IM] interface eth1 (198.18.2.1) is up"))
    }
}

@Suite("Operating a node", .serialized)
struct OperatingTests {
    @Test func routesJSONAgreesWithTheBpftoolDumpOfThePinnedRouteMap() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "map")
        defer { fabric.tearDown() }
        let routes = fabric.routes("node1")
        // The control plane mirrors events within 50 ms: wait for it, with a deadline.
        func pinnedValues() throws -> [[String: Any]] {
            try Self.bpftoolJSON(["map", "dump", "pinned", "\(fabric.pinRoot)/node1/routes"])
                .compactMap { ($0["formatted"] as? [String: Any])?["value"] as? [String: Any] }
        }
        var values = try pinnedValues()
        _ = fabric.wait(seconds: 2) {
            values = (try? pinnedValues()) ?? []
            return values.count == routes.count && values.allSatisfy { $0["state"] as? String == "NETFT_ROUTE_UP" }
        }
        #expect(values.count == routes.count && routes.count == 2)
        for route in routes {
            let id = Int(route.id)
            let pinned = try #require(values.first { $0["id"] as? Int == id }, "route \(id) in the pinned map")
            #expect(pinned["local"] as? String == route.real_local)
            #expect(pinned["remote"] as? String == route.real_remote)
            #expect(pinned["peer"] as? String == route.peer)
            #expect(pinned["network"] as? String == route.network)
            #expect(pinned["state"] as? String == "NETFT_ROUTE_\(route.state.uppercased())")
            #expect((pinned["active"] as? Int == 1) == route.active)
            #expect((pinned["rtt_ns"] as? Int ?? 0) > 0)
        }
    }

    @Test func sighupAppliesANewDelayWithoutTakingARouteDown() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "hup")
        defer { fabric.tearDown() }
        #expect(fabric.routes("node1").allSatisfy { $0.delay_ms == 25 })
        let downsBefore = fabric.routeDowns("node1").count
        var heartbeat = ClusterConfig.Heartbeat()
        heartbeat.profile = .fast
        (heartbeat.fast.delay, heartbeat.fast.threshold) = (50, 5)
        try fabric.rewriteConfiguration(heartbeat: heartbeat)
        fabric.signal("node1", SIGHUP)
        #expect(fabric.wait(seconds: 5) { fabric.routes("node1").allSatisfy { $0.delay_ms == 50 && $0.threshold == 5 } })
        usleep(500_000)  // several heartbeats at the new pace
        #expect(fabric.routes("node1").allSatisfy { $0.state == "up" })
        let log = fabric.log("node1")
        #expect(log.contains("SIGHUP: configuration reloaded: 0 routes added, 0 removed, 2 changed"))
        #expect(log.contains("Delay 50 ms, Threshold 5"))
        #expect(fabric.routeDowns("node1").count == downsBefore, "no route went down across the reload")
        #expect(fabric.isRunning("node1"))
    }

    @Test func aBadConfigurationIsRefusedWithExitStatus2() throws {
        try requireKernelLab()
        let dir = "/tmp/netft-badcfg-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "cluster: x\nport: 99999\nnetworks: []\nnodes: []\n".write(toFile: "\(dir)/bad.yaml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: netftBinary)
        process.arguments = ["run", "--config", "\(dir)/bad.yaml"]
        let err = Pipe()
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 2)
        #expect(message.contains("\(dir)/bad.yaml:2: port 99999 is outside 1-65535"), "\(message)")
    }

    static func bpftoolJSON(_ arguments: [String]) throws -> [[String: Any]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/bpftool")
        process.arguments = ["-j"] + arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (try JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
    }
}

@Suite("Metrics", .serialized)
struct MetricsTests {
    /// GET /metrics from inside the node's namespace.
    static func scrape(_ fabric: ClusterFabric, _ node: String, port: UInt16) throws -> String {
        try NetworkNamespace.run(fabric.node(node).namespace) { () throws -> String in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            sa.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard ok == 0 else { throw Missing(description: "connect to the metrics endpoint: errno \(errno)") }
            let request = Array("GET /metrics HTTP/1.0\r\n\r\n".utf8)
            _ = send(fd, request, request.count, 0)
            var data = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                data += buffer[0..<n]
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    @Test func prometheusShowsRoutesAndDrops() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.metricsPort = 9343
        let fabric = try upFabric(spec, tag: "prom")
        defer { fabric.tearDown() }
        let text = try Self.scrape(fabric, "node1", port: 9343)
        #expect(text.hasPrefix("HTTP/1.0 200 OK"))
        #expect(text.contains("netft_route_up{") && text.contains("local=\"198.18.1.1\""))
        #expect(text.contains("netft_route_rtt_seconds{"))
        #expect(text.contains("netft_peer_reachable{peer=\"node2\"} 1"))
        let sent = text.split(separator: "\n").first { $0.hasPrefix("netft_route_frames_sent_total{") && $0.contains("198.18.1.1") }
        #expect((sent.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0) > 0, "frames counted: \(sent ?? "none")")
    }
}
