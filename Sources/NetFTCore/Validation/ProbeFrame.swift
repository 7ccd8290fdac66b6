/// The frame `netft validate` sends before a node goes live: a request to
/// every peer address on each network, answered by the peer's validate run.
/// It is not a netft frame (its own magic), so the XDP classifier passes it
/// to the kernel and nftables judges it as it judges heartbeats on the
/// kernel path. The reply is the request turned around at the same size, so
/// a full-size probe tests the path's MTU both ways.
public struct ProbeFrame: Equatable, Sendable {
    public static let magic: UInt32 = 0x4E65_4656  // "NeFV"
    public static let version: UInt8 = 1
    public static let headerSize = 36

    public enum Kind: UInt8, Sendable { case request = 1, reply = 2 }

    public var kind: Kind
    /// The requester's node id, and the responder's in a reply (0 in a request).
    public var requester: NodeID
    public var responder: NodeID
    public var sequence: UInt32
    /// Each side's NIC MTU on this network, so both ends see a mismatch.
    public var requesterMTU: UInt32
    public var responderMTU: UInt32
    /// The requester's monotonic clock in ns, echoed for the round-trip time.
    public var timestamp: UInt64

    public init(kind: Kind, requester: NodeID, responder: NodeID = 0, sequence: UInt32, requesterMTU: UInt32, responderMTU: UInt32 = 0, timestamp: UInt64) {
        self.kind = kind
        self.requester = requester
        self.responder = responder
        self.sequence = sequence
        self.requesterMTU = requesterMTU
        self.responderMTU = responderMTU
        self.timestamp = timestamp
    }

    /// The frame padded with zeros to `size` bytes (at least the header).
    public func encoded(size: Int = ProbeFrame.headerSize) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(size, Self.headerSize))
        func be<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
        be(Self.magic)
        bytes += [Self.version, kind.rawValue, 0, 0]
        be(requester)
        be(responder)
        be(sequence)
        be(requesterMTU)
        be(responderMTU)
        be(timestamp)
        if size > bytes.count { bytes += [UInt8](repeating: 0, count: size - bytes.count) }
        return bytes
    }

    /// Decodes a received datagram; nil for anything that is not a version-1 probe.
    public init?(_ bytes: some Collection<UInt8>) {
        let b = Array(bytes.prefix(Self.headerSize))
        guard b.count == Self.headerSize else { return nil }
        func be32(_ at: Int) -> UInt32 { b[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        guard be32(0) == Self.magic, b[4] == Self.version, let kind = Kind(rawValue: b[5]) else { return nil }
        self.init(
            kind: kind, requester: be32(8), responder: be32(12), sequence: be32(16), requesterMTU: be32(20), responderMTU: be32(24),
            timestamp: UInt64(be32(28)) << 32 | UInt64(be32(32)))
    }

    /// The reply to this request from `responder` with its own MTU.
    public func reply(from responder: NodeID, mtu: UInt32) -> ProbeFrame {
        var r = self
        r.kind = .reply
        r.responder = responder
        r.responderMTU = mtu
        return r
    }
}
