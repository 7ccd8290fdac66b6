import Testing

@testable import NetFTCore

/// The hello handshake, sessions and traffic keys, between simulated nodes
/// whose frames are really sealed and opened.
@Suite("Sessions and the handshake")
struct SessionTests {
    static func upFabric(security: SecurityLevel = .sign) -> SimulatedCluster {
        let f = SimulatedCluster(security: security)
        let ok = f.run(until: {
            (0..<2).allSatisfy { n in f.status(1, f.route(1, 2, network: n)).state == .up && f.status(2, f.route(1, 2, network: n)).state == .up }
        }, maxMs: 2000)
        #expect(ok, "routes never came up")
        return f
    }

    /// The first frame of `type` that `node` sends on `route`, built by its engine now.
    static func frame(_ f: SimulatedCluster, from node: NodeID, route: RouteID, data: [UInt8]? = nil) throws -> [UInt8] {
        let buffer = FrameBuffer(size: 2048)
        if let data {
            for (i, b) in data.enumerated() { buffer.raw[FrameCodec.payloadOffset + i] = b }
            let peer = f.engines[node]!.table.peer(of: route)!
            let sent = try #require(try f.engines[node]!.encapsulate(to: peer, payloadLength: data.count, in: buffer.raw, now: f.now))
            return Array(buffer.raw.prefix(sent.length))
        }
        return Array(buffer.raw.prefix(try f.engines[node]!.heartbeatRequest(on: route, into: buffer.raw, now: f.now)))
    }

    @Test(arguments: SecurityLevel.allCases)
    func bothSidesEstablishOneSessionAndTrafficNeedsIt(security: SecurityLevel) throws {
        let f = SimulatedCluster(security: security)
        // Before the handshake, nothing but hellos can be sealed.
        let buffer = FrameBuffer(size: 2048)
        #expect(throws: FrameError.unknownSession) { try f.engines[1]!.heartbeatRequest(on: f.route(1, 2, network: 0), into: buffer.raw, now: f.now) }
        #expect(f.run(until: { f.engines[1]!.sessions.established(2) != nil && f.engines[2]!.sessions.established(1) != nil }, maxMs: 200))
        #expect(f.engines[1]!.sessions.established(2)?.session == f.engines[2]!.sessions.localID)
        #expect(f.engines[2]!.sessions.established(1)?.session == f.engines[1]!.sessions.localID)
        #expect(f.run(until: { f.active(1, to: 2) != nil && f.active(2, to: 1) != nil }, maxMs: 500))
        // Once established, no more hellos are due.
        #expect(!f.helloDue(1, on: f.route(1, 2, network: 0)))
        let count = f.eventList(1).filter { if case .sessionEstablished = $0 { true } else { false } }.count
        #expect(count == 1)
    }

    @Test func aRestartOfEitherSideChangesTheKeysAndRefusesTheOldSession() throws {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        let oldSession = f.engines[2]!.sessions.localID
        let fromOldLife = try Self.frame(f, from: 2, route: r1)
        let toOldReceiver = try Self.frame(f, from: 1, route: r1, data: [0x45] + [UInt8](repeating: 7, count: 27))

        f.restart(2)
        let newSession = f.engines[2]!.sessions.localID
        #expect(newSession != oldSession, "a restart draws a new session")
        #expect(f.run(until: { f.engines[1]!.sessions.established(2)?.session == newSession && f.engines[2]!.sessions.established(1) != nil }, maxMs: 500))
        #expect(f.eventList(1).contains(.sessionEstablished(peer: 2, session: newSession, replaced: oldSession)))

        // The sender's old life: its session is no longer known.
        #expect(f.inject(fromOldLife, at: 1) == .dropped(.unknownSession))
        // The receiver's old life: node1's session is unchanged, but the key was
        // derived with node2's old nonce, so a captured data frame fails.
        #expect(f.inject(toOldReceiver, at: 2) == .dropped(.authenticationFailed))
        #expect(f.delivered[2, default: []].isEmpty, "the captured frame never reached node2's adapter")
        // The routes carry on under the new session.
        #expect(f.run(until: { f.status(1, r1).state == .up && f.status(2, r1).state == .up && f.active(2, to: 1) != nil }, maxMs: 1000))
    }

    @Test func aReplayedHelloOfAnOlderSessionNeverReplacesTheCurrentOne() throws {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        // A hello of node2's first life, as an attacker would have captured it.
        let buffer = FrameBuffer(size: 2048)
        let oldHello = Array(buffer.raw.prefix(try f.engines[2]!.hello(on: r1, into: buffer.raw, now: f.now)))
        f.restart(2)
        let current = f.engines[2]!.sessions.localID
        #expect(f.run(until: { f.engines[1]!.sessions.established(2)?.session == current }, maxMs: 500))
        #expect(f.run(until: { f.status(1, r1).state == .up }, maxMs: 1000))

        for _ in 0..<50 {
            _ = f.inject(oldHello, at: 1)
            f.run(ms: 2)
        }
        #expect(f.engines[1]!.sessions.established(2)?.session == current, "the replayed hello did not take over")
        f.run(ms: 300)
        #expect(f.status(1, r1).state == .up && f.status(2, r1).state == .up, "the current session kept its routes up")
        #expect(!f.eventList(1).contains { if case .routeDown = $0 { true } else { false } })
        // The candidate it made is forgotten after its lifetime; hellos stop.
        f.run(ms: SessionTable.candidateLifetime / 1_000_000 + 100)
        #expect(!f.helloDue(1, on: r1))
    }

    @Test func aHandshakeWhoseAnswersWereLostLongerThanACandidateLivesStillCompletes() throws {
        let f = SimulatedCluster()
        let routes = (0..<2).map { f.route(1, 2, network: $0) }
        // node1 is heard only once it holds a candidate for node2, so node1
        // establishes first (node2 echoes its challenge at once); from then on
        // node1's answers are lost and node2's candidate outlives its lifetime.
        for r in routes { f.block(from: 1, route: r) }
        f.run(ms: 20)
        for r in routes { f.block(from: 1, route: r, false) }
        #expect(f.run(until: { f.engines[1]!.sessions.established(2) != nil }, maxMs: 200))
        for r in routes { f.block(from: 1, route: r, inFlight: true) }
        try #require(f.engines[2]!.sessions.established(1) == nil, "node2 is still waiting for its echo")
        f.run(ms: SessionTable.candidateLifetime / 1_000_000 + 500)
        #expect(f.engines[2]!.sessions.established(1) == nil)
        #expect(f.helloDue(2, on: routes[0]), "node2 keeps asking")
        for r in routes { f.block(from: 1, route: r, false) }
        #expect(f.run(until: { f.engines[2]!.sessions.established(1)?.session == f.engines[1]!.sessions.localID }, maxMs: 1000))
        #expect(f.run(until: { routes.allSatisfy { f.status(1, $0).state == .up && f.status(2, $0).state == .up } }, maxMs: 2000))
    }

    @Test func anUnreachablePeerIsAskedAgainOnceASecondNotWithEveryHeartbeat() {
        let f = RouteTableScenarioTests.upFabric()
        // node2 goes silent (both routes), its session standing: node1 sees it unreachable.
        for n in 0..<2 { f.block(from: 2, route: f.route(2, 1, network: n)) }
        #expect(f.run(until: { !f.engines[1]!.table.isReachable(2) }, maxMs: 1000))
        let before = f.hellosSent[1, default: 0]
        f.run(ms: 3000)
        let hellos = f.hellosSent[1, default: 0] - before
        // 2 routes x 40 heartbeats a second would be 240 in 3 s.
        #expect((2...4).contains(hellos), "\(hellos) hellos in 3 s")
        // Heard again: the hellos stop and the routes come back.
        for n in 0..<2 { f.block(from: 2, route: f.route(2, 1, network: n), false) }
        #expect(f.run(until: { f.engines[1]!.table.isReachable(2) }, maxMs: 2000))
    }

    @Test func atSecurityNoneAnImpostorsSessionIsReplacedOnceThePeerFindsItselfCutOff() throws {
        let f = Self.upFabric(security: .none)
        let r1 = f.route(1, 2, network: 0)
        let genuine = f.engines[2]!.sessions.localID
        // An on-path impostor of node2 completes a handshake with node1: nothing
        // is authenticated at level none, so it can answer node1's challenge.
        var impostor = NodeEngine(table: f.engines[2]!.table, security: .none, key: testKey, random: SeededRandom(seed: 666))
        impostor.identity = Hello(nodeName: "node2", addresses: [])
        let buffer = FrameBuffer(size: 2048)
        var length = try impostor.hello(on: r1, into: buffer.raw, now: f.now)
        for step in 0..<8 {
            let toNode1 = step % 2 == 0
            let outcome = toNode1
                ? f.engines[1]!.receive(buffer.raw, length: length, from: f.engines[1]!.table.path(of: r1), now: f.now)
                : impostor.receive(buffer.raw, length: length, from: impostor.table.path(of: r1), now: f.now)
            guard case .reply(let next, _) = outcome else { break }
            length = next
        }
        #expect(f.engines[1]!.sessions.established(2)?.session == impostor.sessions.localID, "the impostor took node2's place")
        // node2's frames are now refused at node1, so node2 finds node1
        // unreachable; its hellos then make node1 take node2's session back.
        #expect(f.run(until: { f.engines[1]!.sessions.established(2)?.session == genuine }, maxMs: 3000), "node1 never took node2's session back")
        #expect(f.run(until: { (0..<2).allSatisfy { f.status(1, f.route(1, 2, network: $0)).state == .up } }, maxMs: 3000))
    }

    @Test func aForgedHelloIsRefusedBeforeItTouchesTheSession() throws {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        let before = f.engines[1]!.sessions.established(2)?.session
        let buffer = FrameBuffer(size: 2048)
        var attacker = NodeEngine(table: f.engines[2]!.table, security: .sign, key: otherKey, random: SeededRandom(seed: 99))
        let forged = Array(buffer.raw.prefix(try attacker.hello(on: r1, into: buffer.raw, now: f.now)))
        #expect(f.inject(forged, at: 1) == .dropped(.authenticationFailed))
        var truncated = forged
        truncated.removeLast(30)
        #expect(f.inject(truncated, at: 1) == .dropped(.payloadLengthMismatch))
        #expect(f.engines[1]!.sessions.established(2)?.session == before)
        #expect(!f.helloDue(1, on: r1), "no candidate was made")
    }

    @Test func trafficKeysDifferPerDirectionAndPerSession() throws {
        let a = SessionNonce(random: SeededRandom(seed: 1)), b = SessionNonce(random: SeededRandom(seed: 2))
        let c = SessionNonce(random: SeededRandom(seed: 3))
        let keys = [
            testKey.trafficKey(from: 1, a, to: 2, b), testKey.trafficKey(from: 2, b, to: 1, a),
            testKey.trafficKey(from: 1, a, to: 2, c), testKey.trafficKey(from: 1, c, to: 2, b),
        ].map(\.fingerprint)
        #expect(Set(keys).count == keys.count)
        #expect(testKey.trafficKey(from: 1, a, to: 2, b).fingerprint == keys[0], "both ends derive the same key")
        #expect(otherKey.trafficKey(from: 1, a, to: 2, b).fingerprint != keys[0])
    }
}

/// Key rotation node by node (SIGHUP with a new key file on each node in
/// turn) while data flows both ways: nothing is lost, and afterwards the old
/// key opens nothing.
@Suite("Key rotation")
struct KeyRotationTests {
    static let newKey = try! ClusterKey(secret: Array("the cluster's next key, rotated in".utf8))

    @Test(arguments: [SecurityLevel.sign, .encrypt])
    func rotatingOneNodeAtATimeLosesNothing(security: SecurityLevel) throws {
        let f = SessionTests.upFabric(security: security)
        let r1 = f.route(1, 2, network: 0)
        let beforeRotation = try SessionTests.frame(f, from: 2, route: r1, data: [0x45] + [UInt8](repeating: 1, count: 27))
        var sent = [1: 0, 2: 0]
        func stream(ms: Int) {
            for _ in 0..<ms {
                for (from, to) in [(1, 2), (2, 1)] where f.sendData(from: NodeID(from), to: NodeID(to), payload: [0x45] + [UInt8](repeating: UInt8(from), count: 59)) != nil {
                    sent[from, default: 0] += 1
                }
                f.run(ms: 1)
            }
        }
        stream(ms: 50)
        f.engines[1]!.rotateKey(to: Self.newKey)
        #expect(f.engines[1]!.sessions.rotatingPeers == [2])
        stream(ms: 200)  // node1 has the new key, node2 not yet: both keep the old traffic keys
        #expect(f.engines[1]!.sessions.established(2)?.rotating == true)
        f.engines[2]!.rotateKey(to: Self.newKey)
        var done = false
        for _ in 0..<100 where !done {
            stream(ms: 10)
            done = f.engines[1]!.sessions.previousKey == nil && f.engines[2]!.sessions.previousKey == nil
        }
        #expect(done, "the rotation never completed")
        stream(ms: 100)
        f.run(ms: 50)
        #expect(f.delivered[2, default: []].count == sent[1], "node1 -> node2: \(f.delivered[2, default: []].count) of \(sent[1]!) delivered")
        #expect(f.delivered[1, default: []].count == sent[2], "node2 -> node1: \(f.delivered[1, default: []].count) of \(sent[2]!) delivered")
        #expect(f.eventList(1).contains(.keyRotation(peersToGo: [], fingerprint: Self.newKey.fingerprint)))
        #expect(!f.eventList(1).contains { if case .routeDown = $0 { true } else { false } })
        // Once the retired key's grace is over, a frame sealed before the rotation opens nowhere.
        f.run(ms: SessionTable.retiredLifetime / 1_000_000 + 100)
        #expect(f.inject(beforeRotation, at: 1) == .dropped(.authenticationFailed))
    }
}
