import Foundation
import NetFTCore
import NetFTDataplane
import NetFTTestSupport
import Testing

@testable import NetFTDaemon

/// Whole nodes without root: real datapaths exchange sealed frames over an
/// in-memory fabric (`MemoryCluster`). What the namespace tests prove on
/// the kernel path, these prove for the node's own logic, in a second or less.
@Suite("Nodes in one process, without root")
struct NodeInMemoryTests {
    static func virtualIPv4(_ cluster: MemoryCluster, _ name: String) -> IPAddress {
        VirtualAddresses.ipv4(cluster: cluster.config.cluster, node: cluster[name].me.id)
    }

    @Test func packetsCrossSealedAndArriveWhole() throws {
        let cluster = try MemoryCluster(security: .encrypt)
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp(), "every route Up within 3 s")
        let from = Self.virtualIPv4(cluster, "node1")
        let to = Self.virtualIPv4(cluster, "node2")
        let packets = (0..<20).map { InnerPacket.udp(from: from, to: to, sequence: UInt32($0)) }
        for p in packets { #expect(cluster["node1"].adapter.inject(p)) }
        var arrived: [[UInt8]] = []
        while arrived.count < packets.count, let p = cluster["node2"].adapter.receive(milliseconds: 1000) { arrived.append(p) }
        #expect(arrived == packets, "each packet delivered once, whole, in order")
        #expect(cluster.fabric.delivered(.data) >= packets.count)
        let status = try #require(cluster["node1"].status())
        #expect(status.routes.count == 2 && status.routes.filter(\.active).map(\.network) == ["net1"], "\(status.routes.map { ($0.network, $0.state, $0.active) })")
    }
}

extension NodeInMemoryTests {
    /// Sends `count` numbered packets node1 -> node2, one per millisecond, calling `at` before each.
    static func stream(_ cluster: MemoryCluster, count: Int, at: @escaping (Int) -> Void = { _ in }) -> Thread {
        let from = virtualIPv4(cluster, "node1")
        let to = virtualIPv4(cluster, "node2")
        let adapter = UncheckedBox(cluster["node1"].adapter)
        let events = UncheckedBox(at)
        let t = Thread {
            for i in 0..<count {
                events.value(i)
                _ = adapter.value.inject(InnerPacket.udp(from: from, to: to, sequence: UInt32(i)))
                usleep(1_000)
            }
        }
        t.start()
        return t
    }

    /// Numbered packets node2's applications got, until `count` distinct or `seconds` of silence.
    static func collect(_ cluster: MemoryCluster, count: Int, seconds: Int32 = 2) -> [UInt32] {
        var seen: [UInt32] = []
        while Set(seen).count < count, let p = cluster["node2"].adapter.receive(milliseconds: seconds * 1000) {
            if let s = InnerPacket.sequence(of: p) { seen.append(s) }
        }
        return seen
    }

    /// Without lossless failover the same cut loses what was in flight: what shows the test can fail.
    @Test func withoutLosslessFailoverTheSameCutLosesPackets() throws {
        let cluster = try MemoryCluster(lossless: false)
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp())
        _ = Self.stream(cluster, count: 400) { i in if i == 100 { cluster.fabric.cut(.v4(0xC612_0101)) } }
        let seen = Self.collect(cluster, count: 400, seconds: 1)
        #expect(Set(seen).count < 400, "the detection window's packets are lost")
        #expect(cluster["node1"].status()?.datapath["lossless_resent"] == nil)
    }

    @Test func aSilentCutUnderAStreamLosesNothing() throws {
        let cluster = try MemoryCluster()
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp())
        let net1 = IPAddress.v4(0xC612_0101)  // 198.18.1.1: node1 on net1
        _ = Self.stream(cluster, count: 600) { i in if i == 200 { cluster.fabric.cut(net1) } }
        let seen = Self.collect(cluster, count: 600)
        let node1 = try #require(cluster["node1"].status())
        let net1Route = node1.routes.first { $0.peer == "node2" && $0.network == "net1" }
        print("[memory] cut under 1000 packets/s: \(Set(seen).count) of 600 delivered, \(seen.count - Set(seen).count) twice, \(node1.datapath["lossless_resent"] ?? 0) resent, \(cluster.fabric.dropped) frames swallowed")
        #expect(Set(seen) == Set(0..<600), "missing: \(Set(0..<600).subtracting(Set(seen)).sorted().prefix(20))")
        #expect(seen.count == 600, "no packet delivered twice")
        #expect(net1Route?.state == "down" && net1Route?.active == false, "\(String(describing: net1Route))")
        #expect(node1.routes.first { $0.peer == "node2" && $0.network == "net2" }?.active == true)
        #expect((node1.datapath["lossless_resent"] ?? 0) > 0 && cluster.fabric.dropped > 0, "the cut swallowed frames that were resent (else this proves nothing)")
        #expect(cluster["node1"].logs.contains("lossless failover: resent"))
    }

    @Test func acksComeInBatchesAndCoverEverything() throws {
        let cluster = try MemoryCluster()
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp())
        let from = Self.virtualIPv4(cluster, "node1")
        let to = Self.virtualIPv4(cluster, "node2")
        let acksBefore = cluster.fabric.delivered(.ack)
        for i in 0..<320 { #expect(cluster["node1"].adapter.inject(InnerPacket.udp(from: from, to: to, sequence: UInt32(i)))) }
        #expect(Set(Self.collect(cluster, count: 320)).count == 320)
        // Once every frame is acknowledged, node1 holds nothing for node2.
        let settled = cluster.wait(seconds: 1) { cluster["node1"].status()?.nodes.first { $0.name == "node2" }?.unacknowledged == 0 }
        let acks = cluster.fabric.delivered(.ack) - acksBefore
        print("[memory] 320 data frames in a burst: \(acks) ack frames")
        #expect(settled, "node2's acks covered all 320 frames")
        // One ack per 32 frames (or 5 ms), never one per frame.
        #expect(acks >= 1 && acks <= 320 / DataStream.ackEvery * 2, "\(acks) ack frames for 320 data frames")
    }

    @Test func replayedTamperedAndForgedFramesNeverReachTheAdapter() throws {
        let cluster = try MemoryCluster()
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp())
        cluster.fabric.record()
        let from = Self.virtualIPv4(cluster, "node1")
        let to = Self.virtualIPv4(cluster, "node2")
        for i in 0..<10 { #expect(cluster["node1"].adapter.inject(InnerPacket.udp(from: from, to: to, sequence: UInt32(i)))) }
        #expect(Set(Self.collect(cluster, count: 10)).count == 10)
        let data = cluster.fabric.recorded.filter { $0.frame.count > 5 && $0.frame[5] == FrameType.data.rawValue }
        try #require(data.count >= 10)
        let dropsBefore = try #require(cluster["node2"].status()).drops
        for d in data {
            cluster.fabric.inject(d.frame, from: d.from, to: d.to)  // replayed
            var flipped = d.frame
            flipped[flipped.count - 20] ^= 0x01
            cluster.fabric.inject(flipped, from: d.from, to: d.to)  // tampered
            cluster.fabric.inject((0..<d.frame.count).map { _ in UInt8.random(in: 0...255) }, from: d.from, to: d.to)  // garbage
        }
        #expect(cluster["node2"].adapter.receive(milliseconds: 200) == nil, "nothing reached node2's applications")
        let drops = try #require(cluster["node2"].status()).drops
        func grew(_ key: String) -> UInt64 { (drops[key] ?? 0) - (dropsBefore[key] ?? 0) }
        print("[memory] \(data.count) data frames replayed, tampered and forged: \(drops.filter { $0.value > (dropsBefore[$0.key] ?? 0) })")
        #expect(grew("replayed") + grew("duplicate_data") + grew("too_old") >= UInt64(data.count), "every replay counted")
        #expect(grew("authentication_failed") >= UInt64(data.count), "every tampered frame counted")
        #expect(grew("bad_magic") >= UInt64(data.count) - 1, "the garbage counted")
        #expect(cluster.wait(seconds: 0.2) { cluster["node1"].status()?.routes.allSatisfy { $0.state == "up" } ?? false }, "no route suffered")
    }
}

extension NodeInMemoryTests {
    @Test func aNodeJoinsAndLeavesByReloadWhileTheOthersLoseNothing() throws {
        let cluster = try MemoryCluster(nodes: 2)
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp())
        let three = MemoryCluster.config(nodes: 3)
        let node3 = three.nodes[2]
        let stream = Self.stream(cluster, count: 800) { i in
            switch i {
            case 100:
                try? cluster.start(node3, config: three)
                for n in ["node1", "node2"] { #expect((try? cluster[n].reload(from: cluster.config, to: three))?.applied == true) }
            case 500:
                for n in ["node1", "node2"] { #expect((try? cluster[n].reload(from: three, to: cluster.config))?.applied == true) }
            default: break
            }
        }
        // node3 joined: both see it, and it carries traffic.
        let joined = cluster.wait(seconds: 2) {
            ["node1", "node2"].allSatisfy { n in cluster[n].status()?.routes.filter { $0.peer == "node3" && $0.state == "up" }.count == 2 }
        }
        #expect(joined, "node1 and node2 reach node3 on both networks")
        let seen = Self.collect(cluster, count: 800)
        while stream.isExecuting { usleep(1_000) }
        #expect(Set(seen) == Set(0..<800) && seen.count == 800, "node1 -> node2 lost \(800 - Set(seen).count) across the join and the leave")
        for n in ["node1", "node2"] {
            let downs = cluster[n].logs.all.filter { $0.contains("Setting state to Down") && !$0.contains("198.18.1.3") && !$0.contains("198.18.2.3") }
            #expect(downs.isEmpty, "\(n): no route between the first two went down: \(downs)")
            #expect(cluster[n].status()?.routes.contains { $0.peer == "node3" } == false, "\(n) forgot node3 once it left")
        }
    }
}

extension NodeInMemoryTests {
    /// One-way loss: node1's frames on net1 vanish, node2's still arrive. Each
    /// side names it from where it stands, and traffic moves to net2.
    @Test func oneWayLossIsDiagnosedFromBothSides() throws {
        let cluster = try MemoryCluster()
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp())
        cluster.fabric.mute(.v4(0xC612_0101))  // 198.18.1.1: node1 on net1
        let down = cluster.wait(seconds: 2) {
            cluster["node1"].route(to: "node2", network: "net1")?.state == "down" && cluster["node2"].route(to: "node1", network: "net1")?.state == "down"
        }
        #expect(down, "both sides took net1's route down")
        // Down is first put down to missed heartbeats; the next report from the peer refines it.
        var node1 = cluster["node1"].route(to: "node2", network: "net1")
        var node2 = cluster["node2"].route(to: "node1", network: "net1")
        _ = cluster.wait(seconds: 1) {
            node1 = cluster["node1"].route(to: "node2", network: "net1")
            node2 = cluster["node2"].route(to: "node1", network: "net1")
            return node1?.reason == "asymmetric_outbound_lost" && node2?.reason == "asymmetric_inbound_lost"
        }
        print("[memory] one-way loss on net1: node1 says \(node1?.reason ?? "-"), node2 says \(node2?.reason ?? "-")")
        #expect(node1?.reason == "asymmetric_outbound_lost", "node1 hears node2 but is not heard: \(String(describing: node1?.diagnosis))")
        #expect(node2?.reason == "asymmetric_inbound_lost", "node2 is heard but hears nothing: \(String(describing: node2?.diagnosis))")
        #expect(cluster["node1"].route(to: "node2", network: "net2")?.active == true, "node1's traffic moved to net2")
        #expect(cluster["node1"].logs.contains("Setting state to Down"), "the Windows-style log line names the Down")
    }
}

extension NodeInMemoryTests {
    /// A network added by reload on an interface the node did not use: the
    /// dataplane attaches to it at runtime, its routes come up, and it carries
    /// the traffic when the first network is cut, with nothing lost.
    @Test func aReloadAttachesANewNetworkAndItCarriesTheFailover() throws {
        let cluster = try MemoryCluster(nodes: 2, networks: 2, configured: 1)
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp())
        #expect(cluster["node1"].status()?.routes.count == 1, "one network configured: one route")
        let both = MemoryCluster.config(nodes: 2, networks: 2)
        var summaries: [String] = []
        _ = Self.stream(cluster, count: 800) { i in
            switch i {
            case 100:
                for n in ["node1", "node2"] {
                    let answer = try? cluster[n].reload(from: cluster.config, to: both)
                    #expect(answer?.applied == true)
                    summaries.append(answer?.summary ?? "-")
                }
            case 400: cluster.fabric.cut(.v4(0xC612_0101))  // node1 on net1
            default: break
            }
        }
        let seen = Self.collect(cluster, count: 800)
        print("[memory] reload adding net2: \(summaries)")
        #expect(summaries.allSatisfy { $0.contains("interfaces attached: mem1") && !$0.contains("not applied") }, "\(summaries)")
        #expect(Set(seen) == Set(0..<800) && seen.count == 800, "lost \(800 - Set(seen).count) across the attach and the cut")
        let routes = cluster["node1"].status()?.routes ?? []
        #expect(routes.count == 2)
        #expect(routes.first { $0.network == "net2" }?.active == true, "net2 carries the traffic after net1's cut: \(routes.map { ($0.network, $0.state, $0.active) })")
        #expect(cluster["node1"].status()?.links.map(\.name) == ["mem0", "mem1"])
    }
}

extension NodeInMemoryTests {
    /// On a clock the test moves: no threads, no sleeping, no host load in the
    /// figures (only the random heartbeat phases vary). A silent cut under one
    /// packet per simulated millisecond is found within the route's detection
    /// window and loses nothing.
    @Test func onASteppedClockACutIsFoundInTimeAndLosesNothing() throws {
        let cluster = try MemoryCluster(stepped: true)
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp(), "routes up within 300 simulated ms")
        let from = Self.virtualIPv4(cluster, "node1")
        let to = Self.virtualIPv4(cluster, "node2")
        let cutAt = 200
        var downAt: Int?
        let started = MonotonicClock.seconds
        cluster.advance(milliseconds: 700) { ms in
            if ms < 600 { _ = cluster["node1"].adapter.inject(InnerPacket.udp(from: from, to: to, sequence: UInt32(ms))) }
            if ms == cutAt { cluster.fabric.cut(.v4(0xC612_0101)) }
            if ms > cutAt, downAt == nil, cluster["node1"].route(to: "node2", network: "net1")?.state == "down" { downAt = ms }
        }
        let realSeconds = MonotonicClock.seconds - started
        var seen: [UInt32] = []
        while let p = cluster["node2"].adapter.receive(milliseconds: 0) { if let s = InnerPacket.sequence(of: p) { seen.append(s) } }
        let detect = downAt.map { $0 - cutAt }
        let window = Int(HeartbeatSettings.fast.detectionTime.value)
        print("[memory, stepped] cut found after \(detect.map(String.init) ?? "-") simulated ms (window \(window) ms); \(Set(seen).count) of 600 delivered, \(seen.count - Set(seen).count) twice; 700 simulated ms took \(Int(realSeconds * 1000)) real ms")
        #expect(detect.map { $0 > 0 && $0 <= window + Int(HeartbeatSettings.fast.delay.value) } == true, "detected within Delay x Threshold (+ one Delay of phase)")
        #expect(Set(seen) == Set(0..<600) && seen.count == 600, "missing: \(Set(0..<600).subtracting(Set(seen)).sorted().prefix(10))")
        #expect(cluster["node1"].route(to: "node2", network: "net2")?.active == true)
    }
}

extension NodeInMemoryTests {
    /// A failover's resend can itself lose frames on the new path (a burst
    /// that overflows a ring or a switch buffer). The hole holds the peer's
    /// ack back, so the resend is sent again from the ack point: nothing lost.
    @Test func aResendThatLosesFramesIsSentAgain() throws {
        let cluster = try MemoryCluster(stepped: true)
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp())
        let from = Self.virtualIPv4(cluster, "node1")
        let to = Self.virtualIPv4(cluster, "node2")
        cluster.advance(milliseconds: 800) { ms in
            if ms < 600 { _ = cluster["node1"].adapter.inject(InnerPacket.udp(from: from, to: to, sequence: UInt32(ms))) }
            if ms == 200 {
                cluster.fabric.cut(.v4(0xC612_0101))  // node1 on net1: silent
                cluster.fabric.loseData(5, to: .v4(0xC612_0202))  // the first 5 data frames net2 carries to node2: the resend's oldest
            }
        }
        var seen: [UInt32] = []
        while let p = cluster["node2"].adapter.receive(milliseconds: 0) { if let s = InnerPacket.sequence(of: p) { seen.append(s) } }
        let node1 = try #require(cluster["node1"].status())
        print("[memory, stepped] a resend losing 5 frames: \(Set(seen).count) of 600 delivered, \(node1.datapath["lossless_resent"] ?? 0) resent, \(node1.datapath["lossless_resent_again"] ?? 0) of them again")
        #expect(Set(seen) == Set(0..<600) && seen.count == 600, "missing: \(Set(0..<600).subtracting(Set(seen)).sorted().prefix(10))")
        #expect((node1.datapath["lossless_resent_again"] ?? 0) >= 5, "the stalled resend went again")
        #expect(node1.drops["lossless_resends_abandoned"] == 0)
        #expect(cluster["node1"].logs.contains("again (attempt 2): its acknowledgement stalled"))
    }

    /// Idle, only heartbeats can find a cut: Threshold of them missed, on the
    /// simulated clock: never before (Threshold - 1) x Delay, never after one Delay more.
    @Test func onASteppedClockAnIdleCutTakesThresholdHeartbeats() throws {
        let cluster = try MemoryCluster(stepped: true)
        defer { cluster.stop() }
        #expect(cluster.allRoutesUp())
        let cutAt = 100
        var downAt: Int?
        cluster.advance(milliseconds: 400) { ms in
            if ms == cutAt { cluster.fabric.cut(.v4(0xC612_0101)) }
            if ms > cutAt, downAt == nil, cluster["node1"].route(to: "node2", network: "net1")?.state == "down" { downAt = ms }
        }
        let fast = HeartbeatSettings.fast
        let detect = try #require(downAt.map { $0 - cutAt }, "the cut was found")
        print("[memory, stepped] idle cut found after \(detect) simulated ms (Delay \(fast.delay.value) ms x Threshold \(fast.threshold))")
        #expect(detect >= Int(fast.delay.value) * (fast.threshold - 1) && detect <= Int(fast.delay.value) * (fast.threshold + 1), "\(detect) ms")
        // Both sides lost each other on net1 while each still hears the other on net2: a port or firewall, not a peer gone.
        #expect(cluster["node1"].route(to: "node2", network: "net1")?.reason == "port_blocked_suspected")
    }
}
