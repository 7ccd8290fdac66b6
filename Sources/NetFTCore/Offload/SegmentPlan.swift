/// Why a packet read from the virtual adapter cannot be sent.
public enum OffloadError: Error, Equatable, Sendable {
    /// A GSO type netft does not segment (UFO, unknown).
    case unsupportedGSO
    /// The headers do not fit the packet, or are not the GSO type's.
    case malformed
}

/// How one packet read from the TUN device (virtio-net header, then up to
/// 64 KB) becomes wire-sized packets (TSO/USO in software): each segment
/// repeats the headers with its own IP length, id and checksum, TCP sequence
/// number, flags and checksum (or UDP length and checksum). A packet without
/// GSO is one segment, its partial checksum finished. Segments are written on
/// demand, straight into the buffer that carries them: no allocation, no
/// intermediate copy.
public struct SegmentPlan: Sendable {
    public let count: Int
    let layout: TransportLayout?
    let gsoSize: Int
    let length: Int
    let header: VirtioNetHeader

    /// Plans `packet` (the bytes after the virtio-net header) as `header` describes it.
    public init(_ packet: UnsafeRawBufferPointer, header: VirtioNetHeader) throws(OffloadError) {
        self.header = header
        length = packet.count
        guard let gso = header.gso else { throw .unsupportedGSO }
        switch gso {
        case .none:
            layout = nil
            gsoSize = 0
            count = 1
            if header.flags & VirtioNetHeader.needsChecksum != 0 {
                guard Int(header.checksumStart) + Int(header.checksumOffset) + 2 <= length else { throw .malformed }
            }
        case .tcpv4, .tcpv6, .udpL4:
            guard let l = TransportLayout(packet, lengthFromBuffer: true), header.gsoSize > 0 else { throw .malformed }
            let wantsTCP = gso != .udpL4
            guard (l.transport == .tcp) == wantsTCP, l.ipv6 == (gso == .tcpv6) || gso == .udpL4 else { throw .malformed }
            layout = l
            gsoSize = Int(header.gsoSize)
            count = max(1, (l.payloadLength + gsoSize - 1) / gsoSize)
        case .udp:
            // UFO (IP fragmentation of one datagram) is never offered to the kernel.
            throw .unsupportedGSO
        }
    }

    /// The bytes segment `index` takes.
    @inline(__always)
    public func segmentLength(_ index: Int) -> Int {
        guard let layout else { return length }
        return layout.headerLength + min(gsoSize, layout.payloadLength - index * gsoSize)
    }

    /// Writes segment `index` of `packet` into `out`; returns its length, or
    /// 0 when `out` is too small.
    @inline(__always)
    public func write(_ index: Int, of packet: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        let total = segmentLength(index)
        guard out.count >= total else { return 0 }
        guard let layout else {
            out.copyMemory(from: packet)
            if header.flags & VirtioNetHeader.needsChecksum != 0 {
                let start = Int(header.checksumStart)
                // The field holds the pseudo-header sum; the sum over the rest completes it.
                let sum = InternetChecksum.add(UnsafeRawBufferPointer(rebasing: out[start..<total]))
                out.storeChecksum(InternetChecksum.finish(sum), at: start + Int(header.checksumOffset))
            }
            return total
        }
        let h = layout.headerLength
        let offset = index * gsoSize
        UnsafeMutableRawBufferPointer(rebasing: out[0..<h]).copyMemory(from: UnsafeRawBufferPointer(rebasing: packet[0..<h]))
        UnsafeMutableRawBufferPointer(rebasing: out[h..<total]).copyMemory(
            from: UnsafeRawBufferPointer(rebasing: packet[(h + offset)..<(h + offset + total - h)]))
        let ip = layout.ipHeaderLength
        if !layout.ipv6 {
            // Each segment its own IP id, as the kernel's TSO does.
            out.storeBigEndian(UnsafeRawBufferPointer(out).bigEndian16(4) &+ UInt16(truncatingIfNeeded: index), at: 4)
        }
        layout.setIPLength(total, in: out)
        switch layout.transport {
        case .tcp:
            let sequence = UnsafeRawBufferPointer(out).bigEndian32(ip + 4) &+ UInt32(truncatingIfNeeded: offset)
            out.storeBigEndian(sequence, at: ip + 4)
            var flags = out[ip + 13]
            // FIN and PSH belong to the last segment, CWR to the first.
            if index != count - 1 { flags &= ~(TCPFlags.fin | TCPFlags.psh) }
            if index != 0 { flags &= ~TCPFlags.cwr }
            out[ip + 13] = flags
        case .udp:
            out.storeBigEndian(UInt16(total - ip), at: ip + 4)
        }
        layout.storeTransportChecksum(in: out, total: total)
        return total
    }
}
