import Glibc
import NetFTCore
import NetFTDataplane

/// A virtual adapter made of a socket pair: the datapath reads and writes
/// one end as it would a TUN device (a virtio-net header before each
/// packet), the test the other, as the node's applications would.
public final class MemoryAdapter: PacketAdapter, @unchecked Sendable {
    public let name: String
    public let fileDescriptor: Int32
    public let mtu: UInt32
    public let offloads: [String] = []
    /// The applications' end.
    private let outside: Int32

    public init(name: String = "mem-netft0", mtu: UInt32 = 1400) throws(SystemError) {
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SystemError("create a socket pair for a memory adapter", errno: errno)
        }
        self.name = name
        self.mtu = mtu
        fileDescriptor = pair[0]
        outside = pair[1]
        // Room for a burst without a reader: what a TUN queue would hold.
        for fd in pair { try? SocketOption.sendBuffer(4 << 20).set(on: fd) }
    }

    deinit {
        close(fileDescriptor)
        close(outside)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = recv(fileDescriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
        return n > 0 ? n : 0
    }

    @discardableResult
    public func write(_ header: VirtioNetHeader, _ packet: UnsafeRawBufferPointer) -> Bool {
        var bytes = [UInt8](repeating: 0, count: VirtioNetHeader.size + packet.count)
        bytes.withUnsafeMutableBytes { b in
            header.write(to: UnsafeMutableRawBufferPointer(rebasing: b[0..<VirtioNetHeader.size]))
            UnsafeMutableRawBufferPointer(rebasing: b[VirtioNetHeader.size...]).copyMemory(from: packet)
        }
        return send(fileDescriptor, bytes, bytes.count, Int32(MSG_DONTWAIT)) == bytes.count
    }

    /// An application sends `packet` (an IP packet) into the adapter.
    public func inject(_ packet: [UInt8]) -> Bool {
        let bytes = [UInt8](repeating: 0, count: VirtioNetHeader.size) + packet
        return send(outside, bytes, bytes.count, Int32(MSG_DONTWAIT)) == bytes.count
    }

    /// The next packet the node delivered to its applications, waiting at most `milliseconds`.
    public func receive(milliseconds: Int32) -> [UInt8]? {
        var pfd = pollfd(fd: outside, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, milliseconds) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: largestAdapterRead)
        let n = recv(outside, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        guard n > VirtioNetHeader.size else { return nil }
        return Array(buffer[VirtioNetHeader.size..<n])
    }
}
