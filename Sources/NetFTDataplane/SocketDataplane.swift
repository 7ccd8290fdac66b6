import CNetFTShims
import Glibc
import NetFTCore

/// The dataplane over ordinary UDP sockets: one socket per link, bound to the
/// link's address and device, batched with recvmmsg/sendmmsg. Used when
/// AF_XDP cannot attach, and as the benchmark's baseline.
///
/// Both ways in super-packets where the kernel can: runs of same-size frames
/// to one address leave as one UDP_SEGMENT send (the kernel's GSO cuts them,
/// on the NIC or at the last moment), and with UDP_GRO a receive may return a
/// run of same-size datagrams as one message, cut here into its frames.
public final class SocketDataplane: Dataplane {
    public let kind = DataplaneKind.udp
    public private(set) var links: [DataplaneLink]
    public let port: UInt16
    private var sockets: [Int32] = []
    /// Per socket: its last read came back short, so it waits for poll to say readable.
    private var drained: [Bool] = []
    private let batchSize = 64
    static let bufferSize = 2048
    /// Receive: fewer messages, each room for a GRO run of 64 KB.
    private let rxBatchSize = 32
    static let rxBufferSize = 65536
    private let rxBuffers: UnsafeMutableRawBufferPointer
    /// A control frame cut from a GRO run is answered here, not in the run.
    private let scratch: UnsafeMutableRawBufferPointer
    private let txBuffers: UnsafeMutableRawBufferPointer
    private let rx: OpaquePointer
    private let tx: OpaquePointer
    private var queuedLinks: [Int]
    private var queued = 0
    private var nextSocket = 0
    public private(set) var sendErrors: UInt64 = 0
    /// UDP_SEGMENT sends, until the kernel refuses one (then one datagram per frame).
    public private(set) var segmentOffload = true
    public private(set) var counters = Counters()

    public struct Counters: Sendable {
        /// Messages received, and the frames they held (more than one: UDP_GRO).
        public var receivedMessages: UInt64 = 0
        public var receivedFrames: UInt64 = 0
        /// Frames sent, and the datagrams or GSO runs that carried them (fewer: UDP_SEGMENT).
        public var sentFrames: UInt64 = 0
        public var sendCalls: UInt64 = 0
    }

    public var descriptors: [Int32] { sockets }

    public init(links: [DataplaneLink], port: UInt16) throws(SystemError) {
        self.links = links
        self.port = port
        rxBuffers = .allocate(byteCount: rxBatchSize * SocketDataplane.rxBufferSize, alignment: 64)
        txBuffers = .allocate(byteCount: batchSize * SocketDataplane.bufferSize, alignment: 64)
        scratch = .allocate(byteCount: SocketDataplane.bufferSize, alignment: 64)
        rx = netft_udp_batch_new(UInt32(rxBatchSize), rxBuffers.baseAddress, UInt32(SocketDataplane.rxBufferSize))
        tx = netft_udp_batch_new(UInt32(batchSize), txBuffers.baseAddress, UInt32(SocketDataplane.bufferSize))
        queuedLinks = Array(repeating: 0, count: batchSize)
        for link in links {
            do {
                sockets.append(try SocketDataplane.openSocket(link, port: port))
            } catch {
                for fd in sockets { Glibc.close(fd) }
                sockets.removeAll()
                throw error
            }
        }
        drained = Array(repeating: false, count: sockets.count)
    }

    public func addLink(_ link: DataplaneLink) throws {
        let fd = try SocketDataplane.openSocket(link, port: port)
        links.append(link)
        sockets.append(fd)
        drained.append(false)
    }

    /// Undoes the last `addLink` (an AF_XDP attach on it failed after).
    func removeLastLink() {
        guard let fd = sockets.popLast() else { return }
        Glibc.close(fd)
        links.removeLast()
        drained.removeLast()
        nextSocket = 0
    }

    public func readable(_ descriptor: Int32) {
        if let s = sockets.firstIndex(of: descriptor) { drained[s] = false }
    }

    deinit {
        for fd in sockets { Glibc.close(fd) }
        netft_udp_batch_free(rx)
        netft_udp_batch_free(tx)
        rxBuffers.deallocate()
        txBuffers.deallocate()
        scratch.deallocate()
    }

    static func openSocket(_ link: DataplaneLink, port: UInt16) throws(SystemError) -> Int32 {
        let v4 = link.address.isIPv4
        let fd = socket(v4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("open UDP socket for \(link.name)", errno: errno) }
        do {
            try SocketOption.reuseAddress.set(on: fd, "netft's UDP socket on \(link.name)")
            // Bound to the device: each route leaves by its own NIC, never by the routing table's choice.
            try SocketOption.bindToDevice(link.name).set(on: fd, "netft's UDP socket on \(link.name)")
            // Never fragment: the virtual adapter's MTU leaves room for netft's headers.
            try SocketOption.dontFragment(ipv4: v4).set(on: fd, "netft's UDP socket on \(link.name)")
            try SocketOption.receiveBuffer(4 << 20).set(on: fd, "netft's UDP socket on \(link.name)")
            try SocketOption.sendBuffer(4 << 20).set(on: fd, "netft's UDP socket on \(link.name)")
        } catch {
            close(fd)
            throw error
        }
        // Runs of datagrams as one message; without it a GSO run is cut on arrival.
        _ = netft_udp_enable_gro(fd)
        var storage = sockaddr_storage()
        let length = SocketAddress.write(Endpoint(link.address, port: port), to: &storage)
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        if result != 0 {
            let error = errno
            Glibc.close(fd)
            throw SystemError("bind UDP \(link.address):\(port) on \(link.name)", errno: error)
        }
        return fd
    }

    public func receive(limit: Int, _ body: (UnsafeMutableRawBufferPointer, Int, FramePath) -> ReceiveAction) -> Int {
        var handled = 0
        // Round-robin over the sockets so one busy link cannot starve another.
        for step in 0..<sockets.count where handled < limit {
            let s = (nextSocket + step) % sockets.count
            guard !drained[s] else { continue }
            let fd = sockets[s]
            let asked = min(rxBatchSize, limit - handled)
            let n = netft_udp_recv(fd, rx, UInt32(asked))
            if n < asked { drained[s] = true }
            guard n > 0 else { continue }
            for i in 0..<Int(n) {
                let slot = UnsafeMutableRawBufferPointer(rebasing: rxBuffers[(i * SocketDataplane.rxBufferSize)..<((i + 1) * SocketDataplane.rxBufferSize)])
                // The socket is bound to its link (SO_BINDTODEVICE): that is the local side.
                var addressLength: UInt32 = 0
                let source = SocketAddress.read(netft_udp_batch_addr(rx, UInt32(i), &addressLength), length: addressLength)
                let path = FramePath(local: links[s].address, remote: source)
                let length = Int(netft_udp_batch_len(rx, UInt32(i)))
                let segment = Int(netft_udp_batch_gso_size(rx, UInt32(i)))
                counters.receivedMessages &+= 1
                guard segment > 0 && segment < length else {
                    counters.receivedFrames &+= 1
                    if case .reply(let replyLength) = body(slot, length, path) { reply(slot, replyLength, link: s, to: path.remote) }
                    continue
                }
                // A GRO run: frames back to back, each `segment` bytes but the last.
                var offset = 0
                while offset < length {
                    let frameLength = min(segment, length - offset)
                    let frame = UnsafeMutableRawBufferPointer(rebasing: slot[offset..<(offset + frameLength)])
                    offset += frameLength
                    counters.receivedFrames &+= 1
                    // Data is handled in place; anything that may answer is
                    // moved out first, so a reply cannot overwrite the next frame.
                    if frameLength > 5 && frame[5] == FrameType.data.rawValue {
                        _ = body(frame, frameLength, path)
                    } else if frameLength <= scratch.count {
                        scratch.copyMemory(from: UnsafeRawBufferPointer(frame))
                        if case .reply(let replyLength) = body(scratch, frameLength, path) { reply(scratch, replyLength, link: s, to: path.remote) }
                    }
                }
            }
            handled += Int(n)
        }
        nextSocket = (nextSocket + 1) % max(1, sockets.count)
        // The replies to this batch's heartbeats leave together: one sendmmsg,
        // not a sendto each (at 4000 routes, 40% of the node's time was sendto).
        if queued > 0 { flush() }
        return handled
    }

    /// Queues a reply to where the frame came from, on the link it came by.
    private func reply(_ buffer: UnsafeMutableRawBufferPointer, _ length: Int, link: Int, to remote: Endpoint) {
        send { out in
            out.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
            return Outbound(link: link, remote: remote, length: length)
        }
    }

    public var largestFrame: Int { SocketDataplane.bufferSize }

    @discardableResult
    public func send(_ body: (UnsafeMutableRawBufferPointer) -> Outbound?) -> Bool {
        if queued == batchSize { flush() }
        let buffer = UnsafeMutableRawBufferPointer(rebasing: txBuffers[(queued * SocketDataplane.bufferSize)..<((queued + 1) * SocketDataplane.bufferSize)])
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
            let fd = sockets[queuedLinks[start]]
            var sent: Int32
            if segmentOffload {
                sent = netft_udp_send_gso(fd, tx, UInt32(start), UInt32(end - start))
                // A device or kernel without UDP GSO: one datagram per frame from now on.
                if sent == -EIO || sent == -EINVAL || sent == -EOPNOTSUPP {
                    segmentOffload = false
                    sent = netft_udp_send(fd, tx, UInt32(start), UInt32(end - start))
                }
            } else {
                sent = netft_udp_send(fd, tx, UInt32(start), UInt32(end - start))
            }
            if sent < end - start { sendErrors &+= UInt64(end - start - max(0, Int(sent))) }
            counters.sentFrames &+= UInt64(max(0, sent))
            counters.sendCalls &+= UInt64(segmentOffload ? netft_udp_batch_messages_sent(tx) : UInt32(max(0, sent)))
            start = end
        }
        queued = 0
    }
}

/// sockaddr_in / sockaddr_in6 from an Endpoint, without allocation.
enum SocketAddress {
    /// The endpoint in a received address (an unknown family reads as 0.0.0.0:0,
    /// which no route has).
    @inline(__always)
    static func read(_ address: UnsafePointer<sockaddr>?, length: UInt32) -> Endpoint {
        guard let address else { return Endpoint(.v4(0), port: 0) }
        switch Int32(address.pointee.sa_family) {
        case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                Endpoint(.v4(UInt32(bigEndian: $0.pointee.sin_addr.s_addr)), port: UInt16(bigEndian: $0.pointee.sin_port))
            }
        case AF_INET6 where length >= MemoryLayout<sockaddr_in6>.size:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                let port = UInt16(bigEndian: sin6.pointee.sin6_port)
                return withUnsafeBytes(of: sin6.pointee.sin6_addr) { bytes in
                    Endpoint(.v6(UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)), UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))), port: port)
                }
            }
        default:
            return Endpoint(.v4(0), port: 0)
        }
    }

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
