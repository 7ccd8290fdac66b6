/// The netft wire format, version 3 (docs/PROTOCOL.md describes every byte).
/// Constants shared with the XDP classifier (bpf/netft_wire.h); a dataplane
/// test checks both sides agree.
public enum Wire {
    /// "NeFT" in network order: the first four bytes after the UDP header.
    public static let magic: UInt32 = 0x4E65_4654
    public static let version: UInt8 = 3
    public static let defaultPort: UInt16 = 3343

    /// Fixed header length; byte 7 carries it in 4-byte words.
    public static let headerSize = 48
    /// Poly1305 tag after the payload when the frame is signed or encrypted.
    public static let tagSize = 16

    /// Header field offsets.
    enum Offset {
        static let magic = 0, version = 4, type = 5, flags = 6, headerWords = 7
        static let sender = 8, session = 12, route = 16, payloadLength = 20, reserved = 22
        static let sequence = 24, acknowledgement = 32, timestamp = 40
    }
}

/// What a frame is for.
public enum FrameType: UInt8, CaseIterable, Sendable {
    /// Sent on every route every Delay; payload: a route report.
    case heartbeatRequest = 1
    /// Answers a request on the same route; echoes its timestamp; payload: a route report.
    case heartbeatReply = 2
    /// An inner IP packet from the virtual adapter.
    case data = 3
    /// A cumulative acknowledgement of data on this route; no payload.
    case ack = 4
    /// The handshake: the sender's session nonce, a challenge and the answer to the
    /// peer's, then its name and addresses. Sealed with the cluster key.
    case hello = 5
}

/// Header flags (byte 6). Bits not named here must be zero.
public struct FrameFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// A 16-byte authentication tag follows the payload.
    public static let authenticated = FrameFlags(rawValue: 1 << 0)
    /// The payload is encrypted (implies authenticated).
    public static let encrypted = FrameFlags(rawValue: 1 << 1)
    /// A data frame resent on a new route after failover.
    public static let resent = FrameFlags(rawValue: 1 << 2)
    public static let known: FrameFlags = [.authenticated, .encrypted, .resent]
}

/// Identifies a node in the cluster (from configuration).
public typealias NodeID = UInt32
/// Identifies a route (a pair of real endpoints); both ends compute the same value.
public typealias RouteID = UInt32

/// The fixed header of every frame, decoded.
public struct FrameHeader: Equatable, Hashable, Sendable {
    public var type: FrameType
    public var flags: FrameFlags
    public var sender: NodeID
    /// The sender's session: random at each start, the first 4 bytes of its
    /// session nonce. Selects the traffic key; never compared by size.
    public var session: UInt32
    public var route: RouteID
    public var payloadLength: UInt16
    public var sequence: UInt64
    /// Data/ack: cumulative acknowledgement. Heartbeat reply: the request's sequence.
    /// Heartbeat request: the highest sequence received from the peer on this route.
    public var acknowledgement: UInt64
    /// Sender's clock in ns; a heartbeat reply echoes the request's.
    public var timestamp: UInt64

    public init(
        type: FrameType, flags: FrameFlags = [], sender: NodeID, session: UInt32, route: RouteID,
        payloadLength: UInt16 = 0, sequence: UInt64, acknowledgement: UInt64 = 0, timestamp: UInt64 = 0
    ) {
        self.type = type
        self.flags = flags
        self.sender = sender
        self.session = session
        self.route = route
        self.payloadLength = payloadLength
        self.sequence = sequence
        self.acknowledgement = acknowledgement
        self.timestamp = timestamp
    }
}

/// Why a frame was refused. Every malformation has a name the caller counts.
public enum FrameError: String, Error, CaseIterable, Sendable {
    case truncated = "truncated"
    case badMagic = "bad_magic"
    case unsupportedVersion = "unsupported_version"
    case badHeaderLength = "bad_header_length"
    case unknownType = "unknown_type"
    case reservedBitsSet = "reserved_bits_set"
    case payloadLengthMismatch = "payload_length_mismatch"
    case securityMismatch = "security_mismatch"
    case authenticationFailed = "authentication_failed"
    case malformedPayload = "malformed_payload"
    case bufferTooSmall = "buffer_too_small"
    case replayed = "replayed"
    case tooOld = "too_old"
    /// A data frame whose stream sequence was already delivered (a copy resent after a failover).
    case duplicateData = "duplicate_data"
    /// No session with the sender has this id: an older session of the sender
    /// (it restarted), a handshake not yet complete, or a forgery.
    case unknownSession = "unknown_session"
    case unknownRoute = "unknown_route"
    /// A frame for a route that came in on another link or from another address
    /// than the route's own: a relay between networks, or a spoofer.
    case wrongPath = "wrong_path"
}
