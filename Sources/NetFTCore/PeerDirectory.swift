/// Which peer an inner packet from the virtual adapter is for: by its IPv4
/// or IPv6 destination, each peer's virtual addresses (derived from the
/// cluster name and its id). Packets to anything else have no peer.
public struct PeerDirectory: Sendable {
    private var peers: [IPAddress: NodeID] = [:]

    public init(_ config: ClusterConfig, me: NodeID) {
        for peer in config.nodes where peer.id != me {
            peers[VirtualAddresses.ipv4(cluster: config.cluster, node: peer.id)] = peer.id
            peers[VirtualAddresses.ipv6(cluster: config.cluster, node: peer.id)] = peer.id
        }
    }

    /// The peer `packet` (an IP packet, `length` bytes) is addressed to.
    @inline(__always)
    public func peer(of packet: UnsafeRawBufferPointer, length: Int) -> NodeID? {
        guard length >= 20 else { return nil }
        switch packet[0] >> 4 {
        case 4:
            return peers[.v4(UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))]
        case 6 where length >= 40:
            let hi = UInt64(bigEndian: packet.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            let lo = UInt64(bigEndian: packet.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            return peers[.v6(hi, lo)]
        default:
            return nil
        }
    }
}
