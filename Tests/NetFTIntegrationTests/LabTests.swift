import Foundation
import Glibc
import NetFTCore
import NetFTDataplane
import NetFTDaemon
import NetFTFabric
import NetFTLab
import Testing

/// The lab's scenarios, run as the integration suite: each must meet its
/// expectation, and nothing may be left behind.
@Suite("Lab scenarios", .serialized)
struct LabTests {
    /// `afterwards` sees the fabric once every scenario ran, before the teardown.
    static func runLab(
        _ spec: ClusterFabric.Spec, _ scenarios: [LabScenario], corosync: CorosyncStack.Placement? = nil, afterwards: (ClusterFabric) -> Void = { _ in }
    ) throws -> [ScenarioResult] {
        try requireKernelLab()
        let runner = try LabRunner(spec: spec, binary: netftBinary, progress: { print("lab: \($0)") })
        let fabric = runner.fabric
        defer {
            fabric.tearDown()
            // Nothing left: namespaces, pins, daemons.
            let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
            #expect(!namespaces.contains { $0.hasPrefix(fabric.tag) }, "namespaces left behind")
            #expect(!FileManager.default.fileExists(atPath: fabric.pinRoot), "pins left behind")
            #expect(!FileManager.default.fileExists(atPath: fabric.workDirectory), "files left behind")
            #expect(fabric.nodes.allSatisfy { !fabric.isRunning($0.name) }, "daemons left running")
        }
        let unreachable = try runner.bringUp()
        #expect(unreachable.isEmpty, "every virtual address answers ping: \(unreachable)")
        if let corosync { try runner.startStack(corosync) }
        let results = scenarios.map { scenario in
            let result = runner.run(scenario)
            print("lab: \(result.passed ? "PASS" : "FAIL") \(result.name) detect \(result.detect_ms.map(String.init) ?? "-") ms, recover \(result.recover_ms.map(String.init) ?? "-") ms, lost \(result.lost_packets.map(String.init) ?? "-"), resent \(result.resent_packets.map(String.init) ?? "-"), rings \(result.ring_reformations.map(String.init) ?? "-"), knet downs \(result.knet_link_downs.map(String.init) ?? "-"): \(result.diagnosis)")
            return result
        }
        afterwards(fabric)
        return results
    }

    @Test("corosync over netft keeps its ring through 10 firewall cuts of the active network")
    func corosyncKeepsItsRing() throws {
        var spec = ClusterFabric.Spec()
        spec.nodes = 3
        spec.dataplane = .xdp
        let results = try Self.runLab(spec, Array(repeating: .firewall, count: 10), corosync: .netft)
        #expect(results.count == 10)
        for (i, result) in results.enumerated() {
            #expect(result.ring_reformations == 0, "trial \(i + 1): corosync re-formed its ring \(result.ring_reformations ?? -1) times")
            #expect(result.passed, "trial \(i + 1): \(result.failures.joined(separator: "; "))")
        }
        let resent = results.compactMap(\.resent_packets).reduce(0, +)
        #expect(resent > 0, "the cuts swallowed frames that netft resent (else corosync was never tested)")
    }

    @Test("every scenario, xdp dataplane, fast profile")
    func allScenarios() throws {
        var spec = ClusterFabric.Spec()
        spec.nodes = 3
        spec.dataplane = .xdp
        let results = try Self.runLab(spec, LabScenario.all(on: .flat))
        for result in results {
            #expect(result.passed, "\(result.name): \(result.failures.joined(separator: "; "))")
        }
        // The report's timeline shows what the scenario did: link-down takes node1's net1 route down.
        let linkDown = try #require(results.first { $0.name == LabScenario.linkDown.rawValue }?.timeline)
        #expect(linkDown.spans.contains { $0.lane == "node1: node2 net1" && $0.state == "down" }, "\(linkDown.spans.prefix(10))")
        #expect(linkDown.lanes.count == 3 * 2 * 2, "a lane per node, peer and network: \(linkDown.lanes)")
        let page = LabHTMLReport.page(LabReport(passed: true, nodes: 3, networks: 2, profile: "fast", dataplane: "xdp", reachability: [], scenarios: results), generated: "test")
        #expect(page.components(separatedBy: "<svg class=\"timeline\"").count - 1 == results.count, "one plot per scenario")
    }

    @Test("every scenario over an IPv6 underlay, on each dataplane", arguments: DataplaneKind.allCases)
    func allScenariosOverIPv6(dataplane: DataplaneKind) throws {
        var spec = ClusterFabric.Spec()
        spec.nodes = 2
        spec.dataplane = dataplane
        spec.underlay = .ipv6
        var path = PathCounters()
        let results = try Self.runLab(spec, LabScenario.all(on: .flat)) { path = $0.pathCounters() }
        for result in results {
            #expect(result.passed, "[\(dataplane), ipv6] \(result.name): \(result.failures.joined(separator: "; "))")
        }
        #expect(results.count == LabScenario.all(on: .flat).count)
        // The scenarios' streams (1000 datagrams/s each) took the dataplane's own path
        // (the restart scenario resets node1's counters: at least a few seconds' worth).
        print("lab [\(dataplane), ipv6]: \(path.summary)")
        expectFramesTook(dataplane, path, atLeast: 5_000)
    }

    @Test("routed networks: every scenario and the router's failure; cross-subnet settings; the fast path sends to the router's MAC", arguments: DataplaneKind.allCases)
    func routedTopology(dataplane: DataplaneKind) throws {
        var spec = ClusterFabric.Spec()
        spec.nodes = 3
        spec.dataplane = dataplane
        spec.topology = .routed
        var path = PathCounters()
        var routes: [NodeStatus.RouteInfo] = []
        let results = try Self.runLab(spec, LabScenario.all(on: .routed)) { fabric in
            path = fabric.pathCounters()
            routes = fabric.routes("node1")
        }
        #expect(results.map(\.name).contains(LabScenario.routerFailure.rawValue))
        for result in results {
            #expect(result.passed, "[\(dataplane), routed] \(result.name): \(result.failures.joined(separator: "; "))")
        }
        // node2 is in the other subnet of every network (through the router), node3 in node1's.
        for route in routes {
            let across = route.peer == "node2"
            #expect(route.cross_subnet == across, "\(route)")
            let expected = across ? HeartbeatSettings.fastCrossSubnet : HeartbeatSettings.fast
            #expect(route.delay_ms == expected.delay.value && route.threshold == expected.threshold, "\(route)")
        }
        #expect(routes.count == 4)
        // The streams run node1 -> node2: across the router, on the dataplane's own path.
        print("lab [\(dataplane), routed]: \(path.summary)")
        expectFramesTook(dataplane, path, atLeast: 5_000)
    }

    @Test("two sites: a WAN's round trip across the inter-site link, a LAN's inside a site; only the inter-site link fails", arguments: DataplaneKind.allCases)
    func twoSites(dataplane: DataplaneKind) throws {
        var spec = ClusterFabric.Spec()
        spec.nodes = 3
        spec.dataplane = dataplane
        spec.topology = .sites
        spec.wanDelayMilliseconds = 15
        var path = PathCounters()
        var routes: [NodeStatus.RouteInfo] = []
        var relays: (Bool, Bool) = (false, false)
        var relayed = WANRelay.Counts()
        let results = try Self.runLab(spec, [.interSiteLink, .linkDown]) { fabric in
            path = fabric.pathCounters()
            routes = fabric.routes("node1")
            relays.0 = fabric.relaysRunning
            relayed = fabric.relayCounts
            fabric.tearDown()
            relays.1 = fabric.relaysRunning
        }
        #expect(relays == (true, false), "the relays ran with the fabric and stopped with it")
        // The instrument lost nothing itself: once its 208 KiB sockets overflowed
        // in a failover's resend burst, and the lab blamed lossless failover.
        #expect(relayed.relayed > 1_000 && relayed.droppedInSocket == 0, "relays: \(relayed)")
        for result in results {
            #expect(result.passed, "[\(dataplane), sites] \(result.name): \(result.failures.joined(separator: "; "))")
        }
        // node2 is at the other site (30 ms there and back), node3 at node1's.
        for route in routes {
            let rtt = route.rtt_ms
            if route.peer == "node2" {
                #expect(rtt >= 30 && rtt < 45 && route.cross_subnet == true, "\(route)")
            } else {
                #expect(rtt < 10 && route.cross_subnet == false, "\(route)")
            }
        }
        #expect(routes.count == 4)
        print("lab [\(dataplane), sites]: rtt \(routes.map { "\($0.peer) \($0.network) \($0.rtt_ms) ms" }); \(path.summary)")
        expectFramesTook(dataplane, path, atLeast: 1_500)
    }

    @Test("netft lab --report writes one timeline per scenario")
    func reportFromTheCommand() throws {
        try requireKernelLab()
        let path = "/tmp/netft-lab-report-\(getpid()).html"
        defer { unlink(path) }
        let run = try runNetft(["lab", "--nodes", "2", "--scenario", "link-down", "--scenario", "firewall", "--report", path])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("report: \(path)"))
        let page = try String(contentsOfFile: path, encoding: .utf8)
        #expect(page.components(separatedBy: "<svg class=\"timeline\"").count - 1 == 2)
        #expect(page.contains("node1: node2 net1") && page.contains("stream node1 &#8594; node2") && page.contains("local_link_down"))
    }

    @Test("link down with the default (Windows) profile")
    func linkDownDefaultProfile() throws {
        var spec = ClusterFabric.Spec()
        spec.profile = .default
        spec.dataplane = .xdp
        for result in try Self.runLab(spec, [.linkDown]) {
            #expect(result.passed, "\(result.name): \(result.failures.joined(separator: "; "))")
        }
    }

    @Test("reachability and link down over the udp dataplane")
    func udpDataplane() throws {
        var spec = ClusterFabric.Spec()
        spec.dataplane = .udp
        for result in try Self.runLab(spec, [.linkDown]) {
            #expect(result.passed, "\(result.name): \(result.failures.joined(separator: "; "))")
        }
    }

    @Test func aKilledRunsLeftoversAreSwept() throws {
        try requireKernelLab()
        // A namespace named as a lab whose creator (pid 2^22-1, never a live pid here) is gone.
        let name = "\(ClusterFabric.prefix)\(ClusterFabric.label("lab"))\(4194303)x1-node1"
        try Shell.run(["ip", "netns", "add", name])
        defer { try? Shell.run(["ip", "netns", "del", name], allowFailure: true) }
        let removed = ClusterFabric.sweepLeftovers()
        #expect(removed.contains(name))
        #expect(!FileManager.default.fileExists(atPath: "/run/netns/\(name)"))
        // A live creator's namespaces are never touched.
        let mine = "\(ClusterFabric.prefix)\(ClusterFabric.label("lab"))\(getpid())x2-node1"
        try Shell.run(["ip", "netns", "add", mine])
        defer { try? Shell.run(["ip", "netns", "del", mine], allowFailure: true) }
        #expect(!ClusterFabric.sweepLeftovers().contains(mine))
        #expect(FileManager.default.fileExists(atPath: "/run/netns/\(mine)"))
    }
}
