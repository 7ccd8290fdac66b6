import CNetFTShims
import Glibc
import NetFTCore

/// The fast dataplane: the XDP classifier on every link steers netft frames
/// data frames into an AF_XDP socket per link, all sharing one UMEM. Frames are parsed,
/// answered and sent in place in UMEM frames; packets from the virtual
/// adapter are read straight into a UMEM frame behind room for the outer
/// headers. Heartbeats and hellos, and frames the classifier leaves to the
/// kernel (another RX queue, a fragment), arrive through the UDP sockets kept
/// open beside, which also carry the rare frame whose next-hop MAC is unknown.
public final class XDPPort: DataplanePort {
    public let kind = DataplaneKind.xdp
    public let links: [DataplaneLink]
    let port: UInt16
    let pool: UMEMPool
    let kernel: UDPPort
    private var classifiers: [XDPClassifier] = []
    private var sockets: [OpaquePointer] = []
    private var sourceMACs: [UInt64] = []
    private var pendingTX: [UInt32]
    /// Next-hop MAC by remote address, from the kernel's neighbour table.
    private var neighbours: [IPAddress: UInt64] = [:]
    private var neighboursRefreshedAt: UInt64 = 0
    private let netlink: Netlink
    public let bindMode: AFXDPSocket.BindMode
    private let fillTarget: UInt32
    public private(set) var counters = Counters()

    public struct Counters: Sendable {
        public var rx: UInt64 = 0
        public var tx: UInt64 = 0
        public var unparsed: UInt64 = 0
        public var viaKernel: UInt64 = 0
        public var txFull: UInt64 = 0
        public var noFrame: UInt64 = 0
    }

    public var descriptors: [Int32] { sockets.map { netft_xsk_fd($0) } + kernel.descriptors }

    public init(links: [DataplaneLink], port: UInt16, pinRoot: String = XDPClassifier.defaultPinRoot, ringSize: UInt32 = 2048) throws {
        self.links = links
        self.port = port
        netlink = try Netlink()
        pool = try UMEMPool(ringSize: ringSize)
        kernel = try UDPPort(links: links, port: port)
        pendingTX = Array(repeating: 0, count: links.count)
        fillTarget = ringSize
        var mode = AFXDPSocket.BindMode.copy
        do {
            let known = try netlink.links()
            for link in links {
                let classifier = try XDPClassifier(port: port)
                try classifier.attach(interface: link.name, mode: .native, pinRoot: pinRoot)
                classifiers.append(classifier)
                var handle: OpaquePointer?
                // Zero-copy where the driver can; veth refuses it (EOPNOTSUPP), so copy mode.
                var options = netft_xsk_options(queue: 0, frame_size: UInt32(pool.frameSize), frame_count: UInt32(pool.frameCount), ring_size: ringSize,
                                                bind_flags: UInt16(XDP_ZEROCOPY) | UInt16(XDP_USE_NEED_WAKEUP))
                var result = netft_xsk_create_shared(link.name, pool.handle, pool.area, &options, &handle)
                if result != 0 {
                    options.bind_flags = UInt16(XDP_COPY) | UInt16(XDP_USE_NEED_WAKEUP)
                    result = netft_xsk_create_shared(link.name, pool.handle, pool.area, &options, &handle)
                } else {
                    mode = .zeroCopy
                }
                try check("bind AF_XDP socket on \(link.name) queue 0", result)
                sockets.append(handle!)
                try classifier.register(socketFD: netft_xsk_fd(handle!), queue: 0)
                sourceMACs.append(OuterHeaders.mac(known.first { $0.index == link.index }?.mac ?? []))
            }
        } catch {
            for s in sockets { netft_xsk_destroy(s) }
            sockets.removeAll()
            for c in classifiers { try? c.detach() }
            throw error
        }
        bindMode = mode
        for s in sockets { refill(s) }
        refreshNeighbours(force: true)
    }

    deinit {
        for s in sockets { netft_xsk_destroy(s) }
        for c in classifiers { try? c.detach() }
    }

    /// The kernel's per-socket drop counters, per link: (rx dropped, rx ring full, fill ring empty, tx invalid).
    public func socketStatistics() -> [(dropped: UInt64, rxFull: UInt64, fillEmpty: UInt64, txInvalid: UInt64)] {
        sockets.map { s in
            var st = xdp_statistics()
            _ = netft_xsk_statistics(s, &st)
            return (st.rx_dropped, st.rx_ring_full, st.rx_fill_ring_empty_descs, st.tx_invalid_descs)
        }
    }

    /// The classifiers' counters, per link.
    public func classifierStats() -> [ClassifierStats] { classifiers.compactMap { try? $0.stats() } }

    private func refill(_ socket: OpaquePointer) {
        var index: UInt32 = 0
        let want = min(fillTarget, UInt32(pool.freeCount / max(1, sockets.count)))
        let got = netft_xsk_fill_reserve(socket, want, &index)
        var filled: UInt32 = 0
        while filled < got, let address = pool.take() {
            netft_xsk_fill_set(socket, index &+ filled, address)
            filled += 1
        }
        // A reservation is all or nothing: fill the rest from the pool or give back none.
        netft_xsk_fill_submit(socket, filled)
    }

    private func reclaim(_ socket: OpaquePointer) {
        var index: UInt32 = 0
        let done = netft_xsk_comp_peek(socket, 512, &index)
        for i in 0..<done { pool.put(netft_xsk_comp_addr(socket, index &+ i)) }
        netft_xsk_comp_release(socket, done)
    }

    public func receive(limit: Int, _ body: (UnsafeMutableRawBufferPointer, Int) -> ReceiveAction) -> Int {
        // Heartbeats come through the kernel socket (the classifier passes
        // control frames): served first, with a budget of their own, so a full
        // data ring never delays them.
        var handled = kernel.receive(limit: 64, body)
        for (s, socket) in sockets.enumerated() {
            var index: UInt32 = 0
            let count = netft_xsk_rx_peek(socket, UInt32(max(0, min(limit - handled, 256))), &index)
            for i in 0..<count {
                let desc = netft_xsk_rx_desc(socket, index &+ i)!.pointee
                let frame = pool.buffer(at: desc.addr)
                let length = Int(desc.len)
                guard let parsed = OuterHeaders.parse(UnsafeRawBufferPointer(rebasing: frame[0..<length])) else {
                    counters.unparsed &+= 1
                    pool.put(desc.addr)
                    continue
                }
                let netft = UnsafeMutableRawBufferPointer(rebasing: frame[parsed.payload...])
                switch body(netft, length - parsed.payload) {
                case .done:
                    pool.put(desc.addr)
                case .reply(let replyLength):
                    if parsed.plain {
                        OuterHeaders.turnAround(frame, payloadStart: parsed.payload, payloadLength: replyLength)
                        transmit(on: s, address: desc.addr, length: parsed.payload + replyLength)
                    } else {
                        pool.put(desc.addr)
                    }
                }
            }
            netft_xsk_rx_release(socket, count)
            counters.rx &+= UInt64(count)
            handled += Int(count)
            reclaim(socket)
            refill(socket)
        }
        return handled
    }

    public func send(_ body: (UnsafeMutableRawBufferPointer) -> Outbound?) {
        guard let address = pool.take() else {
            counters.noFrame &+= 1
            return
        }
        let frame = pool.buffer(at: address)
        let netft = UnsafeMutableRawBufferPointer(rebasing: frame[OuterHeaders.headroom...])
        guard let out = body(netft) else {
            pool.put(address)
            return
        }
        let link = links[out.link]
        guard let mac = neighbours[out.remote.address] else {
            // Next hop unknown: let the kernel send this one (and resolve it).
            counters.viaKernel &+= 1
            kernel.send { buffer in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: netft[0..<out.length]))
                return out
            }
            pool.put(address)
            refreshNeighbours(force: false)
            return
        }
        let start = OuterHeaders.write(
            into: frame, payloadStart: OuterHeaders.headroom, payloadLength: out.length, sourceMAC: sourceMACs[out.link],
            destinationMAC: mac, source: link.address, destination: out.remote.address, sourcePort: port, destinationPort: out.remote.port)
        transmit(on: out.link, address: address + UInt64(start), length: OuterHeaders.headroom + out.length - start)
    }

    @inline(__always)
    private func transmit(on s: Int, address: UInt64, length: Int) {
        var index: UInt32 = 0
        guard netft_xsk_tx_reserve(sockets[s], 1, &index) == 1 else {
            counters.txFull &+= 1
            pool.put(address)
            return
        }
        let desc = netft_xsk_tx_desc(sockets[s], index)!
        desc.pointee.addr = address
        desc.pointee.len = UInt32(length)
        desc.pointee.options = 0
        netft_xsk_tx_submit(sockets[s], 1)
        pendingTX[s] += 1
        counters.tx &+= 1
    }

    public func flush() {
        for s in sockets.indices where pendingTX[s] > 0 {
            pendingTX[s] = 0
            // Copy mode sends at most 32 frames per kick and answers EAGAIN while more wait.
            var attempts = 0
            while netft_xsk_tx_kick(sockets[s]) == -EAGAIN && attempts < 256 {
                attempts += 1
                reclaim(sockets[s])
            }
            reclaim(sockets[s])
        }
        kernel.flush()
    }

    /// Re-reads the kernel's neighbour table (at most every 100 ms unless forced).
    func refreshNeighbours(force: Bool) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let now = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        guard force || now - neighboursRefreshedAt > 100_000_000 else { return }
        neighboursRefreshedAt = now
        let indexes = Set(links.map(\.index))
        var table: [IPAddress: UInt64] = [:]
        for ipv6 in [false, true] {
            for n in (try? netlink.neighbours(ipv6: ipv6)) ?? [] where indexes.contains(n.interfaceIndex) {
                // NUD_INCOMPLETE (0x01) and NUD_FAILED (0x20) have no usable MAC.
                if let mac = n.mac, n.state & 0x21 == 0 { table[n.address] = OuterHeaders.mac(mac) }
            }
        }
        neighbours = table
    }
}
