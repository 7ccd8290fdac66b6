/// Where the IP and transport headers of an inner packet are, for the
/// packets netft segments and coalesces: IPv4 (any options, not a fragment)
/// or IPv6 without extension headers, carrying TCP or UDP.
public struct TransportLayout: Equatable, Sendable {
    public enum Transport: UInt8, Sendable {
        case tcp = 6
        case udp = 17
    }

    public var ipv6: Bool
    public var transport: Transport
    /// Bytes of IP header (where the transport header starts).
    public var ipHeaderLength: Int
    /// Bytes of transport header (TCP with options, or 8 for UDP).
    public var transportHeaderLength: Int
    /// The packet's length as its IP header says.
    public var totalLength: Int

    /// IP plus transport header: what every segment repeats.
    public var headerLength: Int { ipHeaderLength + transportHeaderLength }
    public var payloadLength: Int { totalLength - headerLength }

    /// The layout of `packet`, or nil when it is none of the above or its
    /// lengths do not fit the bytes. A super-packet from a TUN read may say 0
    /// or less than its size in the IP length field: `lengthFromBuffer` takes the buffer's.
    @inline(__always)
    public init?(_ packet: UnsafeRawBufferPointer, lengthFromBuffer: Bool = false) {
        guard packet.count >= 20 else { return nil }
        switch packet[0] >> 4 {
        case 4:
            ipv6 = false
            ipHeaderLength = Int(packet[0] & 0x0f) * 4
            guard ipHeaderLength >= 20, packet.count >= ipHeaderLength else { return nil }
            // More-fragments or an offset: only the first fragment has a transport header.
            guard packet.bigEndian16(6) & 0x3fff == 0 else { return nil }
            guard let t = Transport(rawValue: packet[9]) else { return nil }
            transport = t
            totalLength = lengthFromBuffer ? packet.count : Int(packet.bigEndian16(2))
        case 6:
            ipv6 = true
            ipHeaderLength = 40
            guard packet.count >= 40, let t = Transport(rawValue: packet[6]) else { return nil }
            transport = t
            totalLength = lengthFromBuffer ? packet.count : 40 + Int(packet.bigEndian16(4))
        default:
            return nil
        }
        guard totalLength <= packet.count, totalLength >= ipHeaderLength + 8 else { return nil }
        switch transport {
        case .tcp:
            guard totalLength >= ipHeaderLength + 20 else { return nil }
            transportHeaderLength = Int(packet[ipHeaderLength + 12] >> 4) * 4
            guard transportHeaderLength >= 20, ipHeaderLength + transportHeaderLength <= totalLength else { return nil }
        case .udp:
            transportHeaderLength = 8
        }
    }

    /// Writes the IP length field for a packet of `total` bytes (and the IPv4 header checksum).
    @inline(__always)
    func setIPLength(_ total: Int, in packet: UnsafeMutableRawBufferPointer) {
        if ipv6 {
            packet.storeBigEndian(UInt16(total - 40), at: 4)
        } else {
            packet.storeBigEndian(UInt16(total), at: 2)
            packet.storeChecksum(0, at: 10)
            let sum = InternetChecksum.add(UnsafeRawBufferPointer(rebasing: packet[0..<ipHeaderLength]))
            packet.storeChecksum(InternetChecksum.finish(sum), at: 10)
        }
    }

    /// Where the transport checksum is, from the transport header's start.
    var checksumOffset: Int { transport == .tcp ? 16 : 6 }

    /// Computes and stores the full transport checksum of the `total`-byte packet.
    @inline(__always)
    func storeTransportChecksum(in packet: UnsafeMutableRawBufferPointer, total: Int) {
        let l4 = total - ipHeaderLength
        packet.storeChecksum(0, at: ipHeaderLength + checksumOffset)
        var sum = InternetChecksum.pseudoHeader(UnsafeRawBufferPointer(packet), ipv6: ipv6, protocol: transport.rawValue, length: l4)
        sum = InternetChecksum.add(UnsafeRawBufferPointer(rebasing: packet[ipHeaderLength..<total]), to: sum)
        var value = InternetChecksum.finish(sum)
        // UDP sends 0 as "no checksum": a computed 0 goes out as all ones.
        if transport == .udp && value == 0 { value = 0xffff }
        packet.storeChecksum(value, at: ipHeaderLength + checksumOffset)
    }

    /// Stores the pseudo-header sum a CHECKSUM_PARTIAL packet carries (the kernel adds the rest).
    @inline(__always)
    func storePartialChecksum(in packet: UnsafeMutableRawBufferPointer, total: Int) {
        let sum = InternetChecksum.pseudoHeader(UnsafeRawBufferPointer(packet), ipv6: ipv6, protocol: transport.rawValue, length: total - ipHeaderLength)
        packet.storeChecksum(InternetChecksum.fold(sum), at: ipHeaderLength + checksumOffset)
    }
}

/// TCP header flag bits (byte 13).
enum TCPFlags {
    static let fin: UInt8 = 0x01
    static let syn: UInt8 = 0x02
    static let rst: UInt8 = 0x04
    static let psh: UInt8 = 0x08
    static let ack: UInt8 = 0x10
    static let urg: UInt8 = 0x20
    static let ece: UInt8 = 0x40
    static let cwr: UInt8 = 0x80
}
