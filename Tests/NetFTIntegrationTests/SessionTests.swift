import Foundation
import Glibc
import NetFTCore
import NetFTDataplane
import NetFTDaemon
import NetFTFabric
import NetFTLab
import Testing

/// Sessions on the real kernel: restarts never reuse a nonce, and frames of an
/// older session of either side never reach an adapter again.
@Suite("Sessions across restarts", .serialized)
struct SessionRestartTests {
    static let marker = Array("SESSION-REPLAY-NETFT".utf8)

    /// node1's frames on network 1, captured at the switch port it is plugged into.
    static func wire(_ fabric: ClusterFabric, from node: Int) throws -> PcapLive {
        let source = ClusterFabric.address(network: 0, node: node)
        return try NetworkNamespace.run(fabric.switches[0]) { try PcapLive(interface: "n\(node + 1)", filter: "udp and src host \(source) and dst port 3343") }
    }

    static func session(_ fabric: ClusterFabric, _ node: String) -> String? { fabric.status(node)?.session }

    /// The session `observer` has established with `peer` (from its status).
    static func established(_ fabric: ClusterFabric, _ observer: String, with peer: String) -> String? {
        let nodes = fabric.status(observer)?.nodes ?? []
        return nodes.first { $0.name == peer }?.session
    }

    /// The session field of a netft frame in an Ethernet + IPv4 + UDP capture (nil: not netft).
    static func sessionOnWire(_ frame: [UInt8]) -> [UInt8]? {
        let udp = Array(frame.dropFirst(42))
        guard udp.count >= 48, Array(udp[0..<4]) == [0x4E, 0x65, 0x46, 0x54] else { return nil }
        return Array(udp[12..<16])
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("two restarts within a second: no (session, route, sequence) repeats, the peer takes each new session")
    func restartsNeverReuseANonce() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "sess")
        defer { fabric.tearDown() }
        let capture = try Self.wire(fabric, from: 0)
        var sessions = [try #require(Self.session(fabric, "node1"))]
        // The first life's frames are on the wire before the first stop.
        var captured: [[UInt8]] = []
        let firstSeen = Date().addingTimeInterval(5)
        while Date() < firstSeen {
            guard let frame = capture.next(timeoutMilliseconds: 100) else { continue }
            captured.append(frame)
            if Self.sessionOnWire(frame).map(Self.hex) == sessions[0] { break }
        }

        // Stop and start node1 twice, as fast as it goes.
        let began = Date()
        var starts: [Date] = []
        for _ in 0..<2 {
            fabric.stop("node1")
            try fabric.start("node1")
            starts.append(Date())
            #expect(fabric.wait(seconds: 5) { Self.session(fabric, "node1").map { !sessions.contains($0) } ?? false }, "node1 answers with a new session")
            let fresh = Self.session(fabric, "node1") ?? "?"
            sessions.append(fresh)
            // The peer takes each new session before the next stop, so every life is on the wire.
            #expect(fabric.wait(seconds: 5) { Self.established(fabric, "node2", with: "node1") == fresh }, "node2 established node1's session \(fresh)")
        }
        let span = starts[1].timeIntervalSince(starts[0])
        #expect(fabric.waitAllRoutesUp(seconds: 10), "every route is up again")

        // Every frame node1 sent in its three lives, by (session, route, sequence).
        var seen: Set<[UInt8]> = []
        var repeats = 0
        var lives: Set<[UInt8]> = []
        var frames = 0
        // What the capture holds, plus a second more (node1 keeps sending, so
        // "until quiet" would never come; the kernel hands frames over in blocks).
        for frame in captured + capture.drain(milliseconds: 1000) {
            guard let session = Self.sessionOnWire(frame) else { continue }
            let udp = Array(frame.dropFirst(42))
            frames += 1
            lives.insert(session)
            let key = Array(udp[12..<20]) + Array(udp[24..<32])
            if !seen.insert(key).inserted { repeats += 1 }
        }
        #expect(frames > 20, "node1's frames were captured (\(frames))")
        let onWire = lives.map(Self.hex).sorted()
        #expect(lives.count == 3, "three lives, three sessions on the wire: \(onWire), status said \(sessions)")
        #expect(repeats == 0, "\(repeats) (session, route, sequence) triples repeated")
        #expect(Set(sessions).count == 3, "three distinct sessions: \(sessions)")
        let log = fabric.log("node2")
        #expect(log.components(separatedBy: "Session with node1 established").count - 1 >= 3, "node2 logged each handshake")
        #expect(log.contains("node1 restarted; frames of its old session are refused"))
        print("restarts: second start \(String(format: "%.2f", span)) s after the first, whole run \(String(format: "%.1f", Date().timeIntervalSince(began))) s; \(frames) frames, 0 repeats")
    }

    @Test("a captured data frame never reaches the adapter after the receiver, or the sender, restarted")
    func capturedFramesAreRefusedAfterARestart() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "sesr")
        defer { fabric.tearDown() }
        let (attacker, _) = try fabric.addHost(network: 0, host: 99)
        let a = fabric.node("node1"), b = fabric.node("node2")
        let target = "\(ClusterFabric.address(network: 0, node: 1))"
        let wire = try Self.wire(fabric, from: 0)
        // The resends come from node1's address and port: past the path check.
        let node1 = ClusterFabric.address(network: 0, node: 0)
        try impersonate(node1, in: attacker)

        // One genuine data frame node1 -> node2 carrying the marker, taken off the wire.
        try NetworkNamespace.run(a.namespace) { try UDPEndpoint().send(Self.marker, to: "\(b.virtualIPv4)", port: 7777) }
        var captured: [UInt8]?
        let deadline = Date().addingTimeInterval(5)
        while captured == nil && Date() < deadline {
            guard let frame = wire.next(timeoutMilliseconds: 100) else { continue }
            let payload = Array(frame.dropFirst(42))
            // Signed, not encrypted: the inner datagram, marker included, is readable.
            if payload.count > 48 && payload[5] == FrameType.data.rawValue && HostileFrameTests.contains(payload, Self.marker) { captured = payload }
        }
        let frame = try #require(captured, "node1's data frame was seen on the wire")

        func resend(expecting reason: String, node: String) throws {
            let before = fabric.status(node)?.drops ?? [:]
            let adapter = try NetworkNamespace.run(fabric.node(node).namespace) { try PcapLive(interface: "netft0") }
            try NetworkNamespace.run(attacker) {
                let socket = try UDPEndpoint(port: 3343, local: "\(node1)")
                for _ in 0..<5 { try socket.send(frame, to: target, port: 3343) }
            }
            var drops: [String: UInt64] = [:]
            let counted = fabric.wait(seconds: 5) {
                drops = fabric.status(node)?.drops ?? [:]
                return (drops[reason] ?? 0) - (before[reason] ?? 0) >= 5
            }
            #expect(counted, "the resent frame was counted as \(reason): \(drops)")
            let seen = adapter.drain(milliseconds: 300)
            #expect(!seen.contains { HostileFrameTests.contains($0, Self.marker) }, "the captured frame reached \(node)'s adapter")
        }

        // The receiver restarts: the key was derived with its old nonce.
        fabric.stop("node2")
        try fabric.start("node2")
        #expect(fabric.waitAllRoutesUp(seconds: 10))
        try resend(expecting: "authentication_failed", node: "node2")

        // The sender restarts: its old session is no longer known at all.
        fabric.stop("node1")
        try fabric.start("node1")
        #expect(fabric.wait(seconds: 10) { Self.established(fabric, "node2", with: "node1") == Self.session(fabric, "node1") })
        #expect(fabric.waitAllRoutesUp(seconds: 10))
        try resend(expecting: "unknown_session", node: "node2")
        #expect(fabric.isRunning("node2"))
    }
}
