import NetFTCore

/// Reproducible random bytes: a fuzz input must always do the same thing.
public final class SeededRandom: RandomSource, @unchecked Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        for i in buffer.indices {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            buffer[i] = UInt8(truncatingIfNeeded: z ^ (z >> 31))
        }
    }
}

public let fuzzKey = try! ClusterKey(secret: Array("netft fuzzing cluster key, not a secret".utf8))

/// Two nodes with two routes between them (one per network), as a node builds them.
public func engine(_ node: NodeID, security: SecurityLevel) -> NodeEngine {
    var table = RouteTable(localNode: node)
    let peer: NodeID = node == 1 ? 2 : 1
    for n in 0..<2 {
        let mine = IPAddress.v4(0xC612_0000 | UInt32(n + 1) << 8 | node), theirs = IPAddress.v4(0xC612_0000 | UInt32(n + 1) << 8 | peer)
        table.add(Route(
            id: Route.id(between: mine, and: theirs), peer: peer, peerName: "node\(peer)", network: "net\(n + 1)", localInterface: "eth\(n)",
            realLocal: Endpoint(mine), realRemote: Endpoint(theirs), virtualLocal: Endpoint(.v4(0xA9FE_0100 | node)),
            virtualRemote: Endpoint(.v4(0xA9FE_0100 | peer)), priority: n, heartbeat: .fast), now: .zero)
    }
    var engine = NodeEngine(table: table, security: security, key: fuzzKey, random: SeededRandom(seed: UInt64(node)))
    engine.identity = Hello(nodeName: "node\(node)", addresses: [])
    return engine
}

/// Runs the hello handshake between `a` and `b` on their first route, so both hold a session.
public func handshake(_ a: inout NodeEngine, _ b: inout NodeEngine, buffer: UnsafeMutableRawBufferPointer) {
    let route = a.table.routeIDs(to: b.table.localNode)[0]
    var length = try! a.hello(on: route, into: buffer, now: .zero)
    var towardB = true
    for step in 1...8 {
        let now = Instant(nanoseconds: UInt64(step) * 1_000_000)
        let outcome = towardB
            ? b.receive(buffer, length: length, from: b.table.path(of: route), now: now)
            : a.receive(buffer, length: length, from: a.table.path(of: route), now: now)
        guard case .reply(let next, _) = outcome else { break }
        length = next
        towardB.toggle()
    }
    precondition(a.sessions.established(b.table.localNode) != nil && b.sessions.established(a.table.localNode) != nil, "the fuzz handshake did not complete")
}

/// node1 and node2 after the handshake and enough heartbeats both ways that
/// every route is Up: the state a fuzzed frame finds in a running node.
public func connectedPair(security: SecurityLevel, buffer: UnsafeMutableRawBufferPointer) -> (a: NodeEngine, b: NodeEngine, now: Instant) {
    var a = engine(1, security: security), b = engine(2, security: security)
    handshake(&a, &b, buffer: buffer)
    var now = Instant(nanoseconds: 10_000_000)
    for _ in 0..<4 {
        for (from, to) in [(0, 1), (1, 0)] {
            for route in a.table.routeIDs(to: 2) {
                var sender = from == 0 ? a : b, receiver = from == 0 ? b : a
                guard let length = try? sender.heartbeatRequest(on: route, into: buffer, now: now) else { continue }
                if case .reply(let reply, _) = receiver.receive(buffer, length: length, from: receiver.table.path(of: route), now: now) {
                    _ = sender.receive(buffer, length: reply, from: sender.table.path(of: route), now: now)
                }
                if from == 0 { (a, b) = (sender, receiver) } else { (b, a) = (sender, receiver) }
            }
        }
        now = Instant(nanoseconds: now.nanoseconds + 25_000_000)
        a.table.tick(now: now) { _ in }
        b.table.tick(now: now) { _ in }
    }
    return (a, b, now)
}
