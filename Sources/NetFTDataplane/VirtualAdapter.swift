import CNetFTShims
import Glibc
import NetFTCore

/// The node's virtual adapter: a TUN device (no packet-info header) with the
/// node's APIPA IPv4 and link-local IPv6 addresses, set up through netlink.
/// The device exists while this object does: closing a non-persistent TUN
/// removes it.
public final class VirtualAdapter {
    public let name: String
    public let fileDescriptor: Int32
    public let index: Int32
    public let mtu: UInt32

    public init(name: String = "netft0", ipv4: IPAddress, ipv6: IPAddress, mtu: UInt32, netlink: Netlink) throws(SystemError) {
        var actual = [CChar](repeating: 0, count: 16)
        let fd = netft_tun_open(name, Int32(IFF_TUN | IFF_NO_PI), &actual)
        try check("open TUN device \(name)", fd)
        fileDescriptor = fd
        self.name = String(decoding: actual.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        index = Int32(if_nametoindex(self.name))
        self.mtu = mtu
        do {
            try netlink.setLink(index: index, mtu: mtu, name: self.name)
            try netlink.addAddress(ipv4, prefixLength: 16, index: index, name: self.name)
            try netlink.setLink(index: index, up: true, name: self.name)
            try netlink.addAddress(ipv6, prefixLength: 64, index: index, name: self.name)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fileDescriptor) }

    /// Reads one packet into `buffer`; 0 when none is waiting.
    @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = Glibc.read(fileDescriptor, buffer.baseAddress, buffer.count)
        return n > 0 ? n : 0
    }

    /// Writes one packet to the kernel. Returns false if the kernel refused it.
    @inline(__always)
    @discardableResult
    public func write(_ packet: UnsafeRawBufferPointer) -> Bool {
        Glibc.write(fileDescriptor, packet.baseAddress, packet.count) == packet.count
    }
}

private let IFF_TUN: Int32 = 0x0001
private let IFF_NO_PI: Int32 = 0x1000
