import CNetFTShims
import Glibc
import NetFTCore

/// The dataplane over ordinary UDP sockets: one socket per link, bound to the
/// link's address and device, batched with recvmmsg/sendmmsg. Used when
/// AF_XDP cannot attach, and as the benchmark's baseline.
public final class UDPPort: DataplanePort {
    public let kind = DataplaneKind.udp
    public let links: [DataplaneLink]
    public let port: UInt16
    private var sockets: [Int32] = []
    private let batchSize = 64
    static let bufferSize = 2048
    private let rxBuffers: UnsafeMutableRawBufferPointer
    private let txBuffers: UnsafeMutableRawBufferPointer
    private let rx: OpaquePointer
    private let tx: OpaquePointer
    private var queuedLinks: [Int]
    private var queued = 0
    private var nextSocket = 0
    public private(set) var sendErrors: UInt64 = 0

    public var descriptors: [Int32] { sockets }

    public init(links: [DataplaneLink], port: UInt16) throws(SystemError) {
        self.links = links
        self.port = port
        rxBuffers = .allocate(byteCount: batchSize * UDPPort.bufferSize, alignment: 64)
        txBuffers = .allocate(byteCount: batchSize * UDPPort.bufferSize, alignment: 64)
        rx = netft_udp_batch_new(UInt32(batchSize), rxBuffers.baseAddress, UInt32(UDPPort.bufferSize))
        tx = netft_udp_batch_new(UInt32(batchSize), txBuffers.baseAddress, UInt32(UDPPort.bufferSize))
        queuedLinks = Array(repeating: 0, count: batchSize)
        for link in links {
            do {
                sockets.append(try UDPPort.openSocket(link, port: port))
            } catch {
                for fd in sockets { Glibc.close(fd) }
                sockets.removeAll()
                throw error
            }
        }
    }

    deinit {
        for fd in sockets { Glibc.close(fd) }
        netft_udp_batch_free(rx)
        netft_udp_batch_free(tx)
        rxBuffers.deallocate()
        txBuffers.deallocate()
    }

    static func openSocket(_ link: DataplaneLink, port: UInt16) throws(SystemError) -> Int32 {
        let v4 = link.address.isIPv4
        let fd = socket(v4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("open UDP socket for \(link.name)", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        // Bound to the device: each route leaves by its own NIC, never by the routing table's choice.
        let bound = link.name.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(link.name.utf8.count)) }
        // Never fragment: the virtual adapter's MTU leaves room for netft's headers.
        var pmtu: Int32 = 2  // IP_PMTUDISC_DO
        setsockopt(fd, v4 ? Int32(IPPROTO_IP) : Int32(IPPROTO_IPV6), v4 ? 10 : 23, &pmtu, socklen_t(MemoryLayout<Int32>.size))
        var buffer: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, socklen_t(MemoryLayout<Int32>.size))
        var storage = sockaddr_storage()
        let length = SocketAddress.write(Endpoint(link.address, port: port), to: &storage)
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        if bound != 0 || result != 0 {
            let error = errno
            Glibc.close(fd)
            throw SystemError("bind UDP \(link.address):\(port) on \(link.name)", errno: error)
        }
        return fd
    }

    public func receive(limit: Int, _ body: (UnsafeMutableRawBufferPointer, Int) -> ReceiveAction) -> Int {
        var handled = 0
        // Round-robin over the sockets so one busy link cannot starve another.
        for step in 0..<sockets.count where handled < limit {
            let s = (nextSocket + step) % sockets.count
            let fd = sockets[s]
            let n = netft_udp_recv(fd, rx, UInt32(min(batchSize, limit - handled)))
            guard n > 0 else { continue }
            for i in 0..<Int(n) {
                let buffer = UnsafeMutableRawBufferPointer(rebasing: rxBuffers[(i * UDPPort.bufferSize)..<((i + 1) * UDPPort.bufferSize)])
                let length = Int(netft_udp_batch_len(rx, UInt32(i)))
                if case .reply(let replyLength) = body(buffer, length) {
                    var addressLength: UInt32 = 0
                    let from = netft_udp_batch_addr(rx, UInt32(i), &addressLength)
                    if sendto(fd, buffer.baseAddress, replyLength, Int32(MSG_DONTWAIT), from, addressLength) < 0 { sendErrors &+= 1 }
                }
            }
            handled += Int(n)
        }
        nextSocket = (nextSocket + 1) % max(1, sockets.count)
        return handled
    }

    public var largestFrame: Int { UDPPort.bufferSize }

    @discardableResult
    public func send(_ body: (UnsafeMutableRawBufferPointer) -> Outbound?) -> Bool {
        if queued == batchSize { flush() }
        let buffer = UnsafeMutableRawBufferPointer(rebasing: txBuffers[(queued * UDPPort.bufferSize)..<((queued + 1) * UDPPort.bufferSize)])
        guard let out = body(buffer) else { return true }
        var storage = sockaddr_storage()
        let length = SocketAddress.write(out.remote, to: &storage)
        withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                netft_udp_batch_set(tx, UInt32(queued), UInt32(out.length), $0, length)
            }
        }
        queuedLinks[queued] = out.link
        queued += 1
        return true
    }

    public func flush() {
        var start = 0
        while start < queued {
            var end = start + 1
            while end < queued && queuedLinks[end] == queuedLinks[start] { end += 1 }
            let sent = netft_udp_send(sockets[queuedLinks[start]], tx, UInt32(start), UInt32(end - start))
            if sent < end - start { sendErrors &+= UInt64(end - start - max(0, Int(sent))) }
            start = end
        }
        queued = 0
    }
}

/// sockaddr_in / sockaddr_in6 from an Endpoint, without allocation.
enum SocketAddress {
    @inline(__always)
    static func write(_ endpoint: Endpoint, to storage: inout sockaddr_storage) -> socklen_t {
        withUnsafeMutablePointer(to: &storage) { raw in
            switch endpoint.address {
            case .v4(let a):
                return raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    sin.pointee = sockaddr_in()
                    sin.pointee.sin_family = sa_family_t(AF_INET)
                    sin.pointee.sin_port = endpoint.port.bigEndian
                    sin.pointee.sin_addr.s_addr = a.bigEndian
                    return socklen_t(MemoryLayout<sockaddr_in>.size)
                }
            case .v6(let hi, let lo):
                return raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    sin6.pointee = sockaddr_in6()
                    sin6.pointee.sin6_family = sa_family_t(AF_INET6)
                    sin6.pointee.sin6_port = endpoint.port.bigEndian
                    withUnsafeMutableBytes(of: &sin6.pointee.sin6_addr) { bytes in
                        bytes.storeBytes(of: hi.bigEndian, toByteOffset: 0, as: UInt64.self)
                        bytes.storeBytes(of: lo.bigEndian, toByteOffset: 8, as: UInt64.self)
                    }
                    return socklen_t(MemoryLayout<sockaddr_in6>.size)
                }
            }
        }
    }
}
