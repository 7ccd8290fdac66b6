import Foundation
import NetFTCore
import NetFTDataplane
import NetFTFabric
import NetFTLab
import Testing

/// A flood of unauthenticated netft frames of every kind from a third
/// namespace, as fast as it can send, during a fast-profile run on the xdp
/// dataplane: the classifier drops it before any socket, so no route goes
/// down, nothing reaches the adapter, and the node's CPU stays where it was.
@Suite("Floods from a third namespace", .serialized)
struct FloodTests {
    /// One frame of each kind a flood would carry: heartbeat request, reply,
    /// hello and data, claiming to be node2, with random sessions and tags.
    static func hostileFrames() -> [[UInt8]] {
        [1, 2, 5, 3].map { type in
            var frame = Array("NeFT".utf8) + [Wire.version, UInt8(type), 1, 12] + [0, 0, 0, 2]
            frame += (0..<(48 - frame.count + 40 + 16)).map { _ in UInt8.random(in: 0...255) }
            return frame
        }
    }

    static func counter(_ fabric: ClusterFabric, _ node: String, _ key: String) -> Int {
        Int(fabric.counter(node, key))
    }

    /// Each node's route-down lines so far: the routes a node started before
    /// its peers logged as down before they were ever up are not the flood's.
    static func mark(_ fabric: ClusterFabric) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: fabric.nodes.map { ($0.name, fabric.routeDowns($0.name).count) })
    }

    /// Route-down lines logged since `mark`, on every node.
    static func downs(_ fabric: ClusterFabric, since mark: [String: Int]) -> [Substring] {
        fabric.nodes.flatMap { fabric.routeDowns($0.name).dropFirst(mark[$0.name] ?? 0) }
    }

    /// How each daemon's thread was scheduled: a late wake is the thread not
    /// run, which tells starvation from a path that lost frames.
    static func loopHealth(_ fabric: ClusterFabric) -> [String] {
        fabric.nodes.map { n in
            "\(n.name): \(counter(fabric, n.name, "loop_late_wakes")) late wakes, latest \(counter(fabric, n.name, "loop_longest_late_wake_us")) us, longest pass \(counter(fabric, n.name, "loop_longest_pass_us")) us"
        }
    }

    @Test("20 s of every unauthenticated kind at full rate: 0 route downs, 0 frames on the adapter, the node's CPU bounded")
    func aFloodFromAnotherAddressCostsTheNodeNothing() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "flood")
        defer { fabric.tearDown() }
        let (attacker, _) = try fabric.addHost(network: 0, host: 99)
        let target = ClusterFabric.address(network: 0, node: 0)
        let pid = try #require(fabric.pid("node1"))
        let writes = Self.counter(fabric, "node1", "adapter_writes")
        let dropped = Self.counter(fabric, "node1", "classifier_eth0_drop_unknown_source")
        let mark = Self.mark(fabric)

        let cpu0 = ProcessCPU.nanoseconds(pid), wall0 = MonotonicClock.seconds
        let sent = try LoadGenerators.flood(from: attacker, to: target, frames: Self.hostileFrames(), seconds: 20)
        let cpu = Double(ProcessCPU.nanoseconds(pid) - cpu0) / ((MonotonicClock.seconds - wall0) * 1e9) * 100

        var refused = 0
        #expect(fabric.wait(seconds: 5) {
            refused = Self.counter(fabric, "node1", "classifier_eth0_drop_unknown_source") - dropped
            return refused >= sent * 9 / 10
        }, "the classifier dropped \(refused) of \(sent) flood frames")
        #expect(sent > 100_000, "the flood reached \(sent) frames in 20 s")
        let downs = Self.downs(fabric, since: mark)
        #expect(downs.isEmpty, "routes went down during the flood: \(downs); \(Self.loopHealth(fabric))")
        #expect(fabric.waitAllRoutesUp(seconds: 1))
        #expect(Self.counter(fabric, "node1", "adapter_writes") == writes, "flood frames reached node1's adapter")
        #expect(cpu < 20, "node1 used \(cpu) % of a core during the flood")
        print(String(format: "flood: %d frames in 20 s (%.0f frames/s), %d dropped in XDP as drop_unknown_source; node1 CPU %.2f %% of a core; %d route downs", sent, Double(sent) / 20, refused, cpu, downs.count))
    }

    @Test("a flood spoofing one peer's address is held to that source's budget: the other sources' routes stay up")
    func aSpoofedFloodIsHeldToItsSourcesBudget() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        spec.nodes = 3
        let fabric = try upFabric(spec, tag: "flsp")
        defer { fabric.tearDown() }
        let (attacker, _) = try fabric.addHost(network: 0, host: 99)
        let node2 = ClusterFabric.address(network: 0, node: 1), node3 = ClusterFabric.address(network: 0, node: 2)
        try impersonate(node2, in: attacker)
        let overBudget = Self.counter(fabric, "node1", "classifier_eth0_drop_over_budget")
        let writes = Self.counter(fabric, "node1", "adapter_writes")
        let mark = Self.mark(fabric)

        let control = Array(Self.hostileFrames().prefix(3))
        let sent = try LoadGenerators.flood(from: attacker, to: ClusterFabric.address(network: 0, node: 0), source: node2, frames: control, seconds: 10)
        let held = Self.counter(fabric, "node1", "classifier_eth0_drop_over_budget") - overBudget
        #expect(held > sent / 2, "\(held) of \(sent) spoofed control frames dropped over node2's budget")
        // At node1, the target, only the spoofed source's own routes may suffer:
        // node3's on network 1, and every route on network 2, never. (The other
        // daemons are not node1's budget's to protect: on 2 cores the flood's
        // softirq load once starved node2 for 100 ms, and it lost its network-2
        // routes for a moment; those lines are printed, not failed.)
        let node1Downs = fabric.routeDowns("node1").dropFirst(mark["node1"] ?? 0)
        let others = node1Downs.filter { !$0.contains(" \(node2) ") }
        #expect(others.isEmpty, "node1's routes from other sources went down: \(others); \(Self.loopHealth(fabric))")
        let elsewhere = Self.downs(fabric, since: mark).filter { !$0.contains(" node1 ") }
        let node1Routes = fabric.routes("node1")
        #expect(node1Routes.first { $0.real_remote == "\(node3)" }?.state == "up")
        #expect(Self.counter(fabric, "node1", "adapter_writes") == writes)
        print("spoofed flood: \(sent) control frames from node2's address in 10 s, \(held) dropped over its budget; node1: \(node1Downs.count) route-down lines, \(others.count) of them for other sources; node3's route on network 1 up; on the other nodes: \(elsewhere.count) route-down lines \(elsewhere.prefix(4)); \(Self.loopHealth(fabric))")
    }
}
