/// Receive-side coalescing (GRO in software) before the TUN write: in-order
/// segments of one TCP or UDP flow from one receive batch become one
/// super-packet with a virtio-net header, so the kernel's stack handles one
/// 64 KB packet instead of forty. Call `flush` at the end of every batch.
///
/// What it never does: merge two flows, reorder within a flow, or hold a
/// packet past the batch. A TCP segment merges only when it carries nothing
/// but ACK (PSH may end a run), continues the sequence exactly, and repeats
/// every other header field of the run's first segment, options included;
/// anything else (SYN, FIN, RST, URG, ECE, CWR, a gap, a retransmission, a
/// changed window, an IPv4 id out of step) first flushes its flow's run, then goes alone. A UDP
/// datagram merges when it is the run's size (a shorter one ends the run).
public final class Coalescer {
    /// Packets out: (virtio-net header, packet bytes).
    public typealias Write = (VirtioNetHeader, UnsafeRawBufferPointer) -> Void

    /// The largest packet a run becomes (the IP length field's bound).
    public let capacity: Int
    private var runs: [Run]
    private let storage: UnsafeMutableRawBufferPointer
    private var nextVictim = 0
    /// Packets given to `add`, and packets written: their ratio is segments per write.
    public private(set) var segmentsIn: UInt64 = 0
    public private(set) var packetsOut: UInt64 = 0

    struct Run {
        var used = false
        var layout: TransportLayout!
        var length = 0
        var segments = 0
        var gsoSize = 0
        var nextSequence: UInt32 = 0
        /// A shorter segment or PSH ended it: nothing more may follow.
        var closed = false
    }

    /// UDP runs become USO super-packets too. Off in the daemon: the kernel
    /// cuts them again for any socket without UDP_GRO (cluster software's, as a
    /// rule), so nothing is gained, and under lossless failover's resend bursts a
    /// run lost datagrams in 1 of 3 CI runs, not yet explained (see BENCHMARKS.md).
    public let coalesceUDP: Bool

    /// `flows`: runs held at once (flows interleaved in one batch each keep their own).
    public init(flows: Int = 8, capacity: Int = 65535, coalesceUDP: Bool = false) {
        self.capacity = capacity
        self.coalesceUDP = coalesceUDP
        runs = Array(repeating: Run(), count: flows)
        storage = .allocate(byteCount: flows * capacity, alignment: 64)
    }

    deinit { storage.deallocate() }

    private func buffer(_ slot: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[(slot * capacity)..<((slot + 1) * capacity)])
    }

    /// Takes one packet of a batch: merged into its flow's run, held as a new
    /// run, or written at once (after its flow's run) when it cannot merge.
    @inline(__always)
    public func add(_ packet: UnsafeRawBufferPointer, _ write: Write) {
        segmentsIn &+= 1
        guard let layout = TransportLayout(packet), layout.totalLength == packet.count else {
            // Not a flow this knows (a fragment, ICMP, extension headers): nothing held may pass it.
            flush(write)
            emit(VirtioNetHeader(), packet, write)
            return
        }
        let mergeable = Coalescer.canStartRun(packet, layout) && (coalesceUDP || layout.transport == .tcp)
        if let slot = runs.indices.first(where: { runs[$0].used && sameFlow(runs[$0], buffer($0), packet, layout) }) {
            if mergeable && append(packet, layout, to: slot) { return }
            flush(slot, write)
        }
        guard mergeable else {
            emit(VirtioNetHeader(), packet, write)
            return
        }
        let slot = runs.firstIndex { !$0.used } ?? {
            let victim = nextVictim
            nextVictim = (nextVictim + 1) % runs.count
            flush(victim, write)
            return victim
        }()
        start(slot, packet, layout)
    }

    /// Writes every held run (the end of a receive batch).
    public func flush(_ write: Write) {
        for slot in runs.indices where runs[slot].used { flush(slot, write) }
    }

    // MARK: Runs

    /// Only a data segment with nothing but ACK (and maybe PSH) may begin or extend a run.
    @inline(__always)
    static func canStartRun(_ packet: UnsafeRawBufferPointer, _ layout: TransportLayout) -> Bool {
        guard layout.payloadLength > 0 else { return false }
        guard layout.transport == .tcp else { return true }
        let flags = packet[layout.ipHeaderLength + 13]
        return flags & ~TCPFlags.psh == TCPFlags.ack && packet.bigEndian16(layout.ipHeaderLength + 18) == 0
    }

    /// Same addresses, protocol and ports.
    @inline(__always)
    private func sameFlow(_ run: Run, _ held: UnsafeMutableRawBufferPointer, _ packet: UnsafeRawBufferPointer, _ layout: TransportLayout) -> Bool {
        let r = run.layout!
        guard r.ipv6 == layout.ipv6, r.transport == layout.transport else { return false }
        let addresses = layout.ipv6 ? 8..<40 : 12..<20
        guard Coalescer.equal(UnsafeRawBufferPointer(held), packet, addresses) else { return false }
        return held.loadUnaligned(fromByteOffset: r.ipHeaderLength, as: UInt32.self)
            == packet.loadUnaligned(fromByteOffset: layout.ipHeaderLength, as: UInt32.self)
    }

    /// Every header field but those segmentation changes matches the run's first segment.
    @inline(__always)
    private func sameHeaders(_ held: UnsafeMutableRawBufferPointer, _ r: TransportLayout, _ packet: UnsafeRawBufferPointer, _ layout: TransportLayout) -> Bool {
        guard r.ipHeaderLength == layout.ipHeaderLength, r.transportHeaderLength == layout.transportHeaderLength else { return false }
        let a = UnsafeRawBufferPointer(held)
        if layout.ipv6 {
            // Version, traffic class, flow label; next header, hop limit.
            guard a.loadUnaligned(fromByteOffset: 0, as: UInt32.self) == packet.loadUnaligned(fromByteOffset: 0, as: UInt32.self),
                a.bigEndian16(6) == packet.bigEndian16(6)
            else { return false }
        } else {
            // Version, IHL, TOS; flags and offset; TTL, protocol; options.
            guard a.bigEndian16(0) == packet.bigEndian16(0), a.bigEndian16(6) == packet.bigEndian16(6), a.bigEndian16(8) == packet.bigEndian16(8),
                Coalescer.equal(a, packet, 20..<layout.ipHeaderLength)
            else { return false }
        }
        let t = layout.ipHeaderLength
        if layout.transport == .udp { return true }
        // Acknowledgement, data offset, window, urgent pointer and options; flags apart from PSH.
        return a.bigEndian32(t + 8) == packet.bigEndian32(t + 8) && a[t + 12] == packet[t + 12]
            && a[t + 13] & ~TCPFlags.psh == packet[t + 13] & ~TCPFlags.psh
            && a.bigEndian16(t + 14) == packet.bigEndian16(t + 14) && a.bigEndian16(t + 18) == packet.bigEndian16(t + 18)
            && Coalescer.equal(a, packet, (t + 20)..<(t + layout.transportHeaderLength))
    }

    private func start(_ slot: Int, _ packet: UnsafeRawBufferPointer, _ layout: TransportLayout) {
        let held = buffer(slot)
        UnsafeMutableRawBufferPointer(rebasing: held[0..<packet.count]).copyMemory(from: packet)
        var run = Run()
        run.used = true
        run.layout = layout
        run.length = packet.count
        run.segments = 1
        run.gsoSize = layout.payloadLength
        if layout.transport == .tcp {
            run.nextSequence = packet.bigEndian32(layout.ipHeaderLength + 4) &+ UInt32(layout.payloadLength)
            run.closed = packet[layout.ipHeaderLength + 13] & TCPFlags.psh != 0
        }
        runs[slot] = run
    }

    @inline(__always)
    private func append(_ packet: UnsafeRawBufferPointer, _ layout: TransportLayout, to slot: Int) -> Bool {
        var run = runs[slot]
        let payload = layout.payloadLength
        guard !run.closed, payload <= run.gsoSize, run.length + payload <= capacity else { return false }
        let held = buffer(slot)
        guard sameHeaders(held, run.layout, packet, layout) else { return false }
        let t = layout.ipHeaderLength
        // IPv4 ids must count up from the run's first, as segmentation will write them again.
        if !layout.ipv6 && packet.bigEndian16(4) != UnsafeRawBufferPointer(held).bigEndian16(4) &+ UInt16(truncatingIfNeeded: run.segments) {
            return false
        }
        if layout.transport == .tcp {
            guard packet.bigEndian32(t + 4) == run.nextSequence else { return false }
            run.nextSequence &+= UInt32(payload)
            if packet[t + 13] & TCPFlags.psh != 0 {
                held[t + 13] |= TCPFlags.psh
                run.closed = true
            }
        }
        UnsafeMutableRawBufferPointer(rebasing: held[run.length..<(run.length + payload)]).copyMemory(
            from: UnsafeRawBufferPointer(rebasing: packet[layout.headerLength..<packet.count]))
        run.length += payload
        run.segments += 1
        if payload < run.gsoSize { run.closed = true }
        runs[slot] = run
        return true
    }

    private func flush(_ slot: Int, _ write: Write) {
        let run = runs[slot]
        runs[slot].used = false
        let held = UnsafeMutableRawBufferPointer(rebasing: buffer(slot)[0..<run.length])
        guard run.segments > 1 else {
            emit(VirtioNetHeader(), UnsafeRawBufferPointer(held), write)
            return
        }
        let layout = run.layout!
        layout.setIPLength(run.length, in: held)
        let t = layout.ipHeaderLength
        if layout.transport == .udp { held.storeBigEndian(UInt16(truncatingIfNeeded: run.length - t), at: t + 4) }
        // CHECKSUM_PARTIAL: the kernel trusts the segments' sums and finishes this one only if it forwards the packet.
        layout.storePartialChecksum(in: held, total: run.length)
        let gso: VirtioNetHeader.GSO = layout.transport == .udp ? .udpL4 : (layout.ipv6 ? .tcpv6 : .tcpv4)
        let header = VirtioNetHeader(
            flags: VirtioNetHeader.needsChecksum, gso: gso, headerLength: UInt16(layout.headerLength), gsoSize: UInt16(run.gsoSize),
            checksumStart: UInt16(t), checksumOffset: UInt16(layout.checksumOffset))
        emit(header, UnsafeRawBufferPointer(held), write)
    }

    /// The bytes `range` of `a` and `b` are equal (headers: a few words).
    @inline(__always)
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        var i = range.lowerBound
        while i + 4 <= range.upperBound {
            if a.loadUnaligned(fromByteOffset: i, as: UInt32.self) != b.loadUnaligned(fromByteOffset: i, as: UInt32.self) { return false }
            i += 4
        }
        while i < range.upperBound {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    @inline(__always)
    private func emit(_ header: VirtioNetHeader, _ packet: UnsafeRawBufferPointer, _ write: Write) {
        packetsOut &+= 1
        write(header, packet)
    }
}
