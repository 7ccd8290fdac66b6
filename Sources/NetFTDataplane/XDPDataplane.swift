import CNetFTShims
import Glibc
import NetFTCore

/// The fast dataplane: the XDP classifier on every link steers netft data
/// frames into an AF_XDP socket per receive queue of every link (RSS spreads
/// flows over a multi-queue NIC's queues), all sharing one UMEM. Frames are
/// parsed, answered and sent in place in UMEM frames; packets from the virtual
/// adapter are read straight into a UMEM frame behind room for the outer
/// headers. Heartbeats and hellos, and frames the classifier leaves to the
/// kernel (a fragment), arrive through the UDP sockets kept
/// open beside, which also carry the rare frame whose next-hop MAC is unknown,
/// and every frame of a NIC that another XDP program occupies.
public final class XDPDataplane: Dataplane {
    public let kind = DataplaneKind.xdp
    public private(set) var links: [DataplaneLink]
    let port: UInt16
    let pool: UMEMPool
    let pinRoot: String
    let ringSize: UInt32
    let occupied: OccupiedNIC
    /// Classifiers loaded at start for a NIC a reload adds later: once the
    /// node has dropped to CAP_BPF and CAP_NET_ADMIN, the verifier refuses to
    /// load the classifier (its variable-offset packet pointers need
    /// CAP_PERFMON, which the node does not keep), but attaching a loaded one
    /// needs no more than the node has. One spare: a second new NIC waits for
    /// a restart (each classifier holds ~3 MB of preallocated maps).
    private var spareClassifiers: [XDPClassifier] = []
    public static let spareClassifierCount = 1
    /// The kernel's UDP sockets, one per link: heartbeats and hellos (the
    /// classifier passes them to the kernel), and the fallback.
    let kernelSockets: SocketDataplane
    private var classifiers: [XDPClassifier?] = []
    /// Every AF_XDP socket: one per receive queue of each link that has a classifier.
    private var queues: [Queue] = []
    /// Per link: the socket that transmits (its queue 0), or nil when the link uses the kernel socket.
    private var transmitters: [Int?] = []
    private var sourceMACs: [UInt64] = []
    /// Per socket: descriptors queued on its TX ring since the last kick.
    private var pendingTX: [UInt32] = []

    struct Queue {
        let link: Int
        let queue: UInt32
        let handle: OpaquePointer
        /// As the kernel reports it after the bind.
        let mode: AFXDPSocket.BindMode
        /// Frames its fill ring holds now (given to the kernel, not yet received).
        var inFill = 0
        /// Frames received on this queue.
        var received: UInt64 = 0
    }

    /// Frames each AF_XDP socket received, by link and queue: proof every queue is served.
    public func queueReceived() -> [(link: String, queue: UInt32, frames: UInt64)] {
        queues.map { (links[$0.link].name, $0.queue, $0.received) }
    }
    /// Next-hop MAC by remote address, as the control plane last handed it.
    private var neighbours: [IPAddress: UInt64] = [:]
    /// Zero-copy only if the kernel says so of every socket (`XDP_OPTIONS`).
    public var bindMode: AFXDPSocket.BindMode {
        !queues.isEmpty && queues.allSatisfy { $0.mode == .zeroCopy } ? .zeroCopy : .copy
    }
    /// AF_XDP sockets, and how many of them the kernel runs in zero-copy mode.
    public var socketModes: (sockets: Int, zeroCopy: Int) { (queues.count, queues.filter { $0.mode == .zeroCopy }.count) }
    private let fillTarget: UInt32
    public private(set) var counters = Counters()
    /// Per link: why it uses the kernel socket instead of AF_XDP (nil: AF_XDP).
    public private(set) var fallbackReasons: [String?] = []
    /// What an operator should know about how each link was attached (generic mode and why).
    public private(set) var attachNotes: [String] = []

    public struct Counters: Sendable {
        public var rx: UInt64 = 0
        public var tx: UInt64 = 0
        public var unparsed: UInt64 = 0
        /// Frames sent through the kernel socket: next hop unknown, or the NIC has no AF_XDP socket.
        public var viaKernel: UInt64 = 0
        public var txFull: UInt64 = 0
        /// Sends refused because the UMEM had no free frame even after reclaiming completions.
        public var noFrame: UInt64 = 0
        /// Data frames (not heartbeats or acks) by the path they took, both ways:
        /// what proves the fast path carried the traffic.
        public var dataViaAFXDP: UInt64 = 0
        public var dataViaKernel: UInt64 = 0
    }

    /// A netft frame (the UDP payload) is a data frame.
    @inline(__always)
    static func isData(_ netft: UnsafeRawBufferPointer, _ length: Int) -> Bool {
        length > 5 && netft[5] == FrameType.data.rawValue
    }

    /// What to do when a NIC already has another XDP program.
    public enum OccupiedNIC: String, Sendable, CaseIterable {
        /// Leave it in place and carry that NIC's frames through the kernel socket.
        case useKernelSocket = "udp"
        /// Refuse to start.
        case refuse
    }

    public var descriptors: [Int32] { queues.map { netft_xsk_fd($0.handle) } + kernelSockets.descriptors }

    /// Per link: how many receive queues have an AF_XDP socket (0: the kernel socket carries the link).
    public var boundQueues: [Int] { links.indices.map { l in queues.count { $0.link == l } } }

    /// The largest netft frame a UMEM frame carries both ways: outbound behind
    /// the outer-header headroom, inbound after the kernel's XDP headroom.
    public var largestFrame: Int {
        let rx = pool.frameSize - Int(XDP_PACKET_HEADROOM) - OuterHeaders.size(ipv4: false)
        let tx = pool.frameSize - OuterHeaders.headroom
        return min(rx, tx, kernelSockets.largestFrame)
    }

    public init(
        links: [DataplaneLink], port: UInt16, pinRoot: String = XDPClassifier.defaultPinRoot, ringSize: UInt32 = 2048,
        umemFrames: Int = 8192, occupied: OccupiedNIC = .useKernelSocket
    ) throws {
        self.links = links
        self.port = port
        self.pinRoot = pinRoot
        self.ringSize = ringSize
        self.occupied = occupied
        let netlink = try Netlink()
        pool = try UMEMPool(frameCount: umemFrames, ringSize: ringSize)
        kernelSockets = try SocketDataplane(links: links, port: port)
        fillTarget = ringSize
        do {
            let known = try netlink.links()
            for (l, link) in links.enumerated() { try attach(link: l, info: known.first { $0.index == link.index }) }
        } catch {
            for q in queues { netft_xsk_destroy(q.handle) }
            queues.removeAll()
            for case let c? in classifiers { try? c.detach() }
            throw error
        }
        pendingTX = Array(repeating: 0, count: queues.count)
        for q in queues.indices { refill(q) }
        neighbours = XDPDataplane.neighbourTable(netlink: netlink, links: links)
        for _ in 0..<XDPDataplane.spareClassifierCount { spareClassifiers.append(try XDPClassifier(port: port)) }
    }

    /// Link `l`'s classifier and a socket on each of its receive queues (or,
    /// when another XDP program holds the NIC and `occupied` allows, none:
    /// the kernel socket carries that link).
    private func attach(link l: Int, info: Netlink.Link?) throws {
        let link = links[l]
        sourceMACs.append(OuterHeaders.mac(info?.mac ?? []))
        let classifier: XDPClassifier
        if let spare = spareClassifiers.popLast() {
            classifier = spare
        } else {
            do {
                classifier = try XDPClassifier(port: port)
            } catch {
                guard error.errno == EACCES || error.errno == EPERM else { throw error }
                throw SystemError("\(error.attempted) (the spare classifier loaded at start is taken: a restart attaches \(link.name))", errno: error.errno)
            }
        }
        do {
            try XDPDataplane.attach(classifier, to: link.name, pinRoot: pinRoot, notes: &attachNotes)
        } catch {
            guard error.errno == EBUSY && occupied == .useKernelSocket else { throw error }
            classifiers.append(nil)
            transmitters.append(nil)
            fallbackReasons.append(error.attempted)
            return
        }
        classifiers.append(classifier)
        fallbackReasons.append(nil)
        // A socket on every receive queue: a frame on a queue without one would take the kernel path.
        // Netlink gives the queues allocated; the bind refuses (EINVAL) past those in use.
        let count = min(info?.rxQueues ?? 1, UInt32(NETFT_XSKMAP_MAX))
        for q in 0..<count {
            let handle: OpaquePointer
            var mode = AFXDPSocket.BindMode.copy
            do {
                handle = try pool.bindSocket(link.name, queue: q, ringSize: ringSize, mode: &mode)
            } catch {
                if q > 0 && error.errno == EINVAL { break }
                throw error
            }
            if q == 0 { transmitters.append(queues.count) }
            queues.append(Queue(link: l, queue: q, handle: handle, mode: mode))
            try classifier.register(socketFD: netft_xsk_fd(handle), queue: q)
        }
    }

    /// A reload's new network on a NIC the node did not use: its kernel
    /// socket, classifier and AF_XDP sockets, at runtime (CAP_NET_ADMIN,
    /// CAP_NET_RAW and CAP_BPF are kept for this). On failure nothing of it stays.
    public func addLink(_ link: DataplaneLink) throws {
        let netlink = try Netlink()
        let info = try netlink.links().first { $0.index == link.index }
        try kernelSockets.addLink(link)
        let before = (queues: queues.count, classifiers: classifiers.count, notes: attachNotes.count)
        links.append(link)
        do {
            try attach(link: links.count - 1, info: info)
        } catch {
            for q in queues[before.queues...] { netft_xsk_destroy(q.handle) }
            queues.removeSubrange(before.queues...)
            if classifiers.count > before.classifiers, let c = classifiers.last, let c {
                try? c.detach()
                spareClassifiers.append(c)  // loaded, not attached: still good for the next try
            }
            classifiers.removeSubrange(before.classifiers...)
            transmitters.removeSubrange(min(transmitters.count, before.classifiers)...)
            fallbackReasons.removeSubrange(min(fallbackReasons.count, before.classifiers)...)
            sourceMACs.removeSubrange(min(sourceMACs.count, before.classifiers)...)
            links.removeLast()
            kernelSockets.removeLastLink()
            throw error
        }
        pendingTX += Array(repeating: 0, count: queues.count - before.queues)
        for q in before.queues..<queues.count { refill(q) }
        neighbours.merge(XDPDataplane.neighbourTable(netlink: netlink, links: [link])) { _, new in new }
    }

    /// Native mode first; a driver that refuses it for this link (an MTU above
    /// what single-buffer native XDP takes: ERANGE on veth; no driver support)
    /// gets generic mode, which takes any MTU, and the reason is noted.
    static func attach(_ classifier: XDPClassifier, to name: String, pinRoot: String, notes: inout [String]) throws(SystemError) {
        do {
            try classifier.attach(interface: name, mode: .native, pinRoot: pinRoot)
        } catch let error where [ERANGE, EOPNOTSUPP, EINVAL].contains(error.errno) {
            try classifier.attach(interface: name, mode: .generic, pinRoot: pinRoot)
            notes.append("\(name): XDP in generic mode, native refused (\(error))")
        }
    }

    /// Binds one socket on `name`/`queue` in the shared UMEM: zero-copy where
    /// the driver can; veth refuses it (EOPNOTSUPP), so copy mode.
    deinit {
        for q in queues { netft_xsk_destroy(q.handle) }
        for case let c? in classifiers { try? c.detach() }
    }

    /// The kernel's per-socket drop counters, per AF_XDP socket (named
    /// `eth0`, `eth0_q1`, ...): (rx dropped, rx ring full, fill ring empty, tx invalid).
    public func socketStatistics() -> [(link: String, dropped: UInt64, rxFull: UInt64, fillEmpty: UInt64, txInvalid: UInt64)] {
        queues.map { q in
            var st = xdp_statistics()
            _ = netft_xsk_statistics(q.handle, &st)
            let name = links[q.link].name + (q.queue == 0 ? "" : "_q\(q.queue)")
            return (name, st.rx_dropped, st.rx_ring_full, st.rx_fill_ring_empty_descs, st.tx_invalid_descs)
        }
    }

    /// The classifiers' counters, per link with a classifier.
    public func classifierStats() -> [(link: String, stats: ClassifierStats)] {
        zip(links, classifiers).compactMap { link, c in (try? c?.stats()).flatMap { $0 }.map { (link.name, $0) } }
    }

    /// Gives a fill ring every frame it has room for, up to its share: the
    /// fill rings together hold at most half the UMEM, so transmit always has
    /// frames. Done each pass; libxdp's reserve is all or nothing, so it never
    /// asks for more than is free.
    private func refill(_ s: Int) {
        let socket = queues[s].handle
        let share = pool.frameCount / 2 / max(1, queues.count)
        let room = min(Int(fillTarget), share) - queues[s].inFill
        guard room > 0 else { return }
        // nb_free answers every free slot once at least the asked number are free: clamp.
        let want = min(netft_xsk_fill_free(socket, UInt32(min(room, pool.freeCount))), UInt32(min(room, pool.freeCount)))
        guard want > 0 else { return }
        var index: UInt32 = 0
        let got = netft_xsk_fill_reserve(socket, want, &index)
        for i in 0..<got { netft_xsk_fill_set(socket, index &+ i, pool.take()!) }
        netft_xsk_fill_submit(socket, got)
        queues[s].inFill += Int(got)
    }

    private func reclaim(_ socket: OpaquePointer) {
        var index: UInt32 = 0
        let done = netft_xsk_comp_peek(socket, 512, &index)
        for i in 0..<done { pool.put(netft_xsk_comp_addr(socket, index &+ i)) }
        netft_xsk_comp_release(socket, done)
    }

    /// Each link's classifier admits netft frames only from the remote
    /// addresses of the routes on that link (`sources[link]`), each with its
    /// control-frame budget: anyone else's frames, and a noisy source's excess,
    /// are dropped in XDP before they reach a socket.
    public func admitOnly(_ sources: [Int: [(address: IPAddress, node: NodeID)]], controlBudget: UInt32 = UInt32(NETFT_CONTROL_BUDGET)) throws(SystemError) {
        for (l, classifier) in classifiers.enumerated() {
            guard let classifier else { continue }
            try classifier.admitOnly(sources[l] ?? [], controlBudget: controlBudget)
        }
    }

    public func receive(limit: Int, _ body: (UnsafeMutableRawBufferPointer, Int, FramePath) -> ReceiveAction) -> Int {
        // Heartbeats come through the kernel socket (the classifier passes
        // control frames): served first, with a budget of their own, so a full
        // data ring never delays them.
        var handled = kernelSockets.receive(limit: 64) { buffer, length, path in
            if XDPDataplane.isData(UnsafeRawBufferPointer(buffer), length) { counters.dataViaKernel &+= 1 }
            return body(buffer, length, path)
        }
        for s in queues.indices {
            let socket = queues[s].handle
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
                if XDPDataplane.isData(UnsafeRawBufferPointer(netft), length - parsed.payload) { counters.dataViaAFXDP &+= 1 }
                // The queue says which link; the outer headers say who sent it.
                let path = FramePath(local: links[queues[s].link].address, remote: OuterHeaders.source(UnsafeRawBufferPointer(frame), parsed))
                switch body(netft, length - parsed.payload, path) {
                case .done:
                    pool.put(desc.addr)
                case .reply(let replyLength):
                    if parsed.plain {
                        OuterHeaders.turnAround(frame, payloadStart: parsed.payload, payloadLength: replyLength)
                        transmit(on: queues[s].link, address: desc.addr, length: parsed.payload + replyLength)
                    } else {
                        pool.put(desc.addr)
                    }
                }
            }
            netft_xsk_rx_release(socket, count)
            queues[s].inFill -= Int(count)
            queues[s].received &+= UInt64(count)
            counters.rx &+= UInt64(count)
            handled += Int(count)
            reclaim(socket)
            refill(s)
        }
        return handled
    }

    /// A free UMEM frame; completions are reclaimed first when the pool is empty.
    private func takeFrame() -> UInt64? {
        if let address = pool.take() { return address }
        for q in queues { reclaim(q.handle) }
        return pool.take()
    }

    @discardableResult
    public func send(_ body: (UnsafeMutableRawBufferPointer) -> Outbound?) -> Bool {
        guard let address = takeFrame() else {
            counters.noFrame &+= 1
            return false
        }
        let frame = pool.buffer(at: address)
        let netft = UnsafeMutableRawBufferPointer(rebasing: frame[OuterHeaders.headroom...])
        guard let out = body(netft) else {
            pool.put(address)
            return true
        }
        let link = links[out.link]
        let data = XDPDataplane.isData(UnsafeRawBufferPointer(netft), out.length)
        guard transmitters[out.link] != nil, let mac = neighbours[out.remote.address] else {
            // No AF_XDP socket on this NIC, or next hop unknown: the kernel
            // sends this one (and resolves the neighbour, which the control
            // plane then hands over).
            counters.viaKernel &+= 1
            if data { counters.dataViaKernel &+= 1 }
            kernelSockets.send { buffer in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: netft[0..<out.length]))
                return out
            }
            pool.put(address)
            return true
        }
        let start = OuterHeaders.write(
            into: frame, payloadStart: OuterHeaders.headroom, payloadLength: out.length, sourceMAC: sourceMACs[out.link],
            destinationMAC: mac, source: link.address, destination: out.remote.address, sourcePort: port, destinationPort: out.remote.port)
        if transmit(on: out.link, address: address + UInt64(start), length: OuterHeaders.headroom + out.length - start), data {
            counters.dataViaAFXDP &+= 1
        }
        return true
    }

    public func sendControl(_ body: (UnsafeMutableRawBufferPointer) -> Outbound?) {
        if pool.freeCount == 0 { for q in queues { reclaim(q.handle) } }
        if pool.freeCount > 0 {
            send(body)
        } else {
            // The UMEM is exhausted by data: this one goes through the kernel socket.
            counters.viaKernel &+= 1
            kernelSockets.send(body)
        }
    }

    /// Queues one frame on link `link`'s TX ring; false when it was dropped (ring full).
    @inline(__always)
    @discardableResult
    private func transmit(on link: Int, address: UInt64, length: Int) -> Bool {
        guard let s = transmitters[link] else {
            pool.put(address)
            return false
        }
        let socket = queues[s].handle
        var index: UInt32 = 0
        // A full ring holds frames not yet kicked (a failover resending thousands
        // at once): send those first, then take the slot; dropped only if still full.
        var reserved = netft_xsk_tx_reserve(socket, 1, &index) == 1
        if !reserved {
            kick(s)
            reserved = netft_xsk_tx_reserve(socket, 1, &index) == 1
        }
        guard reserved else {
            counters.txFull &+= 1
            pool.put(address)
            return false
        }
        let desc = netft_xsk_tx_desc(socket, index)!
        desc.pointee.addr = address
        desc.pointee.len = UInt32(length)
        desc.pointee.options = 0
        netft_xsk_tx_submit(socket, 1)
        pendingTX[s] += 1
        counters.tx &+= 1
        return true
    }

    public func flush() {
        for s in queues.indices where pendingTX[s] > 0 { kick(s) }
        kernelSockets.flush()
    }

    /// Sends what socket `s` has queued on its TX ring and takes back the completed frames.
    private func kick(_ s: Int) {
        let socket = queues[s].handle
        pendingTX[s] = 0
        // Copy mode sends at most 32 frames per kick and answers EAGAIN while more wait.
        var attempts = 0
        while netft_xsk_tx_needs_wakeup(socket) != 0 && netft_xsk_tx_kick(socket) == -EAGAIN && attempts < 256 {
            attempts += 1
            reclaim(socket)
        }
        reclaim(socket)
    }

    public func updateNeighbours(_ table: [IPAddress: UInt64]) { neighbours = table }

    /// AF_XDP rings are read without a syscall; only the kernel sockets wait for poll.
    public func readable(_ descriptor: Int32) { kernelSockets.readable(descriptor) }

    public func updateSourceMAC(link: Int, mac: UInt64) {
        guard sourceMACs.indices.contains(link) else { return }
        sourceMACs[link] = mac
    }

    /// A MAC as the fast path keeps it (six bytes in a word).
    public static func mac(_ bytes: [UInt8]) -> UInt64 { OuterHeaders.mac(bytes) }

    /// The usable next-hop MACs of `links` in the kernel's neighbour table now.
    public static func neighbourTable(netlink: Netlink, links: [DataplaneLink]) -> [IPAddress: UInt64] {
        let indexes = Set(links.map(\.index))
        var table: [IPAddress: UInt64] = [:]
        for ipv6 in [false, true] {
            for n in (try? netlink.neighbours(ipv6: ipv6)) ?? [] where indexes.contains(n.interfaceIndex) {
                if let mac = n.mac { table[n.address] = OuterHeaders.mac(mac) }
            }
        }
        return table
    }
}
