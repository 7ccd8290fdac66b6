/// This node's sessions with every peer, and the handshake that makes them.
///
/// Each start of a node draws a fresh session nonce. Two nodes derive their
/// traffic keys from the cluster key and both nonces, so a restart of either
/// side changes every key: no (key, nonce) pair is ever used twice, and frames
/// of an older session of either side fail (`unknown_session` or
/// `authentication_failed`), whatever any clock says.
///
/// A hello from a session we do not know makes it a *candidate* and we send a
/// fresh challenge; it becomes *established* only when a hello from that same
/// session nonce echoes the challenge. A replayed hello of an older session
/// cannot echo a challenge drawn after it was captured, so it never replaces
/// the established session (which keeps carrying traffic meanwhile). Frames
/// are accepted only under an established session.
public struct SessionTable: Sendable {
    public let localNode: NodeID
    public let local: SessionNonce
    let key: ClusterKey
    let random: any RandomSource
    private var peers: [NodeID: Peer] = [:]

    /// How long a candidate waits for its challenge to be echoed before it is forgotten.
    public static let candidateLifetime: UInt64 = 5_000_000_000
    /// Immediate hello answers to one peer are at least this far apart (ns):
    /// a flood of replayed hellos is not reflected one for one.
    public static let answerGap: UInt64 = 200_000

    public struct Established: Sendable {
        public let nonce: SessionNonce
        public var session: UInt32 { nonce.id }
        let transmit: ClusterKey
        let receive: ClusterKey
        public let since: Instant
    }

    struct Candidate: Sendable {
        let nonce: SessionNonce
        let challenge: Challenge
        let since: Instant
    }

    struct Peer: Sendable {
        var established: Established?
        var candidate: Candidate?
        /// The latest challenge the peer sent us: every hello we send it echoes it.
        var theirChallenge = Challenge.none
        var lastAnswer: Instant?
    }

    /// What a received hello changed.
    public struct HelloOutcome: Equatable, Sendable {
        /// A session was established: the peer's new session id, and the one it replaced.
        public var established: (session: UInt32, replaced: UInt32?)?
        /// Send a hello back now (the peer asked for an answer, or we ask one).
        public var answer: Bool

        public static func == (a: HelloOutcome, b: HelloOutcome) -> Bool {
            a.answer == b.answer && a.established?.session == b.established?.session && a.established?.replaced == b.established?.replaced
        }
    }

    public init(localNode: NodeID, key: ClusterKey, random: some RandomSource) {
        self.localNode = localNode
        self.key = key
        self.random = random
        local = SessionNonce(random: random)
    }

    /// The session id our frames carry.
    public var localID: UInt32 { local.id }

    public func established(_ peer: NodeID) -> Established? { peers[peer]?.established }

    /// The key for frames to `peer` (nil: no session yet).
    @inline(__always)
    func transmitKey(to peer: NodeID) -> ClusterKey? { peers[peer]?.established?.transmit }

    /// The key for a frame from `peer` in its session `session` (nil: not established).
    @inline(__always)
    func receiveKey(from peer: NodeID, session: UInt32) -> ClusterKey? {
        guard let e = peers[peer]?.established, e.session == session else { return nil }
        return e.receive
    }

    /// Whether our hellos to `peer` should go out on each heartbeat tick:
    /// until a session is established, and while a candidate waits for its echo.
    public mutating func helloDue(to peer: NodeID, now: Instant) -> Bool {
        guard var p = peers[peer] else { return true }
        if let c = p.candidate, now.since(c.since) > SessionTable.candidateLifetime {
            // With a session to fall back on, forget it (a replayed hello's
            // candidate never completes). With none, ask again with a fresh
            // challenge: a hello without one gets no answer from a peer that
            // already established us, and the handshake would never finish.
            p.candidate = p.established == nil ? Candidate(nonce: c.nonce, challenge: Challenge(random: random), since: now) : nil
            peers[peer] = p
        }
        return p.established == nil || p.candidate != nil
    }

    /// The handshake fields of our next hello to `peer`.
    func handshake(to peer: NodeID, identity: Hello) -> Handshake {
        let p = peers[peer]
        return Handshake(session: local, challenge: p?.candidate?.challenge ?? .none, answer: p?.theirChallenge ?? .none, identity: identity)
    }

    /// An authenticated hello from `peer` arrived.
    public mutating func received(_ hello: Handshake, from peer: NodeID, now: Instant) -> HelloOutcome {
        var p = peers[peer] ?? Peer()
        var outcome = HelloOutcome(established: nil, answer: false)
        if hello.challenge != .none { p.theirChallenge = hello.challenge }
        if p.established?.nonce == hello.session {
            // The session we have: nothing to learn.
        } else if let c = p.candidate, c.nonce == hello.session {
            if hello.answer == c.challenge {
                outcome.established = (hello.session.id, p.established?.session)
                p.established = Established(
                    nonce: hello.session,
                    transmit: key.trafficKey(from: localNode, local, to: peer, hello.session),
                    receive: key.trafficKey(from: peer, hello.session, to: localNode, local), since: now)
                p.candidate = nil
            }
        } else {
            p.candidate = Candidate(nonce: hello.session, challenge: Challenge(random: random), since: now)
        }
        if hello.challenge != .none || p.candidate != nil {
            if p.lastAnswer.map({ now.since($0) >= SessionTable.answerGap }) ?? true {
                outcome.answer = true
                p.lastAnswer = now
            }
        }
        peers[peer] = p
        return outcome
    }
}
