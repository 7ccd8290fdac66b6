import NetFTCore

/// Builds Ethernet frames byte by byte for the classifier tests.
struct FrameBuilder {
    enum Network { case ipv4, ipv6 }

    var vlanTags: [UInt16] = []            // TPIDs, outermost first: 0x8100 or 0x88A8
    var network: Network = .ipv4
    var ipv4OptionWords = 0                // 32-bit words of IPv4 options (IHL = 5 + this)
    var ipv4IHLOverride: UInt8?
    var ipv4FragmentField: UInt16 = 0x4000 // DF set, offset 0
    var ipv6Extensions: [UInt8] = []       // next-header values of extension headers, in order
    var ipProtocol: UInt8 = 17
    var sourcePort: UInt16 = 40000
    var destinationPort: UInt16 = Wire.defaultPort
    var payload: [UInt8] = FrameBuilder.netftPayload()
    var etherType: UInt16?                 // overrides the network's ether type (e.g. ARP)

    static func netftPayload(version: UInt8 = Wire.version, magic: UInt32 = Wire.magic, extra: Int = 43) -> [UInt8] {
        be32(magic) + [version] + [UInt8](repeating: 0x5A, count: extra)
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { be16(UInt16(v >> 16)) + be16(UInt16(v & 0xFFFF)) }

    /// Offsets where each header starts, for truncation tests.
    struct Layout { var network = 0, transport = 0, payload = 0 }

    func build() -> (frame: [UInt8], layout: Layout) {
        var layout = Layout()
        var f: [UInt8] = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]
        let innerType: UInt16 = etherType ?? (network == .ipv4 ? 0x0800 : 0x86DD)
        for (i, tpid) in vlanTags.enumerated() {
            f += FrameBuilder.be16(tpid)
            f += FrameBuilder.be16(UInt16(100 + i))
        }
        f += FrameBuilder.be16(innerType)
        layout.network = f.count
        if etherType != nil {  // non-IP: 28 bytes of ARP-shaped filler
            f += [0, 1, 8, 0, 6, 4, 0, 1] + [UInt8](repeating: 0, count: 20)
            return (f, layout)
        }
        let udp = FrameBuilder.be16(sourcePort) + FrameBuilder.be16(destinationPort) + FrameBuilder.be16(UInt16(8 + payload.count)) + [0, 0] + payload
        switch network {
        case .ipv4:
            let ihl = ipv4IHLOverride ?? UInt8(5 + ipv4OptionWords)
            var ip: [UInt8] = [0x40 | (ihl & 0xF), 0] + FrameBuilder.be16(UInt16(20 + 4 * ipv4OptionWords + udp.count))
            ip += [0x12, 0x34] + FrameBuilder.be16(ipv4FragmentField) + [64, ipProtocol, 0, 0]
            ip += [198, 18, 0, 1, 198, 18, 0, 2]
            ip += [UInt8](repeating: 1, count: 4 * ipv4OptionWords)  // NOP options
            f += ip
        case .ipv6:
            var chain = ipv6Extensions + [ipProtocol]
            var ext: [UInt8] = []
            for i in 0..<ipv6Extensions.count {
                let next = chain[i + 1]
                if ipv6Extensions[i] == 44 {  // fragment header: fixed 8 bytes
                    ext += [next, 0, 0, 1, 0, 0, 0, 7]
                } else {
                    ext += [next, 0, 1, 4, 0, 0, 0, 0]  // 8 bytes: PadN option
                }
            }
            chain.removeAll()
            let first = ipv6Extensions.first ?? ipProtocol
            f += [0x60, 0, 0, 0] + FrameBuilder.be16(UInt16(ext.count + udp.count)) + [first, 64]
            f += [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
            f += [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2]
            f += ext
        }
        layout.transport = f.count
        f += udp
        layout.payload = layout.transport + 8
        return (f, layout)
    }
}
