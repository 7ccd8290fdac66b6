import Testing

@testable import NetFTCore

@Suite("Routes, diagnosis and failover between simulated nodes")
struct RouteTableScenarioTests {
    @Test func routesComeUpAndTheBestNetworkCarriesTraffic() {
        let f = SimulatedCluster()
        #expect(f.run(until: {
            (0..<2).allSatisfy { n in f.status(1, f.route(1, 2, network: n)).state == .up && f.status(2, f.route(2, 1, network: n)).state == .up }
        }, maxMs: 500))
        let r1 = f.route(1, 2, network: 0), r2 = f.route(1, 2, network: 1)
        #expect(f.active(1, to: 2) == r1)
        #expect(f.active(2, to: 1) == r1)
        // The order in which it happened: the handshake first, then the routes.
        let session = f.engines[2]!.sessions.localID
        #expect(Array(f.eventList(1).prefix(6)) == [
            .routeAdded(r1), .routeAdded(r2), .sessionEstablished(peer: 2, session: session, replaced: nil),
            .routeUp(r1), .nodeReachable(2), .routeChanged(peer: 2, from: nil, to: r1),
        ])
        #expect(f.eventList(1).contains(.routeUp(r2)))
        #expect(f.status(1, r1).monitor.rtt.smoothed > 0)
    }

    static func upFabric(_ settings: HeartbeatSettings = .fast, networks: Int = 2) -> SimulatedCluster {
        let nets = (0..<networks).map { SimulatedCluster.Network(name: "net\($0 + 1)", priority: $0 + 1) }
        let f = SimulatedCluster(networks: nets, settings: settings)
        let ok = f.run(until: {
            (0..<networks).allSatisfy { n in f.status(1, f.route(1, 2, network: n)).state == .up && f.status(2, f.route(1, 2, network: n)).state == .up }
        }, maxMs: 2000)
        #expect(ok, "routes never came up")
        return f
    }

    @Test func portBlockedBothWaysIsDiagnosedOnBothSides() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        f.block(from: 1, route: r1)
        f.block(from: 2, route: r1)
        f.run(ms: 400)
        #expect(f.status(1, r1).state == .down)
        #expect(f.status(1, r1).diagnosis == .portBlockedSuspected)
        #expect(f.status(2, r1).diagnosis == .portBlockedSuspected)
        #expect(f.active(1, to: 2) == f.route(1, 2, network: 1), "traffic moved to the other network")
        #expect(!f.eventList(1).contains(.nodeUnreachable(2)))
    }

    @Test func asymmetricLossIsNamedOnBothSidesAndTheNodeStaysReachable() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        f.block(from: 2, route: r1)  // node 2's frames on net1 are lost: 1 cannot hear 2
        f.run(ms: 500)
        #expect(f.status(1, r1).diagnosis == .asymmetric(weHearThem: false))
        #expect(f.status(2, r1).diagnosis == .asymmetric(weHearThem: true))
        #expect(f.engines[1]!.table.isReachable(2) && f.engines[2]!.table.isReachable(1))
        #expect(f.active(1, to: 2) == f.route(1, 2, network: 1))
        #expect(f.active(2, to: 1) == f.route(1, 2, network: 1))
    }

    @Test func localLinkDownIsImmediateAndThePeerSeesRemoteLinkDown() {
        let f = Self.upFabric(.windowsDefault)
        let r1 = f.route(1, 2, network: 0)
        f.setLink(1, network: 0, up: false)
        #expect(f.status(1, r1).diagnosis == .localLinkDown, "no waiting for missed heartbeats")
        #expect(f.active(1, to: 2) == f.route(1, 2, network: 1))
        f.run(ms: 7000)
        #expect(f.status(2, r1).diagnosis == .remoteLinkDown)
        f.setLink(1, network: 0, up: true)
        #expect(f.run(until: { f.status(1, r1).state == .up }, maxMs: 3000))
        let upAt = f.now
        #expect(f.run(until: { f.active(1, to: 2) == r1 }, maxMs: 25000), "the preferred network takes traffic back")
        let held = f.now.since(upAt) / 1_000_000
        #expect(held >= f.status(1, r1).monitor.holdDown.value, "not before it has been up for the hold-down (\(held) ms)")
    }

    @Test("a peer not started yet: routes Down as no_session, then Up on its arrival with the preferred network active at once")
    func aPeerThatStartsLateIsNamedAndTakesTrafficAtOnce() {
        let f = SimulatedCluster()
        f.engines[2] = nil  // node2's daemon is not running yet
        let r1 = f.route(1, 2, network: 0), r2 = f.route(1, 2, network: 1)
        f.run(ms: HeartbeatSettings.fast.detectionTime.value + 50)
        for r in [r1, r2] {
            #expect(f.status(1, r).state == .down)
            #expect(f.status(1, r).diagnosis == .noSession, "no hello answered: that, not the misses, is named")
        }
        #expect(f.eventList(1).contains(.routeDown(r1, .noSession)))
        f.engines[2] = f.makeEngine(2, peers: [1, 2], starts: 1)
        #expect(f.run(until: { f.status(1, r1).state == .up && f.status(1, r2).state == .up }, maxMs: 500))
        #expect(f.status(1, r1).diagnosis == nil)
        #expect(f.active(1, to: 2) == r1, "the preferred network at once: a route never Up is no flap to hold down")
    }

    @Test("a peer with another cluster key: its rejected hellos are named (hello_rejected), not just no session")
    func aPeerWithAnotherKeyIsNamed() throws {
        let f = SimulatedCluster()
        var table = RouteTable(localNode: 2)
        for route in f.plan(2, peers: [1, 2]) { table.add(route, now: f.now) }
        let otherKey = try ClusterKey(secret: Array("a different cluster's secret".utf8))
        f.engines[2] = NodeEngine(table: table, security: f.security, key: otherKey, random: SeededRandom(seed: 99))
        let r1 = f.route(1, 2, network: 0)
        f.run(ms: HeartbeatSettings.fast.detectionTime.value + 50)
        #expect(f.status(1, r1).state == .down)
        #expect(f.status(1, r1).diagnosis == .helloRejected, "\(String(describing: f.status(1, r1).diagnosis))")
        #expect(f.status(2, f.route(2, 1, network: 0)).diagnosis == .helloRejected, "both ends name it")
    }

    @Test func totalLossMakesTheNodeUnreachableAndOneNetworkBringsItBack() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0), r2 = f.route(1, 2, network: 1)
        for r in [r1, r2] { f.block(from: 1, route: r); f.block(from: 2, route: r) }
        let start = f.now
        #expect(f.run(until: { !f.engines[1]!.table.isReachable(2) }, maxMs: 1000))
        let detect = f.now.since(start) / 1_000_000
        #expect(detect >= HeartbeatSettings.fast.detectionTime.value && detect <= HeartbeatSettings.fast.detectionTime.value + 25)
        #expect(f.active(1, to: 2) == nil)
        #expect(f.status(1, r1).diagnosis == .missedHeartbeats(4), "nothing else is known with every route silent")
        f.block(from: 1, route: r2, false)
        f.block(from: 2, route: r2, false)
        #expect(f.run(until: { f.engines[1]!.table.isReachable(2) }, maxMs: 1000))
        #expect(f.active(1, to: 2) == r2)
        let tail = f.eventList(1).suffix(3)
        #expect(tail.contains(.nodeReachable(2)))
    }

    @Test func failoverChoosesTheNextBestAndSelectionNeverPicksADownRoute() {
        let f = Self.upFabric(networks: 3)
        let r = (0..<3).map { f.route(1, 2, network: $0) }
        f.block(from: 1, route: r[0]); f.block(from: 2, route: r[0])
        #expect(f.run(until: { f.active(1, to: 2) != r[0] }, maxMs: 1000))
        #expect(f.active(1, to: 2) == r[1], "priority 2 before priority 3")
        // Random outages: at every step, the active route is Up (or none is).
        var rng = SplitMix64(seed: 5)
        for _ in 0..<60 {
            let victim = r.randomElement(using: &rng)!
            let on = Bool.random(using: &rng)
            f.block(from: 1, route: victim, on); f.block(from: 2, route: victim, on)
            for _ in 0..<50 {
                f.run(ms: 1)
                if let active = f.active(1, to: 2) { #expect(f.status(1, active).state == .up) }
            }
        }
    }

    @Test func unacknowledgedDataIsResentOnceInOrderAfterFailover() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        for n in 0..<5 { f.sendData(from: 1, to: 2, payload: [UInt8(n)]) }
        f.run(ms: 20)  // acknowledged within the ack delay
        #expect(f.delivered[2]?.count == 5)
        #expect(f.engines[1]!.streams[2]?.unacknowledged == nil, "acknowledged data is released")
        f.block(from: 1, route: r1); f.block(from: 2, route: r1)
        for n in 5..<9 { f.sendData(from: 1, to: 2, payload: [UInt8(n)]) }
        #expect(f.engines[1]!.streams[2]?.unacknowledged == 6...9)
        #expect(f.run(until: { f.active(1, to: 2) != r1 }, maxMs: 500))
        f.run(ms: 20)
        #expect(f.resent[1] == 4, "exactly the frames lost in the outage")
        #expect(f.delivered[2]!.map { $0[0] } == Array(0..<9), "each once, in order")
        #expect(f.engines[1]!.streams[2]?.unacknowledged == nil)
    }

    @Test func acksCrossWhicheverRouteWorks() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        f.block(from: 2, route: r1)  // node 2's acks on net1 are lost; its heartbeats on net2 carry them
        for n in 0..<6 { f.sendData(from: 1, to: 2, payload: [UInt8(n)]) }
        #expect(f.run(until: { f.active(1, to: 2) != r1 }, maxMs: 500))
        f.run(ms: 20)
        #expect(f.resent[1, default: 0] == 0, "node 1 knew from net2 that everything arrived")
        #expect(f.delivered[2]!.map { $0[0] } == Array(0..<6))
    }

    @Test func aResentCopyOfDataThatArrivedIsRefusedAsADuplicate() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0), r2 = f.route(1, 2, network: 1)
        // Node 2 goes silent everywhere: node 1's data arrives, but no ack comes back.
        f.block(from: 2, route: r1); f.block(from: 2, route: r2)
        for n in 0..<6 { f.sendData(from: 1, to: 2, payload: [UInt8(n)]) }
        #expect(f.run(until: { f.active(1, to: 2) == nil }, maxMs: 1000))
        f.block(from: 2, route: r2, false)  // net2 answers again: node 1 resends what it never saw acknowledged
        #expect(f.run(until: { f.active(1, to: 2) == r2 }, maxMs: 1000))
        f.run(ms: 20)
        #expect(f.resent[1, default: 0] == 6)
        #expect(f.delivered[2]!.map { $0[0] } == Array(0..<6), "delivered exactly once")
        #expect(f.engines[2]!.drops[.duplicateData] == 6)
    }

    /// A stream of one packet per millisecond from node 1 to node 2, for `ms`.
    static func stream(_ f: SimulatedCluster, ms: Int, from start: Int = 0) {
        for n in 0..<ms {
            f.sendData(from: 1, to: 2, payload: withUnsafeBytes(of: UInt32(start + n).bigEndian, Array.init))
            f.run(ms: 1)
        }
    }

    static func numbers(_ packets: [[UInt8]]) -> [Int] { packets.map { Int($0.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) } }

    @Test func aSilentCutUnderTrafficIsFoundInTensOfMillisecondsAndLosesNothing() {
        var detections: [UInt64] = []
        for trial in 0..<20 {
            let f = Self.upFabric()
            let r1 = f.route(1, 2, network: 0)
            Self.stream(f, ms: 200 + trial * 7)
            let cut = f.now
            f.block(from: 1, route: r1); f.block(from: 2, route: r1)
            var sent = 200 + trial * 7
            while f.active(1, to: 2) == r1 && sent < 2000 {
                Self.stream(f, ms: 1, from: sent)
                sent += 1
            }
            detections.append(f.now.since(cut) / 1_000_000)
            #expect(f.status(1, r1).diagnosis?.code == "unanswered_data", "found by the data path, not the heartbeats")
            Self.stream(f, ms: 50, from: sent)
            f.run(ms: 20)
            let got = Self.numbers(f.delivered[2] ?? [])
            #expect(got == Array(0..<(sent + 50)), "trial \(trial): every datagram once, in order (\(got.count) of \(sent + 50))")
        }
        let worst = detections.max() ?? 0
        print("[core] silent cut under 1000 packets/s, 20 trials, detected in \(detections.sorted()) ms")
        #expect(worst < 50, "detection under traffic \(detections) ms")
        #expect(worst < HeartbeatSettings.fast.detectionTime.value, "faster than Delay x Threshold")
    }

    @Test func aOneWayCutUnderTrafficIsFoundAsFastAsATotalOne() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        Self.stream(f, ms: 200)
        let cut = f.now
        f.block(from: 1, route: r1)  // node 1's frames on net1 are lost; node 2's heartbeats still arrive
        var sent = 200
        while f.active(1, to: 2) == r1 && sent < 2000 {
            Self.stream(f, ms: 1, from: sent)
            sent += 1
        }
        let took = f.now.since(cut) / 1_000_000
        #expect(took < 50, "the peer's own heartbeats are no answer to our data (\(took) ms)")
        Self.stream(f, ms: 50, from: sent)
        f.run(ms: 20)
        #expect(Self.numbers(f.delivered[2] ?? []) == Array(0..<(sent + 50)))
    }

    @Test func anIdleRouteIsJudgedByItsHeartbeatsAlone() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        f.run(ms: 300)
        let cut = f.now
        f.block(from: 1, route: r1); f.block(from: 2, route: r1)
        #expect(f.run(until: { f.status(1, r1).state == .down }, maxMs: 1000))
        let took = f.now.since(cut) / 1_000_000
        let settings = HeartbeatSettings.fast
        #expect(took >= settings.delay.value * UInt64(settings.threshold - 1), "never earlier than Delay x (Threshold - 1): \(took) ms")
        #expect(f.status(1, r1).diagnosis?.code != "unanswered_data")
    }

    @Test func aLightlyLoadedHealthyRouteIsNeverProbedDown() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        for n in 0..<50 {  // one packet every 200 ms for 10 s
            f.sendData(from: 1, to: 2, payload: [UInt8(n)])
            f.run(ms: 200)
        }
        #expect(Self.reasons(f, 1, r1).isEmpty, "no Down on a working route: \(Self.reasons(f, 1, r1))")
        #expect(f.delivered[2]?.count == 50)
    }

    @Test func aFlappingLinkDoesNotPullTrafficToAndFro() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        let changesBefore = f.eventList(1).filter { if case .routeChanged = $0 { true } else { false } }.count
        for _ in 0..<5 {  // down 300 ms, up 300 ms, for 3 s
            f.setLink(1, network: 0, up: false)
            f.run(ms: 300)
            f.setLink(1, network: 0, up: true)
            f.run(ms: 300)
        }
        let during = f.eventList(1).filter { if case .routeChanged = $0 { true } else { false } }.count - changesBefore
        #expect(during == 1, "one move to the other network, none back while it flaps (\(during) changes)")
        #expect(f.run(until: { f.active(1, to: 2) == r1 }, maxMs: 5000), "traffic returns once the link is stable")
    }

    @Test func jitterDoesNotFlipTheRoute() {
        var selector = RouteSelector()
        selector.rttFraction = 0.2
        let candidates = [
            RouteSelector.Candidate(id: 1, up: true, priority: 1, smoothedRTT: 1_000_000),
            RouteSelector.Candidate(id: 2, up: true, priority: 1, smoothedRTT: 900_000),
        ]
        #expect(selector.choose(current: 1, count: 2) { candidates[$0] } == 1, "10% faster is jitter")
        let faster = [candidates[0], RouteSelector.Candidate(id: 2, up: true, priority: 1, smoothedRTT: 500_000)]
        #expect(selector.choose(current: 1, count: 2) { faster[$0] } == 2, "twice as fast wins")
        let better = [candidates[0], RouteSelector.Candidate(id: 3, up: true, priority: 0, smoothedRTT: 9_000_000)]
        #expect(selector.choose(current: 1, count: 2) { better[$0] } == 3, "a better network wins whatever its RTT")
        let down = [RouteSelector.Candidate(id: 1, up: false, priority: 0, smoothedRTT: 1)]
        #expect(selector.choose(current: 1, count: 1) { down[$0] } == nil)
    }

    @Test func forgedReplayedAndStaleFramesAreRefusedAndCounted() throws {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        let buffer = FrameBuffer(size: 2048)
        var sender = f.engines[2]!
        let length = try sender.heartbeatRequest(on: r1, into: buffer.raw, now: f.now)
        let frame = Array(buffer.raw.prefix(length))
        guard case .reply = f.inject(frame, at: 1) else { Issue.record("a good request is answered"); return }
        #expect(f.inject(frame, at: 1) == .dropped(.replayed))
        var forged = frame
        forged[30] ^= 0xFF
        #expect(f.inject(forged, at: 1) == .dropped(.authenticationFailed))
        #expect(f.inject(Array(frame.prefix(20)), at: 1) == .dropped(.truncated))
        // A peer restart (a new session, after the handshake) is accepted; the old session is then unknown.
        f.restart(2)
        let established = f.run(until: { f.engines[1]!.sessions.established(2)?.session == f.engines[2]!.sessions.localID }, maxMs: 500)
        #expect(established, "node1 established node2's new session")
        let oldLength = try sender.heartbeatRequest(on: r1, into: buffer.raw, now: f.now)
        #expect(f.inject(Array(buffer.raw.prefix(oldLength)), at: 1) == .dropped(.unknownSession))
        let drops = f.engines[1]!.drops
        #expect(drops[.replayed] == 1 && drops[.authenticationFailed] == 1 && drops[.truncated] == 1 && drops[.unknownSession] >= 1)
    }

    /// Every reason either node gave for `route` being down, in order.
    static func reasons(_ f: SimulatedCluster, _ node: NodeID, _ route: RouteID) -> [String] {
        f.eventList(node).compactMap { e in
            switch e {
            case .routeDown(route, let r), .routeDiagnosis(route, let r): r.code
            default: nil
            }
        }
    }

    @Test(arguments: [HeartbeatSettings.fast, .windowsDefault])
    func aLinkThatComesBackIsLoggedAsRecoveryNeverAsAFirewall(_ settings: HeartbeatSettings) {
        let f = Self.upFabric(settings)
        let r1 = f.route(1, 2, network: 0)
        f.setLink(1, network: 0, up: false)
        f.run(ms: settings.detectionTime.value * 3)
        f.setLink(1, network: 0, up: true)
        #expect(f.run(until: { f.status(1, r1).state == .up && f.status(2, r1).state == .up }, maxMs: settings.detectionTime.value * 20))
        let allowed: Set<String> = ["local_link_down", "remote_link_down", "link_recovering"]
        for node: NodeID in [1, 2] {
            let said = Self.reasons(f, node, r1)
            #expect(!said.isEmpty && Set(said).isSubset(of: allowed), "node \(node) said \(said)")
        }
        #expect(Self.reasons(f, 1, r1).first == "local_link_down")
        #expect(Self.reasons(f, 2, r1).contains("remote_link_down"))
        #expect(Self.reasons(f, 1, r1).last == "link_recovering", "the return of the link is named as such")
    }

    @Test(arguments: [11, 23, 42, 97] as [UInt64])
    func aFlappingLinkNamesOnlyLinkStatesOnBothSides(seed: UInt64) {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<12 {  // irregular flaps, 20-300 ms each way
            f.setLink(1, network: 0, up: false)
            f.run(ms: UInt64.random(in: 20...300, using: &rng))
            f.setLink(1, network: 0, up: true)
            f.run(ms: UInt64.random(in: 20...300, using: &rng))
        }
        f.run(ms: 5000)
        let allowed: Set<String> = ["local_link_down", "remote_link_down", "link_recovering"]
        for node: NodeID in [1, 2] {
            let said = Self.reasons(f, node, r1)
            #expect(Set(said).isSubset(of: allowed), "node \(node) said \(said)")
        }
        #expect(f.status(1, r1).state == .up && f.status(2, r1).state == .up)
    }

    @Test func aSilentRouteIsNamedOnceWithTheMissesThatTookItDown() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0), r2 = f.route(1, 2, network: 1)
        for r in [r1, r2] { f.block(from: 1, route: r); f.block(from: 2, route: r) }
        f.run(ms: 3000)
        #expect(Self.reasons(f, 1, r1) == ["missed_heartbeats"], "one Down, no re-count while it stays silent")
        #expect(f.status(1, r1).diagnosis == .missedHeartbeats(HeartbeatSettings.fast.threshold))
    }

    @Test func aRemoteLinkDownThenSilenceKeepsItsCause() {
        let f = Self.upFabric()
        let r1 = f.route(1, 2, network: 0), r2 = f.route(1, 2, network: 1)
        f.setLink(1, network: 0, up: false)
        #expect(f.run(until: { f.status(2, r1).diagnosis == .remoteLinkDown }, maxMs: 1000))
        // Then node 1 goes silent everywhere: its reports stop and age out.
        f.block(from: 1, route: r2)
        f.block(from: 2, route: r2)
        f.run(ms: 2000)
        #expect(f.status(2, r1).diagnosis == .remoteLinkDown, "an aged report is no evidence the link came back")
        #expect(!Self.reasons(f, 2, r1).contains("link_recovering"))
    }
}
