import NetFTCore

/// IPv4/UDP packets as an application behind the virtual adapter would send
/// them, numbered in their first payload bytes so a test can count them.
public enum InnerPacket {
    /// An IPv4 UDP packet from `source` to `destination` whose payload starts with `sequence`.
    public static func udp(from source: IPAddress, to destination: IPAddress, sequence: UInt32, payload: Int = 64, port: UInt16 = 6000) -> [UInt8] {
        guard case .v4(let src) = source, case .v4(let dst) = destination else { preconditionFailure("IPv4 addresses only") }
        let body = withUnsafeBytes(of: sequence.bigEndian, Array.init) + [UInt8](repeating: 0x5A, count: max(0, payload - 4))
        let total = 20 + 8 + body.count
        var p = [UInt8](repeating: 0, count: total)
        p[0] = 0x45
        p[2] = UInt8(total >> 8)
        p[3] = UInt8(total & 0xFF)
        p[6] = 0x40  // DF
        p[8] = 64
        p[9] = 17
        for (i, b) in withUnsafeBytes(of: src.bigEndian, Array.init).enumerated() { p[12 + i] = b }
        for (i, b) in withUnsafeBytes(of: dst.bigEndian, Array.init).enumerated() { p[16 + i] = b }
        var sum: UInt32 = 0
        for i in stride(from: 0, to: 20, by: 2) { sum += UInt32(p[i]) << 8 | UInt32(p[i + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        let checksum = ~UInt16(sum)
        p[10] = UInt8(checksum >> 8)
        p[11] = UInt8(checksum & 0xFF)
        p[20] = UInt8(port >> 8)
        p[21] = UInt8(port & 0xFF)
        p[22] = UInt8(port >> 8)
        p[23] = UInt8(port & 0xFF)
        p[24] = UInt8((8 + body.count) >> 8)
        p[25] = UInt8((8 + body.count) & 0xFF)
        // UDP checksum 0: none (IPv4 allows it).
        p.replaceSubrange(28..<total, with: body)
        return p
    }

    /// The sequence number of a packet made by `udp`, if it is one.
    public static func sequence(of packet: [UInt8]) -> UInt32? {
        guard packet.count >= 32, packet[0] == 0x45, packet[9] == 17 else { return nil }
        return packet[28..<32].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
}
