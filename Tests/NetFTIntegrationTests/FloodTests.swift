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

    static func downs(_ fabric: ClusterFabric) -> [Substring] {
        fabric.nodes.flatMap { n in fabric.log(n.name).split(separator: "\n").filter { $0.contains("Marking Route from") && $0.hasSuffix("as down") } }
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

        let cpu0 = ProcessCPU.nanoseconds(pid), wall0 = MonotonicClock.seconds
        let sent = try LoadGenerators.flood(from: attacker, to: target, frames: Self.hostileFrames(), seconds: 20)
        let cpu = Double(ProcessCPU.nanoseconds(pid) - cpu0) / ((MonotonicClock.seconds - wall0) * 1e9) * 100

        var refused = 0
        #expect(fabric.wait(seconds: 5) {
            refused = Self.counter(fabric, "node1", "classifier_eth0_drop_unknown_source") - dropped
            return refused >= sent * 9 / 10
        }, "the classifier dropped \(refused) of \(sent) flood frames")
        #expect(sent > 100_000, "the flood reached \(sent) frames in 20 s")
        #expect(Self.downs(fabric).isEmpty, "routes went down: \(Self.downs(fabric))")
        #expect(fabric.waitAllRoutesUp(seconds: 1))
        #expect(Self.counter(fabric, "node1", "adapter_writes") == writes, "flood frames reached node1's adapter")
        #expect(cpu < 20, "node1 used \(cpu) % of a core during the flood")
        print(String(format: "flood: %d frames in 20 s (%.0f frames/s), %d dropped in XDP as drop_unknown_source; node1 CPU %.2f %% of a core; 0 route downs", sent, Double(sent) / 20, refused, cpu))
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

        let control = Array(Self.hostileFrames().prefix(3))
        let sent = try LoadGenerators.flood(from: attacker, to: ClusterFabric.address(network: 0, node: 0), source: node2, frames: control, seconds: 10)
        let held = Self.counter(fabric, "node1", "classifier_eth0_drop_over_budget") - overBudget
        #expect(held > sent / 2, "\(held) of \(sent) spoofed control frames dropped over node2's budget")
        // At node1, the target, only the spoofed source's own routes may suffer:
        // node3's on network 1, and every route on network 2, never. (The other
        // daemons are not node1's budget's to protect: on 2 cores the flood's
        // softirq load once starved node2 for 100 ms, and it lost its network-2
        // routes for a moment; those lines are printed, not failed.)
        let node1Downs = fabric.log("node1").split(separator: "\n").filter { $0.contains("Marking Route from") && $0.hasSuffix("as down") }
        let others = node1Downs.filter { !$0.contains(" \(node2) ") }
        #expect(others.isEmpty, "node1's routes from other sources went down: \(others)")
        let elsewhere = Self.downs(fabric).filter { !$0.contains(" node1 ") }
        let node1Routes = fabric.routes("node1")
        #expect(node1Routes.first { $0.real_remote == "\(node3)" }?.state == "up")
        #expect(Self.counter(fabric, "node1", "adapter_writes") == writes)
        print("spoofed flood: \(sent) control frames from node2's address in 10 s, \(held) dropped over its budget; node1: \(node1Downs.count) route-down lines, all for node2's network-1 route; node3's route on network 1 up; on the other nodes: \(elsewhere.count) route-down lines \(elsewhere.prefix(4))")
    }
}
