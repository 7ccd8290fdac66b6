// Microbenchmarks of the per-packet Core operations: time per operation and
// heap allocations per operation (must be 0). Run with:
//   swift package benchmark --target NetFTCoreBenchmarks
import Benchmark
import NetFTCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        // 1000 operations per sample: figures are per 1000 operations, so the
        // framework's own per-sample cost (time and its ~16 allocations, see
        // the baseline) is spread thin and can be subtracted.
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 100_000
    )
    Benchmark("baseline: empty loop (framework overhead)") { benchmark in
        for i in benchmark.scaledIterations { blackHole(i) }
    }
    let key = try! ClusterKey(secret: Array("benchmark cluster secret key".utf8))
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 64)
    buffer.initializeMemory(as: UInt8.self, repeating: 0x42)

    for (payload, security) in [(64, SecurityLevel.none), (64, .sign), (1400, .sign), (64, .encrypt), (1400, .encrypt)] {
        Benchmark("seal \(security) \(payload)B") { benchmark in
            var header = FrameHeader(type: .data, sender: 1, session: 1, route: 7, payloadLength: UInt16(payload), sequence: 0)
            for i in benchmark.scaledIterations {
                header.sequence = UInt64(i) + 1
                blackHole(try FrameCodec.seal(header, in: buffer, security: security, key: key))
            }
        }
    }

    for payload in [64, 1400] {
        Benchmark("open+verify sign \(payload)B") { benchmark in
            let header = FrameHeader(type: .data, sender: 1, session: 1, route: 7, payloadLength: UInt16(payload), sequence: 1)
            let length = try FrameCodec.seal(header, in: buffer, security: .sign, key: key)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try FrameCodec.open(buffer, length: length, security: .sign, key: key))
            }
        }
    }

    Benchmark("replay window accept (in order)") { benchmark in
        var window = ReplayWindow()
        var sequence: UInt64 = 0
        for _ in benchmark.scaledIterations {
            sequence &+= 1
            blackHole(window.accept(sequence))
        }
    }

    Benchmark("replay window accept (reordered)") { benchmark in
        var window = ReplayWindow()
        var sequence: UInt64 = 100
        for i in benchmark.scaledIterations {
            sequence &+= 2
            blackHole(window.accept(i % 2 == 0 ? sequence : sequence - 37))
        }
    }

    Benchmark("route selection (4 routes)") { benchmark in
        let selector = RouteSelector()
        let candidates = (0..<4).map {
            RouteSelector.Candidate(id: RouteID($0 + 1), up: $0 != 0, priority: $0 / 2, smoothedRTT: UInt64(1_000_000 - $0 * 1000))
        }
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            blackHole(selector.choose(current: RouteID(i % 4 + 1), count: candidates.count) { candidates[$0] })
        }
    }

    Benchmark("engine: encapsulate + receive data 64B (sign)") { benchmark in
        var sender = engine(node: 1, peer: 2, key: key)
        var receiver = engine(node: 2, peer: 1, key: key)
        let route = sender.table.routeIDs(to: 2)[0]
        handshake(&sender, &receiver, route: route, buffer: buffer)
        _ = (sender.table.activeRoute(to: 2), route)
        let path = receiver.table.path(of: route)
        let now = Instant(nanoseconds: 1_000_000)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            guard let (_, length, _) = try sender.encapsulate(to: 2, payloadLength: 64, in: buffer, now: now) else { fatalError("no route") }
            blackHole(receiver.receive(buffer, length: length, from: path, now: now))
        }
    }
}

/// Runs the hello handshake between two engines over `route` (what the
/// datapath does at start), so both hold a session.
func handshake(_ a: inout NodeEngine, _ b: inout NodeEngine, route: RouteID, buffer: UnsafeMutableRawBufferPointer) {
    var length = try! a.hello(on: route, into: buffer, now: .zero)
    var towardB = true
    for step in 1...8 {
        let now = Instant(nanoseconds: UInt64(step) * 1_000_000)
        let outcome = towardB ? b.receive(buffer, length: length, from: b.table.path(of: route), now: now) : a.receive(buffer, length: length, from: a.table.path(of: route), now: now)
        guard case .reply(let next, _) = outcome else { break }
        length = next
        towardB.toggle()
    }
    precondition(a.sessions.established(b.table.localNode) != nil && b.sessions.established(a.table.localNode) != nil, "benchmark handshake failed")
}

/// An engine whose single route to `peer` is already Up.
func engine(node: NodeID, peer: NodeID, key: ClusterKey) -> NodeEngine {
    let a = IPAddress.v4(0xC612_0101), b = IPAddress.v4(0xC612_0102)
    var table = RouteTable(localNode: node)
    let (local, remote) = node == 1 ? (a, b) : (b, a)
    table.add(Route(
        id: Route.id(between: a, and: b), peer: peer, peerName: "peer", network: "net1", localInterface: "eth0",
        realLocal: Endpoint(local), realRemote: Endpoint(remote), virtualLocal: Endpoint(.v4(0xA9FE_0001)),
        virtualRemote: Endpoint(.v4(0xA9FE_0002)), priority: 1, heartbeat: .fast), now: .zero)
    table.tick(now: .zero) { _ in }
    let id = Route.id(between: a, and: b)
    table.heartbeatReplied(FrameHeader(type: .heartbeatReply, sender: peer, session: 1, route: id, sequence: 1, timestamp: 0), now: Instant(nanoseconds: 100_000))
    table.tick(now: .milliseconds(25)) { _ in }
    table.heartbeatReplied(FrameHeader(type: .heartbeatReply, sender: peer, session: 1, route: id, sequence: 2, timestamp: 25_000_000), now: .milliseconds(26))
    precondition(table.activeRoute(to: peer) != nil, "benchmark route did not come up")
    return NodeEngine(table: table, security: .sign, key: key)
}
