import Foundation
import Glibc
import NetFTCore
import NetFTDataplane
import NetFTFabric
import NetFTLab
import Testing

/// Frames with a bad tag, a replayed sequence, or garbage on port 3343, sent
/// from a third namespace on the same network: counted and dropped, never on
/// the peer's virtual adapter (checked by capturing on it).
@Suite("Hostile frames from a third namespace", .serialized)
struct HostileFrameTests {
    static let marker = Array("REPLAY-ME-NETFT".utf8)
    static let evil = Array("EVIL-NETFT-FRAME".utf8)

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle { return true }
        return false
    }

    /// A data frame that looks right but is sealed with a key nobody in the cluster has.
    static func forged(route: RouteID, session: UInt32) throws -> [UInt8] {
        let key = try ClusterKey(secret: Array("not the cluster key, an attacker's".utf8))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)
        defer { buffer.deallocate() }
        let inner: [UInt8] = [0x45, 0, 0, UInt8(20 + evil.count), 0, 0, 0, 0, 64, 17, 0, 0, 169, 254, 1, 1, 169, 254, 1, 2] + evil
        for (i, b) in inner.enumerated() { buffer[FrameCodec.payloadOffset + i] = b }
        let header = FrameHeader(type: .data, sender: 2, session: session, route: route, payloadLength: UInt16(inner.count), sequence: 1_000_000)
        let n = try FrameCodec.seal(header, in: buffer, security: .sign, key: key)
        return Array(buffer[0..<n])
    }

    @Test("bad tag, replay and garbage are dropped and counted", arguments: DataplaneKind.allCases)
    func hostileFrames(dataplane: DataplaneKind) throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = dataplane
        let fabric = try upFabric(spec, tag: "evil\(dataplane.rawValue)")
        defer { fabric.tearDown() }
        let (attacker, _) = try fabric.addHost(network: 0, host: 99)
        let a = fabric.node("node1"), b = fabric.node("node2")
        let target = "\(ClusterFabric.address(network: 0, node: 0))"

        // Capture on node1's virtual adapter, and node2's frames at the switch.
        let adapterCapture = try NetworkNamespace.run(a.namespace) { try PcapLive(interface: "netft0") }
        let wire = try NetworkNamespace.run(fabric.switches[0]) { try PcapLive(interface: "n2", filter: "udp and dst host \(target) and dst port 3343") }

        // One legitimate datagram through the tunnel, node2 -> node1, carrying the marker.
        try NetworkNamespace.run(b.namespace) { try UDPEndpoint().send(Self.marker, to: "\(a.virtualIPv4)", port: 7777) }
        var captured: [UInt8]?
        let deadline = Date().addingTimeInterval(5)
        while captured == nil && Date() < deadline {
            guard let frame = wire.next(timeoutMilliseconds: 100) else { continue }
            let payload = Array(frame.dropFirst(42))  // Ethernet + IPv4 + UDP
            if payload.count > 48 && payload[5] == FrameType.data.rawValue { captured = payload }
        }
        let replay = try #require(captured, "node2's data frame was seen on the wire")
        let before = try #require(fabric.status("node1")?.drops)

        // Forged under node2's real session id, so only the tag can refuse it.
        let session = try #require((fabric.status("node2")?.session).flatMap { UInt32($0, radix: 16) })
        let forged = try Self.forged(route: Route.id(between: ClusterFabric.address(network: 0, node: 0), and: ClusterFabric.address(network: 0, node: 1)), session: session)
        // From node2's address and port, so the frames pass the path check
        // and only the tag, the replay window or the parser can refuse them.
        let node2 = ClusterFabric.address(network: 0, node: 1)
        try impersonate(node2, in: attacker)
        try NetworkNamespace.run(attacker) {
            let socket = try UDPEndpoint(port: 3343, local: "\(node2)")
            for _ in 0..<5 {
                try socket.send(replay, to: target, port: 3343)
                try socket.send(forged, to: target, port: 3343)
                try socket.send(Array("NeFT".utf8) + [Wire.version] + (0..<70).map { _ in UInt8.random(in: 0...255) }, to: target, port: 3343)
            }
        }
        func moved(_ key: String, _ drops: [String: UInt64]) -> Int { Int(drops[key] ?? 0) - Int(before[key] ?? 0) }
        var drops: [String: UInt64] = [:]
        let counted = fabric.wait(seconds: 5) {
            drops = fabric.status("node1")?.drops ?? [:]
            let garbage = ["bad_header_length", "unknown_type", "reserved_bits_set", "payload_length_mismatch", "security_mismatch", "truncated"]
                .map { moved($0, drops) }.reduce(0, +)
            return moved("replayed", drops) + moved("too_old", drops) >= 5 && moved("authentication_failed", drops) >= 5 && garbage >= 5
        }
        #expect(counted, "drops counted by reason: \(drops)")

        // What reached node1's adapter: the marker once (the legitimate copy), the forged payload never.
        // (UDP only: node1's ICMP port-unreachable answer quotes the datagram on its way out.)
        let seen = adapterCapture.drain(milliseconds: 300).filter { $0.count > 20 && $0[0] >> 4 == 4 && $0[9] == 17 }
        #expect(seen.filter { Self.contains($0, Self.marker) }.count == 1, "the replayed datagram was not delivered again")
        #expect(!seen.contains { Self.contains($0, Self.evil) }, "a forged frame reached the virtual adapter")
        #expect(fabric.isRunning("node1"), "the daemon survived")
        #expect(fabric.routes("node1").allSatisfy { $0.state == "up" })
    }
}
