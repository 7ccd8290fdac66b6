/// The per-frame logic of a node, in place over the caller's buffers: what to
/// do with each received frame, and how to build each frame to send. The
/// dataplane (AF_XDP or UDP sockets) only moves bytes and carries out the
/// answer; the same engine runs under both, and under the tests.
public struct NodeEngine: Sendable {
    public var table: RouteTable
    /// Per peer: the data stream across routes (lossless failover, acks).
    public internal(set) var streams: StreamTable
    /// Per peer: the route its latest data came in on, where our acks go.
    public internal(set) var ackRoutes: [NodeID: RouteID] = [:]
    public let security: SecurityLevel
    /// Our session, the handshake with every peer, and the cluster key (current and, during a rotation, previous).
    public internal(set) var sessions: SessionTable
    /// Who we are, in every hello.
    public var identity = Hello(nodeName: "", addresses: [])
    let random: any RandomSource
    /// Frames refused, by reason.
    public private(set) var drops = DropCounters()

    public struct DropCounters: Equatable, Sendable {
        public private(set) var counts = InlineArray<24, UInt64>(repeating: 0)
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

    public init(table: RouteTable, security: SecurityLevel, key: ClusterKey, random: some RandomSource = SystemRandom()) {
        precondition(FrameError.allCases.count <= 24, "DropCounters holds 24 reasons")
        self.table = table
        self.security = security
        self.random = random
        sessions = SessionTable(localNode: table.localNode, key: key, random: random)
        streams = StreamTable(peers: table.peerIDs)
    }

    // MARK: Receive

    /// Authenticates and accounts a frame in `buffer[0..<length]` (`buffer` may be
    /// larger: a reply is written in place and may need the room).
    public mutating func receive(_ buffer: UnsafeMutableRawBufferPointer, length: Int, from path: FramePath?, now: Instant) -> Inbound {
        do throws(FrameError) {
            let header = try FrameCodec.readHeader(buffer, length: length)
            // Before any key is chosen: a genuine frame of another route's path
            // (a relay between networks) never counts for this one.
            if let path, !table.carries(header.route, by: path) { throw .wrongPath }
            if header.type == .hello { return try receiveHello(header, buffer, length: length, now: now) }
            // Only the peer's established session has a key: older sessions of
            // either side, and anyone before the handshake, stop here.
            guard let (rx, alternative) = sessions.receiveKeys(from: header.sender, session: header.session, now: now) else { throw .unknownSession }
            if let alternative {
                // During a rotation: find the key by its tag first (a failed
                // decryption would zero the payload), then open with it.
                if (try? FrameCodec.open(buffer, length: length, header: header, security: security, key: rx, verifyOnly: true)) != nil {
                    try FrameCodec.open(buffer, length: length, header: header, security: security, key: rx)
                } else {
                    try FrameCodec.open(buffer, length: length, header: header, security: security, key: alternative)
                    if sessions.established(header.sender)?.rotating == true { keysSwitched(with: header.sender, complete: sessions.switchKeys(of: header.sender, now: now)) }
                }
            } else {
                try FrameCodec.open(buffer, length: length, header: header, security: security, key: rx)
            }
            try table.accept(header, bytes: length, now: now)
            let payload = UnsafeRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset..<(FrameCodec.payloadOffset + Int(header.payloadLength))])
            if header.type == .data || header.type == .ack || header.type == .heartbeatRequest {
                let before = streams[header.sender]?.acknowledged
                streams.update(header.sender) { $0.acknowledge(header.acknowledgement, session: header.session) }
                // Proof our frames get through: the peer's ack moved (a request's
                // ack may have crossed from any route, so only data and acks count).
                if header.type != .heartbeatRequest && streams[header.sender]?.acknowledged != before { table.answered(on: header.route) }
            }
            switch header.type {
            case .data:
                // The stream sequence rides in the timestamp field of data frames.
                switch streams.update(header.sender, { $0.accept(header.timestamp, session: header.session, now: now) }) {
                case .new?:
                    ackRoutes[header.sender] = header.route
                case .duplicate?:
                    throw .duplicateData
                case .tooOld?, nil:
                    throw .tooOld
                }
                return .deliver(offset: FrameCodec.payloadOffset, length: Int(header.payloadLength), from: header.sender, route: header.route)
            case .heartbeatRequest:
                try readReport(payload, from: header.sender, now: now)
                return .reply(length: try answer(header, in: buffer, now: now), route: header.route)
            case .heartbeatReply:
                try readReport(payload, from: header.sender, now: now)
                table.heartbeatReplied(header, now: now)
                return .consumed(.heartbeatReply, route: header.route)
            case .ack:
                return .consumed(.ack, route: header.route)
            case .hello:
                return .consumed(.hello, route: header.route)  // handled above
            }
        } catch {
            drops.count(error)
            return .dropped(error)
        }
    }

    /// A hello: sealed with the cluster key, it carries the handshake. Its
    /// route must lead to its sender; its sequence is not windowed (a replayed
    /// hello can at most make a candidate that never completes).
    private mutating func receiveHello(
        _ header: FrameHeader, _ buffer: UnsafeMutableRawBufferPointer, length: Int, now: Instant
    ) throws(FrameError) -> Inbound {
        guard table.peer(of: header.route) == header.sender else { throw .unknownRoute }
        // The current cluster key, or during a rotation the previous one.
        var underCurrentKey = true
        do throws(FrameError) {
            if let previous = sessions.previousKey,
                (try? FrameCodec.open(buffer, length: length, header: header, security: security, key: sessions.key, verifyOnly: true)) == nil {
                try FrameCodec.open(buffer, length: length, header: header, security: security, key: previous)
                underCurrentKey = false
            } else {
                try FrameCodec.open(buffer, length: length, header: header, security: security, key: sessions.key)
            }
        } catch {
            // Unauthenticated, so only a hint: it names another key as the cause of a Down route.
            table.helloRejected(from: header.sender, now: now)
            throw error
        }
        let payload = UnsafeRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset..<(FrameCodec.payloadOffset + Int(header.payloadLength))])
        let handshake = try Handshake(decoding: payload)
        guard handshake.session.id == header.session else { throw .malformedPayload }
        let outcome = sessions.received(handshake, from: header.sender, underCurrentKey: underCurrentKey, now: now)
        if outcome.switched { keysSwitched(with: header.sender, complete: outcome.rotationComplete) }
        if let (session, replaced) = outcome.established {
            table.record(.sessionEstablished(peer: header.sender, session: session, replaced: replaced))
            table.sessionStarted(with: header.sender, now: now)
        }
        guard outcome.answer else { return .consumed(.hello, route: header.route) }
        return .reply(length: try hello(on: header.route, into: buffer, now: now), route: header.route)
    }

    /// Starts a key rotation: see `SessionTable.rotate(to:)`.
    public mutating func rotateKey(to newKey: ClusterKey) {
        sessions.rotate(to: newKey)
        table.record(.keyRotation(peersToGo: sessions.rotatingPeers, fingerprint: newKey.fingerprint))
    }

    private mutating func keysSwitched(with peer: NodeID, complete: Bool) {
        table.record(.keysSwitched(peer: peer))
        if complete { table.record(.keyRotation(peersToGo: [], fingerprint: sessions.key.fingerprint)) }
    }

    private mutating func readReport(_ payload: UnsafeRawBufferPointer, from peer: NodeID, now: Instant) throws(FrameError) {
        // A loop, not RouteReport.read's closure: capturing the engine there copied the route table per heartbeat.
        let entries = try RouteReport.validate(payload)
        for i in 0..<entries { table.reportReceived(from: peer, RouteReport.entry(payload, at: i), now: now) }
    }

    /// Rewrites a request in place as our reply: same route, our identity and
    /// sequence, the request's sequence acknowledged and its timestamp echoed.
    private mutating func answer(_ request: FrameHeader, in buffer: UnsafeMutableRawBufferPointer, now: Instant) throws(FrameError) -> Int {
        guard let sequence = table.nextSequence(on: request.route) else { throw .unknownRoute }
        guard let tx = sessions.transmitKey(to: request.sender) else { throw .unknownSession }
        let payload = UnsafeMutableRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset..<(buffer.count - security.tagSize)])
        let reportLength = try table.writeReport(for: request.sender, now: now, into: payload)
        let reply = FrameHeader(
            type: .heartbeatReply, sender: table.localNode, session: sessions.localID, route: request.route,
            payloadLength: UInt16(reportLength), sequence: sequence, acknowledgement: request.sequence,
            timestamp: request.timestamp)
        let length = try FrameCodec.seal(reply, in: buffer, security: security, key: tx)
        table.sent(on: request.route, bytes: length)
        return length
    }

    // MARK: Send

    /// Whether a hello should go out on `route` with its heartbeat: until the
    /// route's peer has a session with us, while a new one is in handshake,
    /// and while the peer is unreachable: if the peer lost our session, or an
    /// impostor's replaced its session with us (possible at security none),
    /// the hello starts a fresh handshake instead of leaving it dead for good
    /// (once a second while it lasts: `SessionTable.reprobeInterval`).
    public mutating func helloDue(on route: RouteID, now: Instant) -> Bool {
        guard let peer = table.peer(of: route) else { return false }
        if sessions.helloDue(to: peer, now: now) { return true }
        return !table.isReachable(peer) && sessions.reprobeDue(to: peer, now: now)
    }

    /// Builds our hello for `route`'s peer into `buffer`; returns its length.
    public mutating func hello(on route: RouteID, into buffer: UnsafeMutableRawBufferPointer, now: Instant) throws(FrameError) -> Int {
        guard let peer = table.peer(of: route), let sequence = table.nextSequence(on: route) else { throw .unknownRoute }
        guard buffer.count > FrameCodec.payloadOffset + security.tagSize else { throw .bufferTooSmall }
        let payload = UnsafeMutableRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset..<(buffer.count - security.tagSize)])
        let payloadLength = try sessions.handshake(to: peer, identity: identity).write(into: payload, random: random)
        let header = FrameHeader(
            type: .hello, sender: table.localNode, session: sessions.localID, route: route,
            payloadLength: UInt16(payloadLength), sequence: sequence, timestamp: now.nanoseconds)
        let length = try FrameCodec.seal(header, in: buffer, security: security, key: sessions.key)
        table.sent(on: route, bytes: length)
        return length
    }

    /// Builds a heartbeat request for `route` into `buffer`; returns its length.
    /// Throws `unknownSession` before the handshake with the route's peer is complete.
    public mutating func heartbeatRequest(on route: RouteID, into buffer: UnsafeMutableRawBufferPointer, now: Instant) throws(FrameError) -> Int {
        guard let peer = table.peer(of: route) else { throw .unknownRoute }
        guard let tx = sessions.transmitKey(to: peer) else { throw .unknownSession }
        guard let sequence = table.nextSequence(on: route) else { throw .unknownRoute }
        guard buffer.count > FrameCodec.payloadOffset + security.tagSize else { throw .bufferTooSmall }
        let payload = UnsafeMutableRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset..<(buffer.count - security.tagSize)])
        let reportLength = try table.writeReport(for: peer, now: now, into: payload)
        let header = FrameHeader(
            type: .heartbeatRequest, sender: table.localNode, session: sessions.localID, route: route,
            payloadLength: UInt16(reportLength), sequence: sequence,
            acknowledgement: streams[peer]?.received.cumulative ?? 0, timestamp: now.nanoseconds)
        let length = try FrameCodec.seal(header, in: buffer, security: security, key: tx)
        table.sent(on: route, bytes: length)
        return length
    }

    /// Wraps the inner packet already at `buffer[payloadOffset..<payloadOffset+payloadLength]`
    /// for `peer` on its active route, with the next stream sequence (or, to
    /// resend after a failover, the one it had). Returns the route, frame
    /// length and stream sequence, or nil when no route to the peer is up
    /// (the caller counts the drop).
    @inline(__always)
    public mutating func encapsulate(
        to peer: NodeID, payloadLength: Int, in buffer: UnsafeMutableRawBufferPointer, now: Instant, resending: UInt64? = nil
    ) throws(FrameError) -> (route: RouteID, length: Int, stream: UInt64)? {
        guard let route = table.activeRoute(to: peer) else { return nil }
        // One in-place lookup: the stream is advanced where it lives, never copied.
        guard let stream = resending ?? streams.update(peer, { $0.next() }) else { return nil }
        let length = try seal(
            .data, on: route, payloadLength: payloadLength, in: buffer, now: now, flags: resending == nil ? [] : .resent, streamSequence: stream)
        table.dataSent(on: route, now: now)
        return (route, length, stream)
    }

    /// Builds an acknowledgement of `peer`'s data, for the route its data last
    /// came in on (the caller sends it there); returns the route and length.
    public mutating func ack(to peer: NodeID, into buffer: UnsafeMutableRawBufferPointer, now: Instant) throws(FrameError) -> (route: RouteID, length: Int)? {
        guard let route = ackRoutes[peer] ?? table.activeRoute(to: peer) else { return nil }
        return (route, try seal(.ack, on: route, payloadLength: 0, in: buffer, now: now))
    }

    /// The peers whose unacknowledged data must be resent after `events`: their
    /// traffic moved off a route that is no longer Up (or had none). A move
    /// between two Up routes resends nothing: what is in flight still arrives.
    public func peersToResend(after events: [ClusterEvent]) -> [NodeID] {
        var peers: [NodeID] = []
        for case .routeChanged(let peer, let from, _?) in events where from.map({ table.status($0)?.state != .up }) ?? true {
            if !peers.contains(peer) { peers.append(peer) }
        }
        return peers
    }

    /// Calls `body` for every peer whose data is due an ack now.
    public func acksDue(now: Instant, _ body: (NodeID) -> Void) {
        streams.forEach { peer, stream in if stream.ackDeadline.map({ $0 <= now }) ?? false { body(peer) } }
    }

    /// The earliest time an ack is due (nil: none).
    public var nextAckDeadline: Instant? {
        var earliest: Instant?
        streams.forEach { _, stream in
            if let due = stream.ackDeadline, earliest.map({ due < $0 }) ?? true { earliest = due }
        }
        return earliest
    }

    @inline(__always)
    mutating func seal(
        _ type: FrameType, on route: RouteID, payloadLength: Int, in buffer: UnsafeMutableRawBufferPointer, now: Instant,
        flags: FrameFlags = [], streamSequence: UInt64? = nil
    ) throws(FrameError) -> Int {
        guard payloadLength <= Int(UInt16.max) else { throw .bufferTooSmall }
        guard let peer = table.peer(of: route) else { throw .unknownRoute }
        guard let tx = sessions.transmitKey(to: peer) else { throw .unknownSession }
        guard let sequence = table.nextSequence(on: route) else { throw .unknownRoute }
        // Data and acks carry the cumulative ack of the peer's stream; a data
        // frame carries its stream sequence where other frames carry a clock.
        let header = FrameHeader(
            type: type, flags: flags, sender: table.localNode, session: sessions.localID, route: route,
            payloadLength: UInt16(payloadLength), sequence: sequence,
            acknowledgement: streams[peer]?.received.cumulative ?? 0, timestamp: streamSequence ?? now.nanoseconds)
        let length = try FrameCodec.seal(header, in: buffer, security: security, key: tx)
        table.sent(on: route, bytes: length)
        streams.update(peer) { $0.acked() }
        return length
    }
}
