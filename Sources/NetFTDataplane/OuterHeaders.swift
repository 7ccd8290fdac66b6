import NetFTCore

/// Ethernet + IPv4/IPv6 + UDP in front of a netft frame, written and parsed
/// in place in a UMEM frame. AF_XDP bypasses the kernel's stack, so these
/// are ours to build, checksums included.
public enum OuterHeaders {
    static let ethernet = 14
    static let udp = 8
    /// Room reserved in front of the netft frame: the largest outer header (IPv6).
    static let headroom = ethernet + 40 + udp

    static func size(ipv4: Bool) -> Int { ethernet + ipAndUDP(ipv4: ipv4) }

    /// What a link's MTU loses to the tunnel's outer IP and UDP headers.
    public static func ipAndUDP(ipv4: Bool) -> Int { (ipv4 ? 20 : 40) + udp }

    /// Where the IP header and the netft frame start in a received frame.
    struct Parsed {
        var ip: Int
        var ipv4: Bool
        var payload: Int
        /// Replies are turned around in place only for plain headers (no VLAN, no IPv4 options).
        var plain: Bool { ip == ethernet && (!ipv4 || payload == ethernet + 20 + udp) }
    }

    /// The outer source address and UDP port of a parsed frame.
    @inline(__always)
    static func source(_ f: UnsafeRawBufferPointer, _ parsed: Parsed) -> Endpoint {
        let port = f.loadBE16(parsed.payload - udp)
        if parsed.ipv4 { return Endpoint(.v4(f.loadBE32(parsed.ip + 12)), port: port) }
        return Endpoint(.v6(f.loadBE64(parsed.ip + 8), f.loadBE64(parsed.ip + 16)), port: port)
    }

    /// Parses a received frame, or nil if it is not UDP over IPv4/IPv6 (at
    /// most two VLAN tags) that this parser follows.
    @inline(__always)
    static func parse(_ f: UnsafeRawBufferPointer) -> Parsed? {
        guard f.count >= ethernet + 20 + udp else { return nil }
        var at = 12
        var type = f.loadBE16(at)
        var tags = 0
        while (type == 0x8100 || type == 0x88A8) && tags < 2 {
            at += 4
            guard f.count >= at + 2 else { return nil }
            type = f.loadBE16(at)
            tags += 1
        }
        at += 2
        switch type {
        case 0x0800:
            guard f.count >= at + 20, f[at + 9] == 17 else { return nil }
            let ihl = Int(f[at] & 0x0F) * 4
            guard ihl >= 20, f.count >= at + ihl + udp else { return nil }
            return Parsed(ip: at, ipv4: true, payload: at + ihl + udp)
        case 0x86DD:
            guard f.count >= at + 40 + udp, f[at + 6] == 17 else { return nil }
            return Parsed(ip: at, ipv4: false, payload: at + 40 + udp)
        default:
            return nil
        }
    }

    /// Writes Ethernet/IP/UDP so that they end exactly at `payloadStart` in `f`.
    /// Returns where the outer frame starts.
    @inline(__always)
    static func write(
        into f: UnsafeMutableRawBufferPointer, payloadStart: Int, payloadLength: Int,
        sourceMAC: UInt64, destinationMAC: UInt64, source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16
    ) -> Int {
        let ipv4 = source.isIPv4
        let start = payloadStart - size(ipv4: ipv4)
        storeMAC(destinationMAC, f, start)
        storeMAC(sourceMAC, f, start + 6)
        f.storeBE16(ipv4 ? 0x0800 : 0x86DD, at: start + 12)
        let ip = start + ethernet
        let udpAt: Int
        let udpLength = UInt16(udp + payloadLength)
        switch (source, destination) {
        case (.v4(let s), .v4(let d)):
            f[ip] = 0x45
            f[ip + 1] = 0
            f.storeBE16(UInt16(20) + udpLength, at: ip + 2)
            f.storeBE16(0, at: ip + 4)
            f.storeBE16(0x4000, at: ip + 6)  // DF
            f[ip + 8] = 64
            f[ip + 9] = 17
            f.storeBE16(0, at: ip + 10)
            f.storeBE32(s, at: ip + 12)
            f.storeBE32(d, at: ip + 16)
            f.storeBE16(ipv4HeaderChecksum(UnsafeRawBufferPointer(rebasing: f[ip..<(ip + 20)])), at: ip + 10)
            udpAt = ip + 20
        default:
            f.storeBE32(0x6000_0000, at: ip)
            f.storeBE16(udpLength, at: ip + 4)
            f[ip + 6] = 17
            f[ip + 7] = 64
            storeIPv6(source, f, ip + 8)
            storeIPv6(destination, f, ip + 24)
            udpAt = ip + 40
        }
        f.storeBE16(sourcePort, at: udpAt)
        f.storeBE16(destinationPort, at: udpAt + 2)
        f.storeBE16(udpLength, at: udpAt + 4)
        f.storeBE16(0, at: udpAt + 6)
        if !ipv4 {  // IPv6 forbids a zero UDP checksum
            f.storeBE16(udpChecksumIPv6(f, ip: ip, udp: udpAt, length: Int(udpLength)), at: udpAt + 6)
        }
        return start
    }

    /// Turns a received frame (plain headers) around in place for a reply of
    /// `payloadLength` bytes at `payloadStart`: addresses and ports swapped,
    /// lengths and checksums redone.
    @inline(__always)
    static func turnAround(_ f: UnsafeMutableRawBufferPointer, payloadStart: Int, payloadLength: Int) {
        for i in 0..<6 { f.swapAt(i, 6 + i) }
        let udpAt = payloadStart - udp
        let sport = f.loadBE16(udpAt)
        f.storeBE16(f.loadBE16(udpAt + 2), at: udpAt)
        f.storeBE16(sport, at: udpAt + 2)
        let udpLength = UInt16(udp + payloadLength)
        f.storeBE16(udpLength, at: udpAt + 4)
        f.storeBE16(0, at: udpAt + 6)
        if f.loadBE16(12) == 0x0800 {
            let ip = udpAt - 20
            for i in 0..<4 { f.swapAt(ip + 12 + i, ip + 16 + i) }
            f.storeBE16(UInt16(20) + udpLength, at: ip + 2)
            f[ip + 8] = 64
            f.storeBE16(0, at: ip + 10)
            f.storeBE16(ipv4HeaderChecksum(UnsafeRawBufferPointer(rebasing: f[ip..<(ip + 20)])), at: ip + 10)
        } else {
            let ip = udpAt - 40
            for i in 0..<16 { f.swapAt(ip + 8 + i, ip + 24 + i) }
            f.storeBE16(udpLength, at: ip + 4)
            f[ip + 7] = 64
            f.storeBE16(udpChecksumIPv6(f, ip: ip, udp: udpAt, length: Int(udpLength)), at: udpAt + 6)
        }
    }

    @inline(__always)
    static func ipv4HeaderChecksum(_ h: UnsafeRawBufferPointer) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i < h.count {
            sum &+= UInt32(h.loadBE16(i))
            i += 2
        }
        return fold(sum)
    }

    /// The UDP checksum over the IPv6 pseudo-header and the datagram, 8 bytes at a time.
    static func udpChecksumIPv6(_ f: UnsafeMutableRawBufferPointer, ip: Int, udp: Int, length: Int) -> UInt16 {
        var sum: UInt64 = 0
        let raw = UnsafeRawBufferPointer(f)
        sum &+= sum64(raw, from: ip + 8, count: 32)  // source + destination
        sum &+= UInt64(length) &+ 17
        sum &+= sum64(raw, from: udp, count: length)
        var folded = (sum & 0xFFFF_FFFF) &+ (sum >> 32)
        folded = (folded & 0xFFFF_FFFF) &+ (folded >> 32)
        let result = fold(UInt32(folded & 0xFFFF_FFFF) &+ UInt32(folded >> 32))
        return result == 0 ? 0xFFFF : result
    }

    /// One's-complement sum of big-endian 16-bit words, as a 64-bit accumulator.
    @inline(__always)
    static func sum64(_ f: UnsafeRawBufferPointer, from: Int, count: Int) -> UInt64 {
        var sum: UInt64 = 0
        var i = from
        let end = from + count
        while i + 8 <= end {
            let w = UInt64(bigEndian: f.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            sum &+= (w >> 48) &+ ((w >> 32) & 0xFFFF) &+ ((w >> 16) & 0xFFFF) &+ (w & 0xFFFF)
            i += 8
        }
        while i + 2 <= end {
            sum &+= UInt64(f.loadBE16(i))
            i += 2
        }
        if i < end { sum &+= UInt64(f[i]) << 8 }
        return sum
    }

    @inline(__always)
    static func fold(_ s: UInt32) -> UInt16 {
        var sum = s
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) &+ (sum >> 16) }
        return ~UInt16(sum)
    }

    @inline(__always)
    static func storeMAC(_ mac: UInt64, _ f: UnsafeMutableRawBufferPointer, _ at: Int) {
        for i in 0..<6 { f[at + i] = UInt8(truncatingIfNeeded: mac >> UInt64(40 - 8 * i)) }
    }

    static func mac(_ bytes: [UInt8]) -> UInt64 { bytes.prefix(6).reduce(0) { $0 << 8 | UInt64($1) } }

    @inline(__always)
    static func storeIPv6(_ a: IPAddress, _ f: UnsafeMutableRawBufferPointer, _ at: Int) {
        if case .v6(let hi, let lo) = a {
            f.storeBytes(of: hi.bigEndian, toByteOffset: at, as: UInt64.self)
            f.storeBytes(of: lo.bigEndian, toByteOffset: at + 8, as: UInt64.self)
        }
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always) func loadBE16(_ at: Int) -> UInt16 { UInt16(bigEndian: loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    @inline(__always) func storeBE16(_ v: UInt16, at: Int) { storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt16.self) }
    @inline(__always) func storeBE32(_ v: UInt32, at: Int) { storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt32.self) }
}
