/// The per-frame logic of a node, in place over the caller's buffers: what to
/// do with each received frame, and how to build each frame to send. The
/// dataplane (AF_XDP or UDP sockets) only moves bytes and carries out the
/// answer; the same engine runs under both, and under the tests.
public struct NodeEngine: Sendable {
    public var table: RouteTable
    public let security: SecurityLevel
    public let key: ClusterKey
    /// Frames refused, by reason.
    public private(set) var drops = DropCounters()

    public struct DropCounters: Equatable, Sendable {
        public private(set) var counts = InlineArray<16, UInt64>(repeating: 0)
        public subscript(reason: FrameError) -> UInt64 { counts[FrameError.allCases.firstIndex(of: reason)!] }
        mutating func count(_ reason: FrameError) {
            counts[FrameError.allCases.firstIndex(of: reason)!] &+= 1
        }
        public var total: UInt64 {
            var sum: UInt64 = 0
            for i in counts.indices { sum &+= counts[i] }
            return sum
        }
        public static func == (a: DropCounters, b: DropCounters) -> Bool {
            for i in a.counts.indices where a.counts[i] != b.counts[i] { return false }
            return true
        }
    }

    /// What the dataplane does with a received frame.
    public enum Inbound: Equatable, Sendable {
        /// An inner packet for the virtual adapter at buffer[offset..<offset+length].
        case deliver(offset: Int, length: Int, from: NodeID, route: RouteID)
        /// The buffer now holds a heartbeat reply of `length` bytes: send it back on `route`.
        case reply(length: Int, route: RouteID)
        /// Handled here (heartbeat reply, ack, hello); nothing to send.
        case consumed(FrameType, route: RouteID)
        /// Refused and counted.
        case dropped(FrameError)
    }

    public init(table: RouteTable, security: SecurityLevel, key: ClusterKey) {
        self.table = table
        self.security = security
        self.key = key
    }

    // MARK: Receive

    /// Authenticates and accounts a frame in `buffer[0..<length]` (`buffer` may be
    /// larger: a reply is written in place and may need the room).
    public mutating func receive(_ buffer: UnsafeMutableRawBufferPointer, length: Int, now: Instant) -> Inbound {
        do {
            let header = try FrameCodec.open(buffer, length: length, security: security, key: key)
            try table.accept(header, bytes: length, now: now)
            let payload = UnsafeRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset..<(FrameCodec.payloadOffset + Int(header.payloadLength))])
            switch header.type {
            case .data:
                return .deliver(offset: FrameCodec.payloadOffset, length: Int(header.payloadLength), from: header.sender, route: header.route)
            case .heartbeatRequest:
                try readReport(payload, from: header.sender, now: now)
                return .reply(length: try answer(header, in: buffer, now: now), route: header.route)
            case .heartbeatReply:
                try readReport(payload, from: header.sender, now: now)
                table.heartbeatReplied(header, now: now)
                return .consumed(.heartbeatReply, route: header.route)
            case .ack:
                table.acknowledged(on: header.route, upTo: header.acknowledgement) { _ in }
                return .consumed(.ack, route: header.route)
            case .hello:
                _ = try Hello(decoding: payload)
                return .consumed(.hello, route: header.route)
            }
        } catch {
            drops.count(error)
            return .dropped(error)
        }
    }

    private mutating func readReport(_ payload: UnsafeRawBufferPointer, from peer: NodeID, now: Instant) throws(FrameError) {
        try RouteReport.read(payload) { entry in table.reportReceived(from: peer, entry, now: now) }
    }

    /// Rewrites a request in place as our reply: same route, our identity and
    /// sequence, the request's sequence acknowledged and its timestamp echoed.
    private mutating func answer(_ request: FrameHeader, in buffer: UnsafeMutableRawBufferPointer, now: Instant) throws(FrameError) -> Int {
        guard let sequence = table.nextSequence(on: request.route) else { throw .unknownRoute }
        let payload = UnsafeMutableRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset..<(buffer.count - security.tagSize)])
        let reportLength = try table.writeReport(for: request.sender, now: now, into: payload)
        let reply = FrameHeader(
            type: .heartbeatReply, sender: table.localNode, epoch: table.epoch, route: request.route,
            payloadLength: UInt16(reportLength), sequence: sequence, acknowledgement: request.sequence,
            timestamp: request.timestamp)
        let length = try FrameCodec.seal(reply, in: buffer, security: security, key: key)
        table.sent(on: request.route, bytes: length)
        return length
    }

    // MARK: Send

    /// Builds a heartbeat request for `route` into `buffer`; returns its length.
    public mutating func heartbeatRequest(on route: RouteID, into buffer: UnsafeMutableRawBufferPointer, now: Instant) throws(FrameError) -> Int {
        guard let status = table.status(route), let sequence = table.nextSequence(on: route) else { throw .unknownRoute }
        guard buffer.count > FrameCodec.payloadOffset + security.tagSize else { throw .bufferTooSmall }
        let payload = UnsafeMutableRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset..<(buffer.count - security.tagSize)])
        let reportLength = try table.writeReport(for: status.route.peer, now: now, into: payload)
        let header = FrameHeader(
            type: .heartbeatRequest, sender: table.localNode, epoch: table.epoch, route: route,
            payloadLength: UInt16(reportLength), sequence: sequence,
            acknowledgement: status.window.cumulative, timestamp: now.nanoseconds)
        let length = try FrameCodec.seal(header, in: buffer, security: security, key: key)
        table.sent(on: route, bytes: length)
        return length
    }

    /// Wraps the inner packet already at `buffer[payloadOffset..<payloadOffset+payloadLength]`
    /// for `peer` on its active route. Returns the route and frame length, or
    /// nil when no route to the peer is up (the caller counts the drop).
    @inline(__always)
    public mutating func encapsulate(
        to peer: NodeID, payloadLength: Int, in buffer: UnsafeMutableRawBufferPointer, now: Instant, flags: FrameFlags = []
    ) throws(FrameError) -> (route: RouteID, length: Int, sequence: UInt64)? {
        guard let route = table.activeRoute(to: peer) else { return nil }
        let (length, sequence) = try seal(.data, on: route, payloadLength: payloadLength, in: buffer, now: now, flags: flags)
        return (route, length, sequence)
    }

    /// Builds an acknowledgement for `route` (no payload); returns its length.
    public mutating func ack(on route: RouteID, into buffer: UnsafeMutableRawBufferPointer, now: Instant) throws(FrameError) -> Int {
        try seal(.ack, on: route, payloadLength: 0, in: buffer, now: now).length
    }

    @inline(__always)
    mutating func seal(
        _ type: FrameType, on route: RouteID, payloadLength: Int, in buffer: UnsafeMutableRawBufferPointer, now: Instant,
        flags: FrameFlags = []
    ) throws(FrameError) -> (length: Int, sequence: UInt64) {
        guard payloadLength <= Int(UInt16.max) else { throw .bufferTooSmall }
        guard let sequence = table.nextSequence(on: route) else { throw .unknownRoute }
        let header = FrameHeader(
            type: type, flags: flags, sender: table.localNode, epoch: table.epoch, route: route,
            payloadLength: UInt16(payloadLength), sequence: sequence,
            acknowledgement: table.acknowledgement(on: route), timestamp: now.nanoseconds)
        let length = try FrameCodec.seal(header, in: buffer, security: security, key: key)
        table.sent(on: route, bytes: length)
        return (length, sequence)
    }
}
