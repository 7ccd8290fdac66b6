import CNetFTShims
import NetFTCore

/// A gratuitous ARP announces a new MAC for an address. Sent when a link's
/// MAC changes (NIC swap, bond failover), so peers' kernels update their
/// neighbour entries (an existing entry takes a gratuitous ARP at once) and
/// their netft fast paths, which follow those entries, stop sending to the old MAC.
public enum GratuitousARP {
    /// The 42-byte broadcast ARP request with sender = target = `address`.
    public static func frame(mac: [UInt8], address: UInt32) -> [UInt8] {
        precondition(mac.count == 6)
        let ip = withUnsafeBytes(of: address.bigEndian, Array.init)
        var f = [UInt8](repeating: 0xFF, count: 6) + mac + [0x08, 0x06]  // Ethernet: broadcast, ARP
        f += [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]  // Ethernet/IPv4, request
        f += mac + ip + [UInt8](repeating: 0, count: 6) + ip
        return f
    }

    public static func send(interfaceIndex: Int32, name: String, mac: [UInt8], address: IPAddress) throws(SystemError) {
        guard case .v4(let a) = address else { return }
        let f = frame(mac: mac, address: a)
        try check("send a gratuitous ARP for \(address) on \(name)", f.withUnsafeBytes { netft_packet_send(interfaceIndex, $0.baseAddress, $0.count) })
    }
}
