/// The virtual adapter's addresses: derived from the cluster name and node id
/// only, so they are stable across restarts and every node can compute every
/// peer's. IPv4 in 169.254.0.0/16 (APIPA), unique within a cluster of up to
/// 65024 nodes; IPv6 link-local fe80::/64 with the cluster hash and node id
/// as the interface identifier.
public enum VirtualAddresses {
    public static func ipv4(cluster: String, node: NodeID) -> IPAddress {
        // Host part 1.0 ... 254.255 (skip 169.254.0.x and 169.254.255.x, reserved by RFC 3927).
        let usable: UInt32 = 254 * 256
        let offset = (UInt32(truncatingIfNeeded: clusterHash(cluster)) &+ node) % usable
        return .v4(0xA9FE_0000 | (256 + offset))
    }

    public static func ipv6(cluster: String, node: NodeID) -> IPAddress {
        .v6(0xFE80_0000_0000_0000, UInt64(UInt32(truncatingIfNeeded: clusterHash(cluster) >> 32)) << 32 | UInt64(node))
    }

    /// FNV-1a 64 of the cluster name.
    static func clusterHash(_ cluster: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in cluster.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        return hash
    }
}
