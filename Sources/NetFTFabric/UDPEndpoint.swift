import Glibc
import NetFTDataplane

/// A plain kernel UDP socket, for sending test traffic and receiving what the
/// classifier passes to the kernel.
public final class UDPEndpoint {
    public let fd: Int32

    /// Opens an IPv4 UDP socket bound to `port` (0 = ephemeral) on `local`
    /// (nil: any address; an address of the namespace sends from it).
    public init(port: UInt16 = 0, local: String? = nil) throws(SystemError) {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("open UDP socket", errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        if let local, inet_pton(AF_INET, local, &address.sin_addr) != 1 {
            close(fd)
            throw SystemError("parse address \(local)", errno: EINVAL)
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            let error = errno
            close(fd)
            throw SystemError("bind UDP \(local ?? "*"):\(port)", errno: error)
        }
    }

    deinit { close(fd) }

    /// Room for `bytes` of datagrams waiting to be read, past rmem_max: a test
    /// receiver must not lose a failover's burst of resent frames itself.
    public func receiveBuffer(bytes: Int32) throws(SystemError) {
        try SocketOption.receiveBufferForce(bytes).set(on: fd, "a test receiver")
    }

    /// Datagrams the kernel dropped at this socket (its buffer full): the instrument's loss.
    public var dropped: UInt32 { SocketOption.drops(on: fd) ?? 0 }

    public func send(_ payload: [UInt8], to host: String, port: UInt16) throws(SystemError) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw SystemError("parse address \(host)", errno: EINVAL) }
        let sent = payload.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent == payload.count else { throw SystemError("send UDP to \(host):\(port)", errno: errno) }
    }

    /// Receives one datagram, waiting at most `timeoutMilliseconds`; nil on timeout.
    public func receive(timeoutMilliseconds: Int32) -> [UInt8]? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeoutMilliseconds) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return count >= 0 ? Array(buffer[0..<count]) : nil
    }
}
