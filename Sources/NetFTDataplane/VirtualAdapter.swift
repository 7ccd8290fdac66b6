import CNetFTShims
import Glibc
import NetFTCore

/// The node's virtual adapter: a TUN device with the node's APIPA IPv4 and
/// link-local IPv6 addresses, set up through netlink. The device exists while
/// this object does: closing a non-persistent TUN removes it.
///
/// Every packet either way is led by a virtio-net header (IFF_VNET_HDR), and
/// the kernel is offered checksum, TSO and USO offloads (TUNSETOFFLOAD): a
/// read may return a 64 KB super-packet that the datapath segments, and a
/// write may carry a coalesced one. The offloads the kernel took are in `offloads`.
public final class VirtualAdapter: PacketAdapter {
    public let name: String
    public let fileDescriptor: Int32
    public let index: Int32
    public let mtu: UInt32
    /// What the kernel accepted, as TUN_F_* flags (0: plain packets, still with a header).
    public let offloadFlags: UInt32
    /// The largest read: a virtio-net header and a 64 KB super-packet.
    public static let largestRead = largestAdapterRead
    private let headerBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: VirtioNetHeader.size, alignment: 8)

    /// Offloads offered, most first: USO needs Linux 6.2.
    static let offloadChoices: [UInt32] = [
        TUNF.csum | TUNF.tso4 | TUNF.tso6 | TUNF.tsoECN | TUNF.uso4 | TUNF.uso6,
        TUNF.csum | TUNF.tso4 | TUNF.tso6 | TUNF.tsoECN,
        0,
    ]

    public init(name: String = "netft0", ipv4: IPAddress, ipv6: IPAddress, mtu: UInt32, netlink: Netlink) throws(SystemError) {
        var actual = [CChar](repeating: 0, count: 16)
        let fd = netft_tun_open(name, Int32(IFF_TUN | IFF_NO_PI | IFF_VNET_HDR), &actual)
        try check("open TUN device \(name)", fd)
        fileDescriptor = fd
        offloadFlags = VirtualAdapter.offloadChoices.first { netft_tun_set_offload(fd, $0) == 0 } ?? 0
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

    deinit {
        close(fileDescriptor)
        headerBytes.deallocate()
    }

    /// The offloads in words, for the log and `netft status`.
    public var offloads: [String] {
        [(TUNF.csum, "csum"), (TUNF.tso4, "tso4"), (TUNF.tso6, "tso6"), (TUNF.uso4, "uso4"), (TUNF.uso6, "uso6")]
            .filter { offloadFlags & $0.0 != 0 }.map(\.1)
    }

    /// Reads one virtio-net header and packet into `buffer` (give it
    /// `largestRead` bytes); 0 when none is waiting.
    @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = Glibc.read(fileDescriptor, buffer.baseAddress, buffer.count)
        return n > 0 ? n : 0
    }

    /// Writes one packet, led by `header`, to the kernel (one writev: the
    /// packet is not copied). Returns false if the kernel refused it.
    @inline(__always)
    @discardableResult
    public func write(_ header: VirtioNetHeader, _ packet: UnsafeRawBufferPointer) -> Bool {
        header.write(to: headerBytes)
        var parts = (
            iovec(iov_base: headerBytes.baseAddress, iov_len: VirtioNetHeader.size),
            iovec(iov_base: UnsafeMutableRawPointer(mutating: packet.baseAddress), iov_len: packet.count)
        )
        let written = withUnsafePointer(to: &parts) { $0.withMemoryRebound(to: iovec.self, capacity: 2) { writev(fileDescriptor, $0, 2) } }
        return written == VirtioNetHeader.size + packet.count
    }
}

/// TUN_F_* (linux/if_tun.h; the USO bits are newer than some distributions' headers).
enum TUNF {
    static let csum: UInt32 = 0x01
    static let tso4: UInt32 = 0x02
    static let tso6: UInt32 = 0x04
    static let tsoECN: UInt32 = 0x08
    static let uso4: UInt32 = 0x20
    static let uso6: UInt32 = 0x40
}

private let IFF_TUN: Int32 = 0x0001
private let IFF_NO_PI: Int32 = 0x1000
private let IFF_VNET_HDR: Int32 = 0x4000
