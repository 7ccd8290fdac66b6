import Foundation
import Glibc
import NetFTCore
import NetFTFabric
import NetFTLab
import Testing

/// Cluster software must not notice a silent cut (a switch or firewall drops
/// everything, links stay up): nothing lost, found fast under traffic.
@Suite("Failover that cluster software does not notice", .serialized)
struct FailoverTests {
    static func cut(_ fabric: ClusterFabric, network k: Int) throws { try fabric.cutSilently("node1", network: k) }
    static func restore(_ fabric: ClusterFabric, network k: Int) throws { try fabric.restoreCut(network: k) }

    /// The network carrying node1's traffic to node2 now (0-based), if any.
    static func activeNetwork(_ fabric: ClusterFabric) -> Int? {
        guard let r = fabric.routes("node1").first(where: \.active) else { return nil }
        return Int(r.network.dropFirst(3)).map { $0 - 1 }
    }

    /// Cuts the active network, waits until traffic left it, restores it; `cuts` times.
    static func cutActiveRoute(_ fabric: ClusterFabric, cuts: Int) throws -> Int {
        var done = 0
        for _ in 0..<cuts {
            guard let k = activeNetwork(fabric) else { break }
            try cut(fabric, network: k)
            let moved = fabric.wait(seconds: 3) { activeNetwork(fabric).map { $0 != k } ?? false }
            try restore(fabric, network: k)
            guard moved else { break }
            done += 1
            // The restored route comes back Up before the next cut (it takes traffic only when the other is cut).
            _ = fabric.wait(seconds: 3) { fabric.routes("node1").allSatisfy { $0.state == "up" } }
            usleep(100_000)
        }
        return done
    }

    /// What `cuts` silent cuts of the active route did to a node1 -> node2 stream
    /// of one datagram per `interval` (xdp): the window, node1's resends, the path counters.
    static func cutsUnderStream(tag: String, interval: Double, cuts wanted: Int) throws -> (cuts: Int, window: TrafficStream.Window, resent: UInt64, path: PathCounters) {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: tag)
        defer { fabric.tearDown() }
        let b = fabric.node("node2")
        let stream = try TrafficStream(from: fabric.node("node1").namespace, to: b.namespace, address: b.virtualIPv4, interval: interval)
        defer { stream.stop() }
        #expect(stream.waitForFlow(after: stream.now, seconds: 5))
        let t0 = stream.now
        let cuts = try cutActiveRoute(fabric, cuts: wanted)
        usleep(500_000)
        let w = stream.window(from: t0, to: stream.now - 0.3)
        let resent = fabric.counter("node1", "lossless_resent")
        let path = fabric.pathCounters()
        print("[failover] \(cuts) silent cuts under \(Int(1 / interval)) datagrams/s: \(w.lost) of \(w.received + w.lost) lost, \(resent) resent, receiver's own drops \(w.droppedByReceiver), longest pause \(Int(w.longestGap * 1000)) ms; \(path.summary)")
        #expect(cuts == wanted, "every cut moved the traffic")
        #expect(w.droppedByReceiver == 0, "the test's receiver dropped \(w.droppedByReceiver) datagrams itself: the measurement is broken")
        #expect(w.lost == 0, "lossless failover lost \(w.lost) datagrams")
        return (cuts, w, resent, path)
    }

    @Test func twentySilentCutsUnderAStreamLoseNoDatagram() throws {
        let run = try Self.cutsUnderStream(tag: "cut20", interval: 0.0005, cuts: 20)
        #expect(run.resent > 0, "the cuts swallowed frames that were resent (else this proves nothing)")
    }

    /// A failover at 20,000 datagrams/s resends hundreds of frames in one burst.
    /// The test's own receiver gets room for it, and its drops are checked:
    /// with the default buffer it lost 77 of them itself, which looked like netft's loss.
    @Test func silentCutsAt20000DatagramsPerSecondLoseNothing() throws {
        let run = try Self.cutsUnderStream(tag: "cutfast", interval: 0.00005, cuts: 3)
        #expect(run.resent >= 300, "each cut swallowed a burst that was resent (else this proves nothing)")
        expectFramesTook(.xdp, run.path, atLeast: 10_000)
    }

    @Test func twentySilentCutsDuringTCPDeliverEveryByteOnce() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "cuttcp")
        defer { fabric.tearDown() }
        let b = fabric.node("node2")
        var cuts = 0
        let result = try TCPTransfer.run(from: fabric.node("node1").namespace, to: b.namespace, address: b.virtualIPv4, bytes: 1 << 30, seconds: 120) {
            cuts = try Self.cutActiveRoute(fabric, cuts: 20)
        }
        print("[failover] \(cuts) silent cuts during TCP: \(result.bytes >> 20) MiB intact \(result.intact), longest stall \(Int(result.longestStallSeconds * 1000)) ms")
        for n in ["node1", "node2"] {
            let s = fabric.status(n)
            print("[failover] \(n) drops \(s?.drops ?? [:]) datapath \(s?.datapath ?? [:])")
        }
        #expect(cuts == 20)
        #expect(result.intact && result.bytes == 1 << 30, "every byte delivered once, in order")
    }

    /// When node1 logged the Down of its route on `network` after `since`.
    static func downLogged(_ fabric: ClusterFabric, network k: Int, after since: Date) -> (at: Date, reason: String)? {
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for line in fabric.log("node1").split(separator: "\n") where line.contains("Setting state to Down for route from 198.18.\(k + 1).1") {
            guard let at = parser.date(from: String(line.prefix(24))), at >= since else { continue }
            let reason = line.split(separator: "(").last.map { String($0.dropLast(2)) } ?? ""
            return (at, reason)
        }
        return nil
    }

    @Test func aBlackholeUnderTrafficIsFoundInTensOfMillisecondsAnIdleOneByItsHeartbeats() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "bhole")
        defer { fabric.tearDown() }
        let b = fabric.node("node2")
        let settings = HeartbeatSettings.fast

        // Idle: nothing but heartbeats on the route.
        let idleCut = Date()
        try Self.cut(fabric, network: 0)
        #expect(fabric.wait(seconds: 3) { Self.downLogged(fabric, network: 0, after: idleCut) != nil })
        let idle = try #require(Self.downLogged(fabric, network: 0, after: idleCut))
        try Self.restore(fabric, network: 0)
        let idleMs = Int(idle.at.timeIntervalSince(idleCut) * 1000)
        #expect(idleMs >= Int(settings.delay.value) * (settings.threshold - 1), "idle: never earlier than Delay x (Threshold - 1) (\(idleMs) ms)")
        #expect(idle.reason != "unanswered_data")
        #expect(fabric.wait(seconds: 5) { Self.activeNetwork(fabric) == 0 }, "traffic back on net1")

        // Under traffic: the data path finds it.
        let stream = try TrafficStream(from: fabric.node("node1").namespace, to: b.namespace, address: b.virtualIPv4, interval: 0.0005)
        defer { stream.stop() }
        #expect(stream.waitForFlow(after: stream.now, seconds: 5))
        var detections: [Int] = []
        for _ in 0..<5 {
            guard let k = Self.activeNetwork(fabric) else { break }
            let cutAt = Date()
            try Self.cut(fabric, network: k)
            let found = fabric.wait(seconds: 3) { Self.downLogged(fabric, network: k, after: cutAt) != nil }
            try Self.restore(fabric, network: k)
            guard found, let down = Self.downLogged(fabric, network: k, after: cutAt) else { break }
            detections.append(Int(down.at.timeIntervalSince(cutAt) * 1000))
            #expect(down.reason == "unanswered_data", "found by the data path: \(down.reason)")
            _ = fabric.wait(seconds: 3) { fabric.routes("node1").allSatisfy { $0.state == "up" } }
        }
        print("[failover] silent cut: idle route down after \(idleMs) ms; under 2000 packets/s after \(detections) ms")
        #expect(detections.count == 5)
        #expect(detections.allSatisfy { $0 < 50 }, "under traffic, found in under 50 ms: \(detections)")
    }
}
