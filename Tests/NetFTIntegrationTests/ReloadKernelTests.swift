import Foundation
import Glibc
import NetFTDataplane
import NetFTFabric
import NetFTLab
import Testing

/// Membership changes on running daemons: a fourth node joins a three-node
/// cluster and leaves again, each running node told by `netft reload` or
/// SIGHUP, under streams between the first three.
@Suite("Reload: nodes join and leave without a restart (kernel)", .serialized)
struct ReloadKernelTests {
    /// Route downs logged by `name` since `mark` bytes of its log, for routes to `among` addresses.
    static func downs(_ fabric: ClusterFabric, _ name: String, after mark: Int, among remotes: Set<String>) -> [String] {
        fabric.log(name).utf8.dropFirst(mark).split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }.filter { line in
            guard line.contains("Setting state to Down for route from") else { return false }
            return remotes.contains { line.contains(" to \($0) (") }
        }
    }

    /// The datapath's longest pass and latest timed wake-up, in microseconds.
    static func loopStalls(_ fabric: ClusterFabric, _ name: String) -> (pass: UInt64, lateWake: UInt64) {
        let datapath = fabric.status(name)?.datapath
        func value(_ key: String) -> UInt64 { datapath?[key] ?? .max }
        return (value("loop_longest_pass_us"), value("loop_longest_late_wake_us"))
    }

    static func reload(_ fabric: ClusterFabric, _ name: String) throws -> String {
        let run = try runNetft(["reload", "--control", fabric.node(name).controlPath])
        #expect(run.status == 0, "netft reload on \(name): \(run.stdout)\(run.stderr)")
        return run.stdout
    }

    @Test("a fourth node joins a running three-node cluster and leaves: the first three lose nothing and keep every route Up")
    func aNodeJoinsAndLeaves() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.nodes = 3
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "rld")
        defer { fabric.tearDown() }
        let first = ["node1", "node2", "node3"]
        let firstAddresses = Set(first.flatMap { fabric.node($0).interfaces.map { "\($0.address)" } })
        let marks = Dictionary(uniqueKeysWithValues: first.map { ($0, fabric.log($0).utf8.count) })
        let n1 = fabric.node("node1"), n2 = fabric.node("node2"), n3 = fabric.node("node3")
        let a = try TrafficStream(from: n1.namespace, to: n2.namespace, address: n2.virtualIPv4, port: 6001)
        let b = try TrafficStream(from: n2.namespace, to: n3.namespace, address: n3.virtualIPv4, port: 6002)
        defer { a.stop(); b.stop() }
        #expect(a.waitForFlow(after: 0, seconds: 5) && b.waitForFlow(after: 0, seconds: 5))
        let (ta, tb) = (a.now, b.now)

        // Join: node4 starts, node1 is told by `netft reload`, node2 and node3 by SIGHUP.
        var moments: [(String, Double)] = [("join", a.now)]
        let n4 = try fabric.addNode()
        moments.append(("node4 built", a.now))
        try fabric.start(n4.name)
        moments.append(("node4 started", a.now))
        let summary = try Self.reload(fabric, "node1")
        moments.append(("node1 reloaded", a.now))
        #expect(summary.contains("2 routes added, 0 removed, 0 changed, nodes joined: node4"), "\(summary)")
        fabric.signal("node2", SIGHUP)
        fabric.signal("node3", SIGHUP)
        #expect(fabric.waitAllRoutesUp(seconds: 15), "every route of four nodes up")
        #expect(fabric.exec("node1", ["ping", "-c", "1", "-W", "2", "\(n4.virtualIPv4)"]), "node1 reaches node4")
        #expect(fabric.exec("node4", ["ping", "-c", "1", "-W", "2", "\(n3.virtualIPv4)"]), "node4 reaches node3")
        #expect(fabric.log("node2").contains("nodes joined: node4"))
        let joined = fabric.pathCounters()

        // Leave: node4 stops and leaves the configuration; the others reload.
        moments.append(("leave", a.now))
        try fabric.removeNode("node4")
        moments.append(("node4 removed", a.now))
        _ = try Self.reload(fabric, "node1")
        moments.append(("node1 reloaded", a.now))
        fabric.signal("node2", SIGHUP)
        fabric.signal("node3", SIGHUP)
        #expect(fabric.waitAllRoutesUp(seconds: 10), "the first three: every route up, node4's gone")
        #expect(fabric.routes("node1").count == 2 * 2)
        #expect(fabric.log("node3").contains("[TM] Node node4 (id 4) left the configuration"))

        let wa = a.windowUntilNow(from: ta), wb = b.windowUntilNow(from: tb)
        print("reload: node4 joined and left; node1->node2 \(wa.received) datagrams, \(wa.lost) lost, longest gap \(Int(wa.longestGap * 1000)) ms; node2->node3 \(wb.received), \(wb.lost) lost, longest gap \(Int(wb.longestGap * 1000)) ms; \(joined.summary)")
        let timeline = moments.map { "\($0.0) \(Int($0.1 * 1000))" }.joined(separator: ", ")
        let gaps = (a.gaps(longerThan: 0.008) + b.gaps(longerThan: 0.008)).prefix(12).map { "\(Int($0.from * 1000))-\(Int($0.to * 1000))" }
        print("reload: moments (ms) \(timeline); gaps over 8 ms \(gaps)")
        // The loop's own work (a reload is applied in one pass) never nears the
        // 100 ms the fast profile takes to call a route down.
        let loops = Dictionary(uniqueKeysWithValues: first.map { ($0, Self.loopStalls(fabric, $0)) })
        print("reload: datapath stalls (longest pass, latest wake-up) \(first.map { "\($0) \(loops[$0]!.pass / 1000) ms, \(loops[$0]!.lateWake / 1000) ms" })")
        for name in first { #expect(loops[name]!.pass < 50_000, "\(name)'s datapath spent \(loops[name]!.pass) us in one pass") }
        #expect(wa.lost == 0 && wb.lost == 0, "lost between the first three: \(wa.lost) and \(wb.lost)")
        for name in first {
            let downs = Self.downs(fabric, name, after: marks[name]!, among: firstAddresses)
            // A down is the host's, not the reload's, only when the silent peer's
            // loop asked to wake in time and was not run for a detection window.
            let silent = first.filter { peer in downs.contains { line in fabric.node(peer).interfaces.contains { line.contains(" to \($0.address) (") } } }
            let hostStalled = !silent.isEmpty && silent.allSatisfy { loops[$0]!.lateWake >= 100_000 }
            withKnownIssue("the host did not run \(silent)'s datapath for a detection window", isIntermittent: true) {
                #expect(downs.isEmpty, "\(name): routes among the first three went down: \(downs)")
            } when: { hostStalled }
        }
        // Every daemon, node4 too, dropped its capabilities on every thread.
        for name in first {
            #expect(!fabric.log(name).contains("not every thread could be limited"), "\(name) kept full capabilities on a thread")
        }
        // node4's frames took AF_XDP: the classifiers admitted it on reload.
        #expect(joined.dataViaAFXDP > 0 && joined.kernelShare < 0.01, "\(joined.summary)")
    }

    @Test("swapping the networks' priorities by reload moves traffic to net2 with nothing lost and no route down")
    func swappingPrioritiesMovesTraffic() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "rldp")
        defer { fabric.tearDown() }
        let n2 = fabric.node("node2")
        func active(_ name: String) -> String? { fabric.routes(name).first { $0.active == true }?.network }
        #expect(active("node1") == "net1")
        let stream = try TrafficStream(from: fabric.node("node1").namespace, to: n2.namespace, address: n2.virtualIPv4)
        defer { stream.stop() }
        #expect(stream.waitForFlow(after: 0, seconds: 5))
        let t0 = stream.now
        let downsBefore = fabric.routeDowns("node1").count
        try fabric.setPriority(network: 0, 300)
        for name in ["node1", "node2"] {
            let summary = try Self.reload(fabric, name)
            #expect(summary.contains("0 routes added, 0 removed, 1 changed"), "\(name): \(summary)")
        }
        #expect(fabric.wait(seconds: 2) { active("node1") == "net2" && active("node2") == "net2" }, "both sides prefer net2 now")
        #expect(stream.waitForFlow(after: stream.now, seconds: 2))
        let window = stream.windowUntilNow(from: t0)
        #expect(window.lost == 0, "\(window.lost) lost while traffic moved")
        #expect(fabric.routes("node1").allSatisfy { $0.state == "up" })
        #expect(fabric.routeDowns("node1").count == downsBefore, "a route went down: \(fabric.routeDowns("node1").dropFirst(downsBefore))")
        #expect(fabric.log("node1").contains("Route to node2 changed from 198.18.1.1 -> 198.18.1.2 to 198.18.2.1 -> 198.18.2.2"))
    }

    @Test("a configuration that does not load is refused by netft reload, and the node keeps running it")
    func aBrokenConfigurationIsRefused() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "rldx")
        defer { fabric.tearDown() }
        try "cluster: [broken\n".write(toFile: fabric.configPath, atomically: true, encoding: .utf8)
        let run = try runNetft(["reload", "--control", fabric.node("node1").controlPath])
        #expect(run.status != 0)
        #expect(run.stderr.contains("configuration refused, keeping the running one"), "\(run.stderr)")
        #expect(fabric.waitAllRoutesUp(seconds: 1))
    }

    /// A network added by reload on a NIC the daemon did not use: the daemon
    /// (capabilities already dropped) attaches its kernel socket, classifier
    /// and AF_XDP sockets at runtime; the new routes come up, and when net1 is
    /// cut the stream moves onto the new link with nothing lost.
    @Test("a reload attaches a new network on a NIC the node did not use, and it carries the failover", arguments: [DataplaneKind.xdp, .udp])
    func aReloadAttachesANewNetwork(dataplane: DataplaneKind) throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = dataplane
        let fabric = try ClusterFabric(spec: spec, binary: netftBinary, tag: "att\(dataplane.rawValue)")
        defer { fabric.tearDown() }
        try fabric.configure(networks: 1)
        try fabric.startAll()
        #expect(fabric.waitAllRoutesUp(seconds: 15), "net1's routes up")
        #expect(fabric.routes("node1").count == 1)
        let n2 = fabric.node("node2")
        let stream = try TrafficStream(from: fabric.node("node1").namespace, to: n2.namespace, address: n2.virtualIPv4)
        defer { stream.stop() }
        #expect(stream.waitForFlow(after: 0, seconds: 5))
        let t0 = stream.now

        try fabric.configure(networks: 2)
        let summary = try Self.reload(fabric, "node1")
        fabric.signal("node2", SIGHUP)
        #expect(summary.contains("interfaces attached: eth1") && !summary.contains("not applied"), "\(summary)")
        #expect(fabric.waitAllRoutesUp(seconds: 5), "net2's routes came up: \(fabric.routes("node1").map { ($0.network, $0.state) })")
        let links = fabric.status("node1")?.links ?? []
        #expect(links.map(\.name) == ["eth0", "eth1"] && links.allSatisfy { $0.path == (dataplane == .xdp ? "af_xdp" : "kernel") }, "\(links)")

        try fabric.cutSilently("node1", network: 0)
        let moved = fabric.wait(seconds: 3) { fabric.routes("node1").first { $0.active }?.network == "net2" }
        #expect(moved, "the stream moved onto the attached network")
        _ = stream.waitForFlow(after: stream.now, seconds: 3)
        usleep(300_000)
        let w = stream.window(from: t0, to: stream.now - 0.2)
        let steered = fabric.counter("node2", "classifier_eth1_steered")
        print("[reload] \(dataplane): attached eth1 by reload; after net1's cut \(w.lost) of \(w.received + w.lost) lost, node2's eth1 classifier steered \(steered); \(summary.trimmingCharacters(in: .whitespacesAndNewlines))")
        #expect(w.lost == 0 && w.droppedByReceiver == 0, "\(w.lost) lost")
        if dataplane == .xdp { #expect(steered > 100, "node2's new classifier steered node1's frames into AF_XDP") }
        #expect(!fabric.log("node1").contains("could not be attached"), "\(fabric.log("node1").suffix(1500))")
        #expect(Self.loopStalls(fabric, "node1").pass < 50_000, "the attach did not stall the datapath: \(Self.loopStalls(fabric, "node1"))")
    }

    /// The node keeps one classifier loaded for a NIC a reload adds (after the
    /// capability drop the verifier would refuse a new one): a second new NIC
    /// in the same run is refused, named, and waits for a restart; the first
    /// attaches, and nothing else changes.
    @Test func aSecondNewNICInOneRunWaitsForARestartAndSaysSo() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        spec.networks = 3
        let fabric = try ClusterFabric(spec: spec, binary: netftBinary, tag: "att3")
        defer { fabric.tearDown() }
        try fabric.configure(networks: 1)
        try fabric.startAll()
        #expect(fabric.waitAllRoutesUp(seconds: 15))
        try fabric.configure(networks: 3)
        let summary = try Self.reload(fabric, "node1")
        print("[reload] two new NICs in one run: \(summary.trimmingCharacters(in: .whitespacesAndNewlines))")
        #expect(summary.contains("interfaces attached: eth1"), "\(summary)")
        #expect(summary.contains("not applied (needs a restart): eth2") && summary.contains("spare classifier"), "\(summary)")
        fabric.signal("node2", SIGHUP)
        let up = fabric.wait(seconds: 5) {
            let routes = fabric.routes("node1")
            return routes.count == 2 && routes.allSatisfy { $0.state == "up" } && Set(routes.map(\.network)) == ["net1", "net2"]
        }
        #expect(up, "net1 and the attached net2 up, net3 waits: \(fabric.routes("node1").map { ($0.network, $0.state) })")
        #expect(fabric.status("node1")?.links.map(\.name) == ["eth0", "eth1"])
        // Asked again, the node knows which NICs it has: eth2 still waits, nothing else moves.
        let again = try Self.reload(fabric, "node1")
        #expect(again.contains("0 routes added, 0 removed, 0 changed") && again.contains("eth2"), "\(again)")
        // The control plane follows the attached NIC: its carrier loss takes net2's route down at once.
        try fabric.setLink("node1", network: 1, up: false)
        let followed = fabric.wait(seconds: 2) { fabric.routes("node1").first { $0.network == "net2" }?.reason == "local_link_down" }
        #expect(followed, "\(fabric.routes("node1").map { ($0.network, $0.state, $0.reason ?? "-") })")
    }
}
