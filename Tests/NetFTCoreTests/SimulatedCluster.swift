@testable import NetFTCore

/// Two or more simulated nodes running the real NodeEngine over a simulated
/// network with an injected clock: frames are really sealed, sent, opened and
/// answered; the network only delays or drops them.
final class SimulatedCluster {
    struct Network {
        let name: String
        let priority: Int
    }

    let networks: [Network]
    let settings: HeartbeatSettings
    var engines: [NodeID: NodeEngine] = [:]
    var now = Instant.zero
    let latency: UInt64 = 200_000  // ns
    /// Frames sent by `from` on a route are lost when (from, route) is here.
    var blocked: Set<Pair> = []
    var linkDown: Set<Pair> = []
    var events: [NodeID: [(at: Instant, event: ClusterEvent)]] = [:]
    var delivered: [NodeID: [[UInt8]]] = [:]
    /// Resend after failovers, as the datapath does (lossless failover).
    var lossless = true
    /// Copies of the data each node sent, by (node, peer) and stream sequence.
    var retained: [Flow: [UInt64: [UInt8]]] = [:]
    var resent: [NodeID: Int] = [:]
    /// Frames on the wire; `path` is how they arrive (nil: their route's own path).
    private var inflight: [(at: UInt64, to: NodeID, route: RouteID, bytes: [UInt8], path: FramePath?)] = []
    /// A relay between networks: for a frame `block` stopped, the path it
    /// arrives by instead (nil: it is lost).
    var relay: ((_ from: NodeID, _ route: RouteID) -> FramePath?)?
    private let buffer = FrameBuffer(size: 2048)

    struct Pair: Hashable {
        var node: NodeID
        var route: RouteID
    }

    /// One direction of data between two nodes.
    struct Flow: Hashable {
        var from: NodeID
        var to: NodeID
    }

    static func address(node: NodeID, network: Int) -> IPAddress { .v4(0xC612_0000 | UInt32(network + 1) << 8 | node) }
    static func virtual(node: NodeID) -> IPAddress { .v4(0xA9FE_0000 | 0x0100 | node) }

    init(nodes: [NodeID] = [1, 2], networks: [Network] = [.init(name: "net1", priority: 1), .init(name: "net2", priority: 2)],
         settings: HeartbeatSettings = .fast, security: SecurityLevel = .sign) {
        self.networks = networks
        self.settings = settings
        self.security = security
        for node in nodes {
            engines[node] = makeEngine(node, peers: nodes, starts: 0)
        }
    }

    let security: SecurityLevel
    /// Starts of each node so far: each start draws another session.
    var starts: [NodeID: UInt64] = [:]

    /// A fresh engine for `node`, as a start of its daemon makes it.
    func makeEngine(_ node: NodeID, peers nodes: [NodeID], starts: UInt64) -> NodeEngine {
        var table = RouteTable(localNode: node)
        for route in plan(node, peers: nodes) { table.add(route, now: now) }
        return NodeEngine(table: table, security: security, key: testKey, random: SeededRandom(seed: UInt64(node) << 32 | starts))
    }

    /// The routes of `node` to `nodes` on `networks` (each network's priority
    /// from `priorities` when given), as TopologyPlanner plans them.
    func plan(_ node: NodeID, peers nodes: [NodeID], networks chosen: [Int]? = nil, priorities: [Int: Int] = [:]) -> [Route] {
        var routes: [Route] = []
        for peer in nodes.sorted() where peer != node {
            for (n, network) in networks.enumerated() where chosen?.contains(n) ?? true {
                let local = Self.address(node: node, network: n)
                let remote = Self.address(node: peer, network: n)
                routes.append(Route(
                    id: Route.id(between: local, and: remote), peer: peer, peerName: "node\(peer)", network: network.name,
                    localInterface: "eth\(n)", realLocal: Endpoint(local), realRemote: Endpoint(remote),
                    virtualLocal: Endpoint(Self.virtual(node: node)), virtualRemote: Endpoint(Self.virtual(node: peer)),
                    priority: priorities[n] ?? network.priority, heartbeat: settings))
            }
        }
        return routes
    }

    /// A reload on `node` with a new plan, as the datapath applies it.
    @discardableResult
    func reload(_ node: NodeID, _ routes: [Route]) -> NodeEngine.Reconciled {
        let result = engines[node]!.reconcile(with: routes, now: now)
        collect(node)
        return result
    }

    /// A new node starts, and every running node reloads a configuration that lists it.
    func join(_ node: NodeID) {
        let members = Array(engines.keys) + [node]
        engines[node] = makeEngine(node, peers: members, starts: 0)
        for other in members where other != node { reload(other, plan(other, peers: members)) }
    }

    /// Every other node reloads a configuration without `node`, which then stops.
    func leave(_ node: NodeID) {
        engines[node] = nil
        inflight.removeAll { $0.to == node }
        for other in engines.keys { reload(other, plan(other, peers: Array(engines.keys))) }
    }

    /// Restarts `node`: a new engine (a new session), its routes fresh.
    func restart(_ node: NodeID) {
        starts[node, default: 0] += 1
        engines[node] = makeEngine(node, peers: Array(engines.keys), starts: starts[node]!)
    }

    func route(_ a: NodeID, _ b: NodeID, network n: Int) -> RouteID {
        Route.id(between: Self.address(node: a, network: n), and: Self.address(node: b, network: n))
    }

    /// Hellos each node has sent.
    var hellosSent: [NodeID: Int] = [:]

    func send(from node: NodeID, route: RouteID, bytes: [UInt8]) {
        if bytes.count > 5 && bytes[5] == FrameType.hello.rawValue { hellosSent[node, default: 0] += 1 }
        let peer = engines[node]!.table.status(route)!.route.peer
        guard !linkDown.contains(Pair(node: node, route: route)), !linkDown.contains(Pair(node: peer, route: route)) else { return }
        guard !blocked.contains(Pair(node: node, route: route)) else {
            if let path = relay?(node, route) { inflight.append((now.nanoseconds + latency, peer, route, bytes, path)) }
            return
        }
        inflight.append((now.nanoseconds + latency, peer, route, bytes, nil))
    }

    /// Advances the clock by `ms` in 1 ms steps, delivering and ticking.
    func run(ms: UInt64) {
        for _ in 0..<ms * 4 { step(nanoseconds: 250_000) }
    }

    func run(until condition: () -> Bool, maxMs: UInt64) -> Bool {
        for _ in 0..<maxMs * 4 {
            if condition() { return true }
            step(nanoseconds: 250_000)
        }
        return condition()
    }

    private func step(nanoseconds: UInt64) {
        now = Instant(nanoseconds: now.nanoseconds + nanoseconds)
        let due = inflight.filter { $0.at <= now.nanoseconds }
        inflight.removeAll { $0.at <= now.nanoseconds }
        for frame in due { receive(frame.bytes, at: frame.to, route: frame.route, path: frame.path) }
        for node in engines.keys.sorted() {
            var requests: [RouteID] = []
            engines[node]!.table.tick(now: now) { requests.append($0) }
            for route in requests {
                // As the datapath: a hello while the handshake is due, then the
                // request (none before a session exists).
                if engines[node]!.helloDue(on: route, now: now) {
                    let length = try! engines[node]!.hello(on: route, into: buffer.raw, now: now)
                    send(from: node, route: route, bytes: Array(buffer.raw.prefix(length)))
                }
                guard let length = try? engines[node]!.heartbeatRequest(on: route, into: buffer.raw, now: now) else { continue }
                send(from: node, route: route, bytes: Array(buffer.raw.prefix(length)))
            }
            var due: [NodeID] = []
            engines[node]!.acksDue(now: now) { due.append($0) }
            for peer in due {
                guard let (route, length) = try! engines[node]!.ack(to: peer, into: buffer.raw, now: now) else { continue }
                send(from: node, route: route, bytes: Array(buffer.raw.prefix(length)))
            }
            collect(node)
        }
    }

    private func receive(_ bytes: [UInt8], at node: NodeID, route: RouteID, path: FramePath?) {
        guard engines[node] != nil else { return }  // the node left
        buffer.load(bytes)
        let outcome = engines[node]!.receive(buffer.raw, length: bytes.count, from: path ?? engines[node]!.table.path(of: route), now: now)
        switch outcome {
        case .reply(let length, let route):
            send(from: node, route: route, bytes: Array(buffer.raw.prefix(length)))
        case .deliver(let offset, let length, _, _):
            delivered[node, default: []].append(Array(buffer.raw[offset..<(offset + length)]))
        default:
            break
        }
        collect(node)
    }

    /// Sends an inner packet from `node` to `peer` the way the dataplane would
    /// (keeping a copy for lossless failover); returns its route and stream sequence.
    @discardableResult
    func sendData(from node: NodeID, to peer: NodeID, payload: [UInt8], resending: UInt64? = nil) -> (route: RouteID, stream: UInt64)? {
        buffer.load([UInt8](repeating: 0, count: FrameCodec.payloadOffset) + payload)
        guard let (route, length, stream) = try! engines[node]!.encapsulate(to: peer, payloadLength: payload.count, in: buffer.raw, now: now, resending: resending) else {
            return nil
        }
        retained[Flow(from: node, to: peer), default: [:]][stream] = payload
        if resending != nil { resent[node, default: 0] += 1 }
        send(from: node, route: route, bytes: Array(buffer.raw.prefix(length)))
        return (route, stream)
    }

    /// Delivers a raw frame to `node` as if it came off the wire (by `path`;
    /// nil: a dataplane that does not say).
    func inject(_ bytes: [UInt8], at node: NodeID, by path: FramePath? = nil) -> NodeEngine.Inbound {
        let scratch = FrameBuffer(size: 2048)
        scratch.load(bytes)
        let outcome = engines[node]!.receive(scratch.raw, length: bytes.count, from: path, now: now)
        collect(node)
        return outcome
    }

    func setLink(_ node: NodeID, network n: Int, up: Bool) {
        for peer in engines.keys where peer != node {
            let r = route(node, peer, network: n)
            if up { linkDown.remove(Pair(node: node, route: r)) } else { linkDown.insert(Pair(node: node, route: r)) }
        }
        engines[node]!.table.linkChanged(interface: "eth\(n)", up: up, now: now)
        collect(node)
    }

    /// Drops what `node` sends on `route` from now on (`inFlight`: and what it sent that has not arrived yet).
    func block(from node: NodeID, route: RouteID, _ on: Bool = true, inFlight: Bool = false) {
        if on { blocked.insert(Pair(node: node, route: route)) } else { blocked.remove(Pair(node: node, route: route)) }
        if on && inFlight { inflight.removeAll { $0.route == route && $0.to != node } }
    }

    /// Records events and, like the datapath, resends what a failover left unacknowledged.
    private func collect(_ node: NodeID) {
        let drained = engines[node]!.table.drainEvents()
        for e in drained { events[node, default: []].append((now, e)) }
        guard lossless else { return }
        for peer in engines[node]!.peersToResend(after: drained) {
            guard let pending = engines[node]!.streams[peer]?.unacknowledged else { continue }
            for stream in pending {
                guard let payload = retained[Flow(from: node, to: peer)]?[stream] else { continue }
                sendData(from: node, to: peer, payload: payload, resending: stream)
            }
        }
    }

    func helloDue(_ node: NodeID, on route: RouteID) -> Bool { engines[node]!.helloDue(on: route, now: now) }
    func status(_ node: NodeID, _ route: RouteID) -> RouteStatus { engines[node]!.table.status(route)! }
    func active(_ node: NodeID, to peer: NodeID) -> RouteID? { engines[node]!.table.activeRoute(to: peer) }
    func eventList(_ node: NodeID) -> [ClusterEvent] { events[node, default: []].map(\.event) }
}
