/// An IPv4 or IPv6 address held by value, formatted without libc.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt64, UInt64)

    /// Parses dotted IPv4 or (possibly compressed) IPv6 text.
    public init?(_ text: String) {
        if text.contains(":") {
            guard let v6 = IPAddress.parseV6(text) else { return nil }
            self = v6
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var value: UInt32 = 0
            for part in parts {
                guard part.count <= 3, let octet = UInt8(part) else { return nil }
                value = value << 8 | UInt32(octet)
            }
            self = .v4(value)
        }
    }

    public var isIPv4: Bool { if case .v4 = self { true } else { false } }

    /// The 16-byte wire form (IPv4 as ::ffff:a.b.c.d).
    public var bytes16: [UInt8] {
        switch self {
        case .v4(let a):
            return [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + withUnsafeBytes(of: a.bigEndian, Array.init)
        case .v6(let hi, let lo):
            return withUnsafeBytes(of: hi.bigEndian, Array.init) + withUnsafeBytes(of: lo.bigEndian, Array.init)
        }
    }

    public init(bytes16 b: some Collection<UInt8>) {
        // Folded in place: no array copy (hellos decode addresses on the datapath thread).
        precondition(b.count == 16)
        var hi: UInt64 = 0, lo: UInt64 = 0
        for (i, byte) in b.enumerated() {
            if i < 8 { hi = hi << 8 | UInt64(byte) } else { lo = lo << 8 | UInt64(byte) }
        }
        if hi == 0 && lo >> 32 == 0xFFFF { self = .v4(UInt32(lo & 0xFFFF_FFFF)) } else { self = .v6(hi, lo) }
    }

    /// True if the first `prefix` bits of both addresses match.
    public func sharesPrefix(_ other: IPAddress, length prefix: Int) -> Bool {
        switch (self, other) {
        case (.v4(let a), .v4(let b)):
            guard prefix > 0 else { return true }
            let mask: UInt32 = prefix >= 32 ? .max : ~(UInt32.max >> UInt32(prefix))
            return a & mask == b & mask
        case (.v6(let ah, let al), .v6(let bh, let bl)):
            func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? .max : ~(UInt64.max >> UInt64(bits)) }
            return ah & mask(prefix) == bh & mask(prefix) && al & mask(prefix - 64) == bl & mask(prefix - 64)
        default:
            return false
        }
    }

    public var description: String {
        switch self {
        case .v4(let a):
            return "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)"
        case .v6(let hi, let lo):
            let groups = (0..<8).map { i -> UInt16 in
                let word = i < 4 ? hi : lo
                return UInt16(truncatingIfNeeded: word >> UInt64(48 - 16 * (i % 4)))
            }
            // RFC 5952: compress the longest run (>= 2) of zero groups.
            var best = (start: -1, length: 0)
            var i = 0
            while i < 8 {
                if groups[i] == 0 {
                    var j = i
                    while j < 8 && groups[j] == 0 { j += 1 }
                    if j - i > best.length && j - i >= 2 { best = (i, j - i) }
                    i = j
                } else { i += 1 }
            }
            func hex(_ range: Range<Int>) -> String { range.map { String(groups[$0], radix: 16) }.joined(separator: ":") }
            if best.start < 0 { return hex(0..<8) }
            return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
        }
    }

    static func parseV6(_ text: String) -> IPAddress? {
        var halves: [String] = [text]
        if let gap = text.firstRange(of: "::") {
            halves = [String(text[..<gap.lowerBound]), String(text[gap.upperBound...])]
            guard !halves[1].contains("::") else { return nil }
        }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard g.count >= 1 && g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        let hi = all[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let lo = all[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return .v6(hi, lo)
    }
}

/// A real or virtual address with netft's port.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16
    public init(_ address: IPAddress, port: UInt16 = Wire.defaultPort) {
        self.address = address
        self.port = port
    }
    /// The cluster-log shape: `172.16.0.181:~3343~`.
    public var description: String { "\(address):~\(port)~" }
}
