import Testing

@testable import NetFTCore

/// Segmentation (TSO/USO in software) and coalescing (GRO) as pure functions
/// over buffers, checked against an independent, word-by-word checksum.
@Suite("Offloads: segmentation and coalescing")
struct OffloadTests {
    struct Shape {
        var ipv6 = false
        var udp = false
        var ipOptions = 0  // 32-bit words
        var tcpOptions = 0  // 32-bit words
        var flags: UInt8 = TCPFlags.ack
        var payload = 0
        var gsoSize = 1400
        var sourcePort: UInt16 = 40000
    }

    /// A super-packet as a TUN read returns it with TSO/USO on: full IP
    /// length, valid IPv4 header checksum, the transport checksum partial.
    static func superPacket(_ shape: Shape, _ rng: inout SplitMix64) -> ([UInt8], VirtioNetHeader) {
        let ip = shape.ipv6 ? 40 : 20 + 4 * shape.ipOptions
        let l4 = shape.udp ? 8 : 20 + 4 * shape.tcpOptions
        var p = [UInt8](repeating: 0, count: ip + l4 + shape.payload)
        for i in (ip + l4)..<p.count { p[i] = .random(in: 0...255, using: &rng) }
        func put16(_ v: UInt16, _ at: Int) { p[at] = UInt8(v >> 8); p[at + 1] = UInt8(v & 0xff) }
        func put32(_ v: UInt32, _ at: Int) { put16(UInt16(v >> 16), at); put16(UInt16(v & 0xffff), at + 2) }
        let proto: UInt8 = shape.udp ? 17 : 6
        if shape.ipv6 {
            p[0] = 0x60; p[1] = 0x0a; p[2] = 0xbc; p[3] = 0xde
            put16(UInt16(p.count - 40), 4)
            p[6] = proto; p[7] = 64
            p[8] = 0xfe; p[9] = 0x80; p[23] = 1
            p[24] = 0xfe; p[25] = 0x80; p[39] = 2
        } else {
            p[0] = 0x40 | UInt8(ip / 4); p[1] = 0
            put16(UInt16(p.count), 2)
            put16(.random(in: 0...UInt16.max, using: &rng), 4)
            put16(0x4000, 6)  // DF
            p[8] = 64; p[9] = proto
            p[12] = 169; p[13] = 254; p[14] = 1; p[15] = 1
            p[16] = 169; p[17] = 254; p[18] = 1; p[19] = 2
            for i in 20..<ip { p[i] = i == 20 ? 0x01 : 0x01 }  // NOP options
            put16(naiveFinish(naiveSum(p[0..<ip])), 10)
        }
        put16(shape.sourcePort, ip)
        put16(5201, ip + 2)
        if shape.udp {
            put16(UInt16(truncatingIfNeeded: p.count - ip), ip + 4)
        } else {
            put32(.random(in: 0...UInt32.max, using: &rng), ip + 4)
            put32(.random(in: 0...UInt32.max, using: &rng), ip + 8)
            p[ip + 12] = UInt8(l4 / 4) << 4
            p[ip + 13] = shape.flags
            put16(.random(in: 1...UInt16.max, using: &rng), ip + 14)
            for i in (ip + 20)..<(ip + l4) { p[i] = .random(in: 0...255, using: &rng) }
        }
        let checksumAt = ip + (shape.udp ? 6 : 16)
        put16(naiveFold(pseudo(p, ipv6: shape.ipv6, proto: proto, length: p.count - ip)), checksumAt)
        let gso: VirtioNetHeader.GSO = shape.udp ? .udpL4 : (shape.ipv6 ? .tcpv6 : .tcpv4)
        let header = VirtioNetHeader(
            flags: VirtioNetHeader.needsChecksum, gso: gso, headerLength: UInt16(ip + l4), gsoSize: UInt16(shape.gsoSize),
            checksumStart: UInt16(ip), checksumOffset: shape.udp ? 6 : 16)
        return (p, header)
    }

    // Independent reference: big-endian 16-bit words, one at a time.
    static func naiveSum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var s: UInt32 = 0
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let hi = UInt32(bytes[i])
            let lo = i + 1 < bytes.endIndex ? UInt32(bytes[i + 1]) : 0
            s += hi << 8 | lo
            i += 2
        }
        return s
    }
    static func naiveFold(_ sum: UInt32) -> UInt16 {
        var s = sum
        while s > 0xffff { s = (s & 0xffff) + (s >> 16) }
        return UInt16(s)
    }
    static func naiveFinish(_ sum: UInt32) -> UInt16 { ~naiveFold(sum) }
    static func pseudo(_ p: [UInt8], ipv6: Bool, proto: UInt8, length: Int) -> UInt32 {
        naiveSum(ipv6 ? p[8..<40] : p[12..<20]) + UInt32(proto) + UInt32(length)
    }

    /// IPv4 header checksum and the transport checksum both verify.
    static func checksumsValid(_ s: [UInt8]) -> Bool {
        let v6 = s[0] >> 4 == 6
        let ip = v6 ? 40 : Int(s[0] & 0x0f) * 4
        if !v6 && naiveFold(naiveSum(s[0..<ip])) != 0xffff { return false }
        let proto = v6 ? s[6] : s[9]
        return naiveFold(pseudo(s, ipv6: v6, proto: proto, length: s.count - ip) + naiveSum(s[ip...])) == 0xffff
    }

    static func segments(_ packet: [UInt8], _ header: VirtioNetHeader) throws -> [[UInt8]] {
        try packet.withUnsafeBytes { raw in
            let plan = try SegmentPlan(raw, header: header)
            var out: [[UInt8]] = []
            var buffer = [UInt8](repeating: 0, count: 70000)
            for i in 0..<plan.count {
                let n = buffer.withUnsafeMutableBytes { plan.write(i, of: raw, into: $0) }
                out.append(Array(buffer[0..<n]))
            }
            return out
        }
    }

    static func coalesce(_ packets: [[UInt8]], _ coalescer: Coalescer = Coalescer(coalesceUDP: true)) -> [(VirtioNetHeader, [UInt8])] {
        var out: [(VirtioNetHeader, [UInt8])] = []
        let write: Coalescer.Write = { out.append(($0, Array($1))) }
        for p in packets { p.withUnsafeBytes { coalescer.add($0, write) } }
        coalescer.flush(write)
        return out
    }

    static func randomShape(_ rng: inout SplitMix64) -> Shape {
        var s = Shape()
        s.ipv6 = .random(using: &rng)
        s.udp = Int.random(in: 0..<4, using: &rng) == 0
        s.ipOptions = s.ipv6 ? 0 : [0, 0, 1, 3].randomElement(using: &rng)!
        s.tcpOptions = s.udp ? 0 : [0, 3, 5, 10].randomElement(using: &rng)!
        let a = TCPFlags.ack
        s.flags = [a, a, a | TCPFlags.psh, a | TCPFlags.fin, a | TCPFlags.psh | TCPFlags.fin, a | TCPFlags.urg, a | TCPFlags.ece, a | TCPFlags.cwr, a | TCPFlags.cwr | TCPFlags.psh]
            .randomElement(using: &rng)!
        s.gsoSize = .random(in: 100...1448, using: &rng)
        let header = (s.ipv6 ? 40 : 20 + 4 * s.ipOptions) + (s.udp ? 8 : 20 + 4 * s.tcpOptions)
        s.payload = .random(in: 1...(65535 - header), using: &rng)
        return s
    }

    @Test("every segment is wire-valid: checksums, lengths, sequence, ids, flags")
    func segmentsAreValid() throws {
        var rng = SplitMix64(seed: 12)
        for _ in 0..<300 {
            let shape = Self.randomShape(&rng)
            let (packet, header) = Self.superPacket(shape, &rng)
            let segs = try Self.segments(packet, header)
            let h = Int(header.headerLength)
            #expect(segs.count == (shape.payload + shape.gsoSize - 1) / shape.gsoSize)
            let kept = segs.flatMap { $0[h...] } == Array(packet[h...])
            #expect(kept, "payload bytes kept, in order")
            for (i, s) in segs.enumerated() {
                #expect(Self.checksumsValid(s), "segment \(i) of \(shape)")
                #expect(s.count <= h + shape.gsoSize)
                #expect(Array(s[0..<2]) == Array(packet[0..<2]))
                if shape.ipv6 {
                    #expect(Int(s[4]) << 8 | Int(s[5]) == s.count - 40)
                } else {
                    #expect(Int(s[2]) << 8 | Int(s[3]) == s.count)
                    #expect(UInt16(s[4]) << 8 | UInt16(s[5]) == (UInt16(packet[4]) << 8 | UInt16(packet[5])) &+ UInt16(i))
                }
                let t = shape.ipv6 ? 40 : 20 + 4 * shape.ipOptions
                if shape.udp {
                    #expect(Int(s[t + 4]) << 8 | Int(s[t + 5]) == s.count - t)
                } else {
                    let seq = { (b: [UInt8]) in b[(t + 4)..<(t + 8)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
                    #expect(seq(s) == seq(packet) &+ UInt32(i * shape.gsoSize))
                    let last = i == segs.count - 1
                    #expect(s[t + 13] & (TCPFlags.fin | TCPFlags.psh) == (last ? shape.flags & (TCPFlags.fin | TCPFlags.psh) : 0))
                    #expect(s[t + 13] & TCPFlags.cwr == (i == 0 ? shape.flags & TCPFlags.cwr : 0))
                    let end = t + 20 + 4 * shape.tcpOptions
                    #expect(s[(t + 14)..<(t + 16)] == packet[(t + 14)..<(t + 16)] && s[(t + 18)..<end] == packet[(t + 18)..<end], "window, urgent pointer, options repeated")
                }
            }
        }
    }

    @Test("coalesce(segment(p)) re-segments to exactly segment(p); a plain ACK/PSH run gives back p itself")
    func roundTrip() throws {
        var rng = SplitMix64(seed: 13)
        var merged = 0
        for _ in 0..<300 {
            let shape = Self.randomShape(&rng)
            let (packet, header) = Self.superPacket(shape, &rng)
            let segs = try Self.segments(packet, header)
            let out = Self.coalesce(segs)
            let again = try out.flatMap { try Self.segments($0.1, $0.0) }
            let same = again == segs
            #expect(same, "\(shape)")
            for (h, p) in out where h.gso == VirtioNetHeader.GSO.none { #expect(Self.checksumsValid(p)) }
            let plain = shape.udp || shape.flags & ~TCPFlags.psh == TCPFlags.ack
            if plain {
                #expect(out.count == 1)
                if segs.count > 1 {
                    merged += 1
                    let identical = out.first?.1 == packet
                    #expect(identical, "the super-packet's bytes, partial checksum included")
                    #expect(out.first?.0 == header)
                }
            } else if shape.flags & (TCPFlags.urg | TCPFlags.ece) != 0 {
                #expect(out.count == segs.count, "URG and ECE segments go alone")
            } else {
                #expect(out.count <= 2, "FIN ends a run, CWR begins one: \(out.count) packets from \(segs.count)")
            }
        }
        #expect(merged > 100)
    }

    @Test("non-GSO packets with a partial checksum are finished")
    func partialChecksumFinished() throws {
        var rng = SplitMix64(seed: 14)
        for udp in [false, true] {
            var shape = Shape()
            shape.udp = udp
            shape.payload = 700
            var (packet, header) = Self.superPacket(shape, &rng)
            header.gsoType = 0
            header.gsoSize = 0
            let segs = try Self.segments(packet, header)
            #expect(segs.count == 1 && Self.checksumsValid(segs[0]))
            #expect(!Self.checksumsValid(packet), "the input was partial")
        }
    }

    @Test("interleaved flows are never merged and each keeps its order")
    func flowsStayApartAndInOrder() throws {
        var rng = SplitMix64(seed: 15)
        for _ in 0..<50 {
            var flows: [[[UInt8]]] = []
            for f in 0..<Int.random(in: 2...10, using: &rng) {
                var shape = Self.randomShape(&rng)
                shape.sourcePort = UInt16(41000 + f)
                shape.payload = .random(in: 1...20000, using: &rng)
                let (p, h) = Self.superPacket(shape, &rng)
                flows.append(try Self.segments(p, h))
            }
            // Interleave at random, each flow in its own order.
            var cursors = Array(repeating: 0, count: flows.count)
            var input: [[UInt8]] = []
            while let f = flows.indices.filter({ cursors[$0] < flows[$0].count }).randomElement(using: &rng) {
                input.append(flows[f][cursors[f]])
                cursors[f] += 1
            }
            // A few adjacent swaps inside one flow: a reordering the coalescer must not repair or worsen.
            for _ in 0..<3 {
                let i = Int.random(in: 0..<(input.count - 1), using: &rng)
                if input[i][0..<40] != input[i + 1][0..<40] { input.swapAt(i, i + 1) }
            }
            let out = try Self.coalesce(input, Coalescer(flows: 4, coalesceUDP: true)).map { try Self.segments($0.1, $0.0) }
            for packet in out {
                let ports = Set(packet.map { Array($0[(($0[0] >> 4 == 6) ? 40 : Int($0[0] & 0x0f) * 4)...].prefix(4)) })
                #expect(ports.count == 1, "one flow per written packet")
            }
            let key = { (p: [UInt8]) in Array(p[((p[0] >> 4 == 6) ? 40 : Int(p[0] & 0x0f) * 4)...].prefix(4)) + [p[0] >> 4] }
            let flat = out.flatMap { $0 }
            for k in Set(input.map(key)) {
                let unchanged = flat.filter { key($0) == k } == input.filter { key($0) == k }
                #expect(unchanged, "per-flow order unchanged")
            }
        }
    }

    @Test("the daemon's coalescer leaves UDP alone: each datagram written as it came")
    func udpIsNotCoalescedByDefault() throws {
        var rng = SplitMix64(seed: 17)
        var shape = Shape()
        shape.udp = true
        shape.payload = 5000
        let (p, h) = Self.superPacket(shape, &rng)
        let segs = try Self.segments(p, h)
        let out = Self.coalesce(segs, Coalescer())
        #expect(out.count == segs.count && out.allSatisfy { $0.0 == VirtioNetHeader() })
    }

    @Test("packets the coalescer does not know pass through, after what it held")
    func unknownPacketsFlushFirst() {
        var rng = SplitMix64(seed: 16)
        var shape = Shape()
        shape.payload = 2800
        let (p, h) = Self.superPacket(shape, &rng)
        let segs = (try? Self.segments(p, h)) ?? []
        var icmp = [UInt8](repeating: 0, count: 28)
        icmp[0] = 0x45; icmp[3] = 28; icmp[9] = 1
        let out = Self.coalesce([segs[0], icmp, segs[1]])
        let order = out.map(\.1) == [segs[0], icmp, segs[1]]
        #expect(order)
    }
}
