import Testing

@testable import NetFTCore

/// The adapter's packets say by their destination which peer they are for.
@Suite("Peer directory")
struct PeerDirectoryTests {
    static func packet(v4 destination: IPAddress) -> [UInt8] {
        guard case .v4(let d) = destination else { return [] }
        var p = [UInt8](repeating: 0, count: 28)
        p[0] = 0x45
        withUnsafeBytes(of: d.bigEndian) { for (i, b) in $0.enumerated() { p[16 + i] = b } }
        return p
    }

    static func packet(v6 destination: IPAddress) -> [UInt8] {
        guard case .v6(let hi, let lo) = destination else { return [] }
        var p = [UInt8](repeating: 0, count: 48)
        p[0] = 0x60
        withUnsafeBytes(of: hi.bigEndian) { for (i, b) in $0.enumerated() { p[24 + i] = b } }
        withUnsafeBytes(of: lo.bigEndian) { for (i, b) in $0.enumerated() { p[32 + i] = b } }
        return p
    }

    @Test func eachPeerByEitherVirtualAddressNeverMeNorStrangers() {
        var config = ClusterConfig(cluster: "c")
        config.nodes = (1...3).map { ClusterConfig.Node(name: "node\($0)", id: NodeID($0), addresses: []) }
        let directory = PeerDirectory(config, me: 1)
        func peer(_ p: [UInt8], length: Int? = nil) -> NodeID? { p.withUnsafeBytes { directory.peer(of: $0, length: length ?? p.count) } }
        for id: NodeID in [2, 3] {
            #expect(peer(Self.packet(v4: VirtualAddresses.ipv4(cluster: "c", node: id))) == id)
            #expect(peer(Self.packet(v6: VirtualAddresses.ipv6(cluster: "c", node: id))) == id)
        }
        #expect(peer(Self.packet(v4: VirtualAddresses.ipv4(cluster: "c", node: 1))) == nil, "not this node itself")
        #expect(peer(Self.packet(v4: VirtualAddresses.ipv4(cluster: "other", node: 2))) == nil, "not another cluster's node")
        #expect(peer(Self.packet(v4: IPAddress("198.18.1.2")!)) == nil)
        #expect(peer(Self.packet(v6: VirtualAddresses.ipv6(cluster: "c", node: 2)), length: 39) == nil, "a truncated IPv6 header")
        #expect(peer([0x45] + [UInt8](repeating: 0, count: 10)) == nil, "a truncated IPv4 header")
        #expect(peer([0x00] + [UInt8](repeating: 0, count: 40)) == nil, "not IP")
    }
}
