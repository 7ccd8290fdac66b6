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
    /// The cluster key: seals our hellos; every new traffic key comes from it.
    public private(set) var key: ClusterKey
    /// The key before the last rotation, while some peer may still use it:
    /// hellos sealed with it still open (nil: no rotation under way).
    public private(set) var previousKey: ClusterKey?
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
        var transmit: ClusterKey
        var receive: ClusterKey
        public let since: Instant
        /// During a key rotation: the traffic keys from the new cluster key,
        /// used once the peer shows it has that key too (a frame or a hello under it).
        var next: (transmit: ClusterKey, receive: ClusterKey)?
        /// After the switch: the old receive key, for frames already on their way.
        var retired: (receive: ClusterKey, until: Instant)?
        /// Whether the peer still has to show it holds the current cluster key.
        public var rotating: Bool { next != nil }
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
        /// The last hello sent while the peer was unreachable with a session established.
        var lastReprobe: Instant?
    }

    /// How often a peer that is unreachable although its session stands is
    /// asked again with a hello: once per second, over all its routes, not
    /// with every heartbeat on every route. A saturated node whose peers all
    /// look unreachable would otherwise get a hello per route per Delay on
    /// top of its heartbeats, and the load would feed itself.
    public static let reprobeInterval: UInt64 = 1_000_000_000

    /// Whether a hello should go to `peer`, established but unreachable, now
    /// (at most once per `reprobeInterval`).
    public mutating func reprobeDue(to peer: NodeID, now: Instant) -> Bool {
        guard var p = peers[peer] else { return true }
        if let last = p.lastReprobe, now.since(last) < SessionTable.reprobeInterval { return false }
        p.lastReprobe = now
        peers[peer] = p
        return true
    }

    /// What a received hello changed.
    public struct HelloOutcome: Equatable, Sendable {
        /// A session was established: the peer's new session id, and the one it replaced.
        public var established: (session: UInt32, replaced: UInt32?)?
        /// Send a hello back now (the peer asked for an answer, or we ask one).
        public var answer: Bool
        /// The peer showed the current key: its traffic keys switched to it.
        public var switched = false
        /// ... and it was the last peer on the old key.
        public var rotationComplete = false

        public static func == (a: HelloOutcome, b: HelloOutcome) -> Bool {
            a.answer == b.answer && a.established?.session == b.established?.session && a.established?.replaced == b.established?.replaced
                && a.switched == b.switched && a.rotationComplete == b.rotationComplete
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

    /// The keys a frame from `peer` in its session `session` may be sealed
    /// with, in the order to try them: the receive key, then during a rotation
    /// the new one (the peer switched), or after it the retired one (a frame
    /// sent before the switch). Nil: no such session.
    @inline(__always)
    func receiveKeys(from peer: NodeID, session: UInt32, now: Instant) -> (ClusterKey, ClusterKey?)? {
        guard let e = peers[peer]?.established, e.session == session else { return nil }
        if let next = e.next { return (e.receive, next.receive) }
        if let retired = e.retired, now < retired.until { return (e.receive, retired.receive) }
        return (e.receive, nil)
    }

    /// How long a retired receive key still opens frames after the switch.
    public static let retiredLifetime: UInt64 = 2_000_000_000

    /// Starts a key rotation (SIGHUP with a new key file): our hellos are
    /// sealed with `newKey` from now on, hellos under the old key still open,
    /// and every session gets traffic keys from `newKey`, used by each side
    /// once the other shows it has `newKey`. Until then nothing changes on
    /// the wire, so a rotation done node by node loses nothing.
    public mutating func rotate(to newKey: ClusterKey) {
        previousKey = key
        key = newKey
        for (peer, var p) in peers {
            if var e = p.established {
                e.next = (newKey.trafficKey(from: localNode, local, to: peer, e.nonce), newKey.trafficKey(from: peer, e.nonce, to: localNode, local))
                e.retired = nil
                p.established = e
                peers[peer] = p
            }
        }
        if !peers.values.contains(where: { $0.established?.rotating ?? false }) { previousKey = nil }
    }

    /// The peer showed it holds the current key: its traffic keys switch.
    /// True when this completed the rotation with every peer.
    mutating func switchKeys(of peer: NodeID, now: Instant) -> Bool {
        guard var p = peers[peer], var e = p.established, let next = e.next else { return false }
        e.retired = (e.receive, Instant(nanoseconds: now.nanoseconds + SessionTable.retiredLifetime))
        e.transmit = next.transmit
        e.receive = next.receive
        e.next = nil
        p.established = e
        peers[peer] = p
        guard previousKey != nil, !peers.values.contains(where: { $0.established?.rotating ?? false }) else { return false }
        previousKey = nil
        return true
    }

    /// The peer left the configuration: its session and handshake are gone.
    /// A rotation that waited only for it is complete.
    mutating func forget(_ peer: NodeID) {
        peers[peer] = nil
        if previousKey != nil, !peers.values.contains(where: { $0.established?.rotating ?? false }) { previousKey = nil }
    }

    /// The peers that still have to show they hold the current key.
    public var rotatingPeers: [NodeID] { peers.compactMap { $0.value.established?.rotating == true ? $0.key : nil }.sorted() }

    /// Whether our hellos to `peer` should go out on each heartbeat tick:
    /// until a session is established, while a candidate waits for its echo,
    /// and while a rotation waits for the peer (a hello under the new key
    /// tells a peer that already has it to switch).
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
        return p.established == nil || p.candidate != nil || p.established?.rotating == true
    }

    /// The handshake fields of our next hello to `peer`.
    func handshake(to peer: NodeID, identity: Hello) -> Handshake {
        let p = peers[peer]
        return Handshake(session: local, challenge: p?.candidate?.challenge ?? .none, answer: p?.theirChallenge ?? .none, identity: identity)
    }

    /// An authenticated hello from `peer` arrived, sealed with the current
    /// cluster key (`underCurrentKey`) or the previous one.
    public mutating func received(_ hello: Handshake, from peer: NodeID, underCurrentKey: Bool = true, now: Instant) -> HelloOutcome {
        var p = peers[peer] ?? Peer()
        var outcome = HelloOutcome(established: nil, answer: false)
        if hello.challenge != .none { p.theirChallenge = hello.challenge }
        if p.established?.nonce == hello.session {
            // The session we have: it may show the peer holds the new key.
            if underCurrentKey, p.established?.rotating == true {
                peers[peer] = p
                outcome.switched = true
                outcome.rotationComplete = switchKeys(of: peer, now: now)
                p = peers[peer]!
                // Answer under the new key, so the peer switches too if it has not.
                outcome.answer = p.lastAnswer.map { now.since($0) >= SessionTable.answerGap } ?? true
                if outcome.answer { p.lastAnswer = now }
            }
        } else if let c = p.candidate, c.nonce == hello.session {
            if hello.answer == c.challenge {
                outcome.established = (hello.session.id, p.established?.session)
                // Keys from the key the peer sealed with; a peer still on the
                // previous key switches like the rest once it shows the new one.
                let sealing = underCurrentKey ? key : (previousKey ?? key)
                var e = Established(
                    nonce: hello.session,
                    transmit: sealing.trafficKey(from: localNode, local, to: peer, hello.session),
                    receive: sealing.trafficKey(from: peer, hello.session, to: localNode, local), since: now)
                if !underCurrentKey {
                    e.next = (key.trafficKey(from: localNode, local, to: peer, hello.session), key.trafficKey(from: peer, hello.session, to: localNode, local))
                }
                p.established = e
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
