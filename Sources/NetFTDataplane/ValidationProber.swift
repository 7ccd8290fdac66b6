import Glibc
import NetFTCore

/// The socket side of `netft validate`: on each local cluster address it
/// sends probe requests (small ones for reachability and round-trip time,
/// full-size ones with DF set for the MTU) to the peers' addresses on the
/// same network, and answers the peers' probes, for a fixed time, so every
/// node's run sees the others' as long as they overlap.
public final class ValidationProber {
    public struct Link: Sendable {
        public var network: String
        public var address: IPAddress
        public var mtu: UInt32
        public var peers: [(name: String, address: IPAddress)]
        public init(network: String, address: IPAddress, mtu: UInt32, peers: [(name: String, address: IPAddress)]) {
            self.network = network
            self.address = address
            self.mtu = mtu
            self.peers = peers
        }
    }

    /// The port is taken: a netft daemon (or another validate run) holds it.
    public struct PortBusy: Error, CustomStringConvertible {
        public let address: String
        public var description: String { "udp \(address) is in use (a running netft daemon or another netft validate)" }
    }

    private let links: [Link]
    private let node: NodeID
    private let port: UInt16
    private var sockets: [Int32] = []

    public init(links: [Link], node: NodeID, port: UInt16) throws {
        self.links = links
        self.node = node
        self.port = port
        for link in links {
            let fd = socket(link.address.isIPv4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { throw SystemError("socket for \(link.address)", errno: errno) }
            sockets.append(fd)
            // DF on every probe: a full-size one that does not fit must be lost, not fragmented.
            try SocketOption.dontFragment(ipv4: link.address.isIPv4).set(on: fd, "the probe socket on \(link.address)")
            var storage = sockaddr_storage()
            let length = SocketAddress.write(Endpoint(link.address, port: port), to: &storage)
            let bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) } }
            if bound != 0 {
                if errno == EADDRINUSE { throw PortBusy(address: "\(link.address):\(port)") }
                throw SystemError("bind \(link.address):\(port)", errno: errno)
            }
        }
    }

    deinit { for fd in sockets { close(fd) } }

    /// Probes for `milliseconds`, answering the peers' probes all along. Runs
    /// started on every node "at once" still start apart (a slow start on a
    /// loaded host): probing goes on, up to twice as long, while a peer has
    /// not answered, and then the node keeps answering (sending nothing) for
    /// half the time more, so a run that started later still gets its
    /// probes answered.
    public func run(milliseconds: Int) -> [ValidationFacts.RouteProbe] {
        var probes: [[ValidationFacts.RouteProbe]] = links.map { link in
            link.peers.map { ValidationFacts.RouteProbe(network: link.network, peer: $0.name, local: link.address, remote: $0.address) }
        }
        var sentAt: [[UInt32: Bool]] = links.map { _ in [:] }  // per link: sequence -> full-size
        var sequence: UInt32 = 0
        let start = Self.now()
        var nextSend = start
        var tick = 0
        var fds = sockets.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        /// When probing stopped (from the start); answering goes on after it.
        var probingEnded: UInt64?
        let window = UInt64(milliseconds) * 1_000_000
        // A peer has not answered our probes yet (small or full-size): its run may not have started.
        func someoneSilent() -> Bool { probes.joined().contains { $0.replies == 0 || $0.fullReplies == 0 } }
        while true {
            let elapsed = Self.now() - start
            let probing = elapsed < window || (elapsed < 2 * window && someoneSilent())
            guard probing || elapsed < (probingEnded ?? elapsed) + window / 2 else { break }
            if !probing && probingEnded == nil { probingEnded = elapsed }
            if probing && Self.now() >= nextSend {
                // Every 100 ms a small probe to each peer; every fifth a full-size one too.
                for (l, link) in links.enumerated() {
                    for (p, peer) in link.peers.enumerated() {
                        for full in tick % 5 == 4 ? [false, true] : [false] {
                            sequence &+= 1
                            let size = full ? Int(link.mtu) - (link.address.isIPv4 ? 28 : 48) : ProbeFrame.headerSize
                            let frame = ProbeFrame(kind: .request, requester: node, sequence: sequence, requesterMTU: link.mtu, timestamp: Self.now())
                            if send(frame.encoded(size: size), on: l, to: peer.address) {
                                sentAt[l][sequence] = full
                                if full {
                                    probes[l][p].fullSent += 1
                                    probes[l][p].fullSize = size + (link.address.isIPv4 ? 28 : 48)
                                } else {
                                    probes[l][p].requestsSent += 1
                                }
                            }
                        }
                    }
                }
                tick += 1
                nextSend += 100_000_000
            }
            _ = poll(&fds, nfds_t(fds.count), 20)
            for (l, fd) in sockets.enumerated() {
                while true {
                    var from = sockaddr_storage()
                    var fromLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
                    let n = buffer.withUnsafeMutableBytes { b in
                        withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, 0, $0, &fromLength) } }
                    }
                    guard n > 0 else { break }
                    guard let source = Self.address(from), let frame = ProbeFrame(buffer.prefix(n)),
                        let p = links[l].peers.firstIndex(where: { $0.address == source })
                    else { continue }
                    switch frame.kind {
                    case .request:
                        probes[l][p].requestsHeard += 1
                        probes[l][p].remoteMTU = frame.requesterMTU
                        var answer = frame.reply(from: node, mtu: links[l].mtu).encoded(size: n)
                        if !send(answer, on: l, to: source) {
                            // Larger than this side's MTU allows: answer what fits, the requester sees the mismatch in responderMTU.
                            answer = frame.reply(from: node, mtu: links[l].mtu).encoded()
                            _ = send(answer, on: l, to: source)
                        }
                    case .reply:
                        guard frame.requester == node, let full = sentAt[l].removeValue(forKey: frame.sequence) else { continue }
                        probes[l][p].remoteMTU = frame.responderMTU
                        if full {
                            if n > ProbeFrame.headerSize { probes[l][p].fullReplies += 1 }
                        } else {
                            probes[l][p].replies += 1
                            probes[l][p].roundTripNanoseconds.append(Self.now() &- frame.timestamp)
                        }
                    }
                }
            }
        }
        return probes.flatMap { $0 }
    }

    private func send(_ bytes: [UInt8], on link: Int, to address: IPAddress) -> Bool {
        var storage = sockaddr_storage()
        let length = SocketAddress.write(Endpoint(address, port: port), to: &storage)
        let sent = bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sockets[link], b.baseAddress, b.count, 0, $0, length) } }
        }
        return sent == bytes.count
    }

    private static func address(_ storage: sockaddr_storage) -> IPAddress? {
        var s = storage
        return withUnsafeBytes(of: &s) { raw -> IPAddress? in
            switch Int32(storage.ss_family) {
            case AF_INET:
                let sin = raw.load(as: sockaddr_in.self)
                return .v4(UInt32(bigEndian: sin.sin_addr.s_addr))
            case AF_INET6:
                let sin6 = raw.load(as: sockaddr_in6.self)
                return withUnsafeBytes(of: sin6.sin6_addr) { IPAddress(bytes16: $0) }
            default:
                return nil
            }
        }
    }

    private static func now() -> UInt64 { MonotonicClock.nanoseconds }
}
