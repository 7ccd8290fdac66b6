import Testing

@testable import NetFTCore

/// Reloads that change who is in the cluster, or how its networks rank,
/// applied to running engines: what they do not concern keeps its state.
@Suite("Membership and priority changes without a restart")
struct MembershipTests {
    /// Every route between the fabric's nodes is Up, both ways.
    static func allUp(_ f: SimulatedCluster) -> Bool {
        f.engines.allSatisfy { node, engine in engine.table.routes.allSatisfy { $0.state == .up } && engine.table.peerIDs.count == f.engines.count - 1 }
    }

    static func threeNodes() -> SimulatedCluster {
        let f = SimulatedCluster(nodes: [1, 2, 3])
        #expect(f.run(until: { allUp(f) }, maxMs: 2000), "three nodes never came up")
        return f
    }

    /// Route downs among `nodes` since event index `marks[node]`.
    static func downs(_ f: SimulatedCluster, among nodes: Set<NodeID>, since marks: [NodeID: Int]) -> [ClusterEvent] {
        nodes.flatMap { node in
            f.eventList(node).dropFirst(marks[node] ?? 0).filter { event in
                if case .routeDown(let id, _) = event, let peer = f.engines[node]!.table.peer(of: id) { return nodes.contains(peer) }
                if case .nodeUnreachable = event { return true }
                return false
            }
        }
    }

    @Test func aFourthNodeJoinsAndLeavesWhileTheOthersKeepTheirRoutesAndLoseNothing() {
        let f = Self.threeNodes()
        let marks = Dictionary(uniqueKeysWithValues: [1, 2, 3].map { ($0 as NodeID, f.eventList($0).count) })
        let kept = f.engines[1]!.table.routes.map(\.route.id)
        var sent = 0
        func stream(ms: Int) {
            for _ in 0..<ms {
                f.sendData(from: 1, to: 2, payload: [UInt8(sent % 256)])
                sent += 1
                f.run(ms: 1)
            }
        }
        stream(ms: 50)
        f.join(4)
        #expect(f.run(until: { Self.allUp(f) }, maxMs: 2000), "node4's routes came up on every node")
        stream(ms: 200)
        #expect(f.engines[1]!.table.routes.count == 3 * 2)
        #expect(f.engines[1]!.table.isReachable(4) && f.engines[1]!.sessions.established(4) != nil)
        f.sendData(from: 4, to: 3, payload: [0x44])
        f.run(ms: 5)
        #expect(f.delivered[3, default: []].contains([0x44]), "node4's data reaches node3")

        f.leave(4)
        stream(ms: 200)
        #expect(f.engines[1]!.table.peerIDs == [2, 3])
        #expect(f.engines[1]!.table.routes.map(\.route.id) == kept, "the first three's routes are the ones from before")
        #expect(f.engines[1]!.sessions.established(4) == nil, "node4's session is forgotten")
        #expect(f.engines[1]!.streams[4] == nil)
        #expect(f.eventList(1).contains(.peerRemoved(4, name: "node4")))
        #expect(f.eventList(1).filter { if case .routeRemoved = $0 { true } else { false } }.count == 2)
        #expect(Self.downs(f, among: [1, 2, 3], since: marks).isEmpty, "no route among the first three went down")
        f.run(ms: 20)
        #expect(f.delivered[2, default: []].count == sent, "every packet node1 sent node2 arrived: \(f.delivered[2, default: []].count) of \(sent)")
    }

    @Test func aPeerThatLeftIsRefused() {
        let f = Self.threeNodes()
        let route = f.route(3, 1, network: 0)
        let heartbeat = FrameBuffer(size: 2048)
        let length = try! f.engines[3]!.heartbeatRequest(on: route, into: heartbeat.raw, now: f.now)
        let frame = Array(heartbeat.raw.prefix(length))
        f.reload(1, f.plan(1, peers: [1, 2]))
        // Its session went with it: refused before the route is even looked up.
        #expect(f.inject(frame, at: 1) == .dropped(.unknownSession), "node3's heartbeat after it left node1's configuration")
        #expect(f.engines[1]!.table.status(route) == nil)
        #expect(f.engines[1]!.table.isReachable(2))
    }

    @Test func swappingPrioritiesMovesTrafficWithoutARouteDown() {
        let f = Self.threeNodes()
        let net1 = f.route(1, 2, network: 0), net2 = f.route(1, 2, network: 1)
        #expect(f.active(1, to: 2) == net1)
        let mark = f.eventList(1).count
        let result = f.reload(1, f.plan(1, peers: [1, 2, 3], priorities: [0: 2, 1: 1]))
        #expect(result.changed.count == 4 && result.added.isEmpty && result.removed.isEmpty)
        #expect(f.active(1, to: 2) == net2, "net2 is preferred now")
        #expect(Array(f.eventList(1).dropFirst(mark)).contains(.routeChanged(peer: 2, from: net1, to: net2)))
        #expect(Self.downs(f, among: [1, 2, 3], since: [1: mark]).isEmpty)
        #expect(f.engines[1]!.table.routes.allSatisfy { $0.state == .up })
    }

    @Test func removingTheActiveNetworkMovesTrafficToTheOtherAndLosesNothing() {
        let f = Self.threeNodes()
        let net1 = f.route(1, 2, network: 0), net2 = f.route(1, 2, network: 1)
        for n in 0..<10 { f.sendData(from: 1, to: 2, payload: [UInt8(n)]) }
        f.reload(1, f.plan(1, peers: [1, 2, 3], networks: [1]))
        #expect(f.active(1, to: 2) == net2)
        #expect(f.engines[1]!.table.status(net1) == nil)
        #expect(f.eventList(1).contains(.routeChanged(peer: 2, from: net1, to: net2)))
        #expect(f.engines[1]!.table.isReachable(2), "node2 never became unreachable")
        for n in 10..<20 { f.sendData(from: 1, to: 2, payload: [UInt8(n)]) }
        f.run(ms: 50)
        #expect(f.delivered[2, default: []].map { $0[0] } == Array(0..<20), "each once, in order")
    }

    @Test func reloadingTheSamePlanChangesNothing() {
        let f = Self.threeNodes()
        let before = f.engines[1]!.table.routes.map(\.state)
        let mark = f.eventList(1).count
        #expect(f.reload(1, f.plan(1, peers: [1, 2, 3])).isEmpty)
        #expect(f.engines[1]!.table.routes.map(\.state) == before)
        #expect(f.eventList(1).count == mark)
    }
}
