/// This node's routes to every peer: heartbeats, sequence state, diagnosis,
/// and which route carries each peer's traffic. Pure: the dataplane feeds it
/// frames and ticks with a timestamp and carries out what it answers.
public struct RouteTable: Sendable {
    public let localNode: NodeID
    public var selector = RouteSelector()
    public private(set) var routes: [RouteStatus] = []
    private var index: [RouteID: Int] = [:]
    private var peers: [NodeID: Peer] = [:]
    private var pending: [ClusterEvent] = []
    /// When each route (by index) is due, and the queue that orders them.
    private var scheduledAt: [UInt64] = []
    private var queue = DeadlineQueue()
    /// Routes a tick handled, and their peers: reused, so a tick allocates nothing.
    private var tickedRoutes: [Int] = []
    private var tickedPeers: [NodeID] = []
    /// The same peers as a set: a tick of many routes must not search the list per route.
    private var tickedPeerSet = Set<NodeID>()

    struct Peer: Sendable {
        var routes: [Int] = []
        var active: RouteID?
        var reachable = false
        /// A session with the peer was established at least once.
        var hasSession = false
        /// When a hello in the peer's name last failed authentication.
        var helloRejectedAt: Instant?
    }

    public init(localNode: NodeID) {
        self.localNode = localNode
    }

    // MARK: Topology

    public mutating func add(_ route: Route, now: Instant) {
        precondition(index[route.id] == nil, "route \(route.id) added twice")
        index[route.id] = routes.count
        peers[route.peer, default: Peer()].routes.append(routes.count)
        // Stagger first heartbeats over 16 slots of a Delay, so a node with many
        // routes sends (and is answered) in small groups, not one burst per Delay.
        let slot = UInt64(routes.count % 16)
        let phase = Instant(nanoseconds: now.nanoseconds &+ route.heartbeat.delay.nanoseconds * slot / 16)
        routes.append(RouteStatus(route: route, now: phase))
        scheduledAt.append(UInt64.max)
        pending.append(.routeAdded(route.id))
        schedule(routes.count - 1)
        refreshNextDeadline()
    }

    public func status(_ id: RouteID) -> RouteStatus? { index[id].map { routes[$0] } }

    /// The peer at the other end of a route (cheap: no copy of its status).
    @inline(__always)
    public func peer(of id: RouteID) -> NodeID? { index[id].map { routes[$0].route.peer } }

    /// The path a genuine frame of route `id` arrives by, here.
    public func path(of id: RouteID) -> FramePath? {
        index[id].map { FramePath(local: routes[$0].route.realLocal.address, remote: routes[$0].route.realRemote) }
    }

    /// Whether a frame for route `id` that came by `path` took the route's own
    /// link and came from its remote endpoint (true for a route we do not
    /// know: that is `unknown_route`, refused later).
    @inline(__always)
    public func carries(_ id: RouteID, by path: FramePath) -> Bool {
        guard let i = index[id] else { return true }
        let route = routes[i].route
        return route.realLocal.address == path.local && route.realRemote == path.remote
    }

    /// New heartbeat settings for a route, applied without touching its state:
    /// an Up route stays Up (a reload must not cause a failover).
    public mutating func updateHeartbeat(_ id: RouteID, _ settings: HeartbeatSettings) {
        guard let i = index[id] else { return }
        routes[i].route.heartbeat = settings
        routes[i].monitor.settings = settings
    }
    public var peerIDs: [NodeID] { peers.keys.sorted() }
    public func routeIDs(to peer: NodeID) -> [RouteID] { peers[peer]?.routes.map { routes[$0].route.id } ?? [] }
    public func isReachable(_ peer: NodeID) -> Bool { peers[peer]?.reachable ?? false }

    /// The route carrying traffic to `peer` now (per packet: one hash lookup).
    @inline(__always)
    public func activeRoute(to peer: NodeID) -> RouteID? { peers[peer]?.active }

    /// Whether events wait to be drained (cheap: asked after every step of the datapath).
    @inline(__always)
    public var hasPendingEvents: Bool { !pending.isEmpty }

    /// An event from outside the table (the handshake), logged in order with the rest.
    mutating func record(_ event: ClusterEvent) { pending.append(event) }

    /// A hello in `peer`'s name failed authentication: a hint of another
    /// cluster key there (`DownReason.helloRejected`).
    mutating func helloRejected(from peer: NodeID, now: Instant) {
        peers[peer]?.helloRejectedAt = now
    }

    /// The handshake with `peer` completed: heartbeat every route to it now,
    /// not a Delay later, so the best network comes up first.
    mutating func sessionStarted(with peer: NodeID, now: Instant) {
        peers[peer]?.hasSession = true
        for i in peers[peer]?.routes ?? [] {
            routes[i].monitor.sessionStarted(now: now)
            schedule(i)
        }
        refreshNextDeadline()
    }

    /// Events since the last call, oldest first.
    public mutating func drainEvents() -> [ClusterEvent] {
        // Called on every pass of the event loop: allocate nothing when nothing happened.
        guard !pending.isEmpty else { return [] }
        defer { pending = [] }
        return pending
    }

    // MARK: Time

    /// The earliest time `tick` has work to do.
    /// Cached: the event loop asks on every pass.
    public private(set) var nextDeadline: Instant?

    /// Route `i`'s deadline, read in place (through the array's subscript
    /// the optimizer copied the whole status, history and all, each time).
    @inline(__always)
    private func deadline(of i: Int) -> Instant { routes.withUnsafeBufferPointer { $0[i].deadline } }

    /// How early route `i`'s heartbeat may go to join a burst: 1/16 of its Delay
    /// (62 ms of the default 1 s, 1.5 ms of the fast profile's 25 ms).
    static let slackDivisor: UInt64 = 16
    private func slack(of i: Int) -> UInt64 {
        i < routes.count ? routes.withUnsafeBufferPointer { $0[i].route.heartbeat.delay.nanoseconds } / Self.slackDivisor : 0
    }

    /// Queues route `i` at its current deadline, unless it is queued there already.
    private mutating func schedule(_ i: Int) {
        let due = deadline(of: i).nanoseconds
        guard due != scheduledAt[i] else { return }
        scheduledAt[i] = due
        queue.push(due, i)
    }

    /// Drops stale entries off the top of the queue; the top is the next deadline.
    private mutating func refreshNextDeadline() {
        while let top = queue.top, scheduledAt[Int(top.route)] != top.at { queue.pop() }
        nextDeadline = queue.top.map { Instant(nanoseconds: $0.at) }
    }

    /// Every route queued again (after the table's indexes changed).
    private mutating func rescheduleAll() {
        queue.removeAll()
        scheduledAt = Array(repeating: UInt64.max, count: routes.count)
        for i in routes.indices { schedule(i) }
        refreshNextDeadline()
    }

    /// Runs the heartbeat clock of every route that is due; `send(route)` is
    /// called for each heartbeat request due now.
    public mutating func tick(now: Instant, send: (RouteID) -> Void) {
        tickedRoutes.removeAll(keepingCapacity: true)
        tickedPeers.removeAll(keepingCapacity: true)
        tickedPeerSet.removeAll(keepingCapacity: true)
        // Routes due within their slack of now go along (timer coalescing):
        // a node wakes a few times per Delay for all its heartbeats, not once
        // per route, and each wake-up sends and receives in batches.
        while let top = queue.top, top.at <= now.nanoseconds &+ slack(of: Int(top.route)) {
            queue.pop()
            let i = Int(top.route)
            guard scheduledAt[i] == top.at else { continue }  // stale: rescheduled since
            scheduledAt[i] = UInt64.max  // handled: a duplicate entry is stale now
            tickedRoutes.append(i)
            let early = slack(of: i)
            guard now.nanoseconds &+ early >= deadline(of: i).nanoseconds else { continue }  // a probe that was cancelled
            if routes[i].state == .up {
                switch routes[i].probe.tick(now: now, smoothedRTT: routes[i].monitor.rtt.smoothed) {
                case .none: break
                case .probe: send(routes[i].route.id)
                case .down: if let event = routes[i].monitor.blackholed(now: now) { apply(event, route: i, now: now) }
                }
            }
            let (sendRequest, event) = routes[i].monitor.tick(now: now, early: early)
            if let event { apply(event, route: i, now: now) }
            if sendRequest { send(routes[i].route.id) }
            if routes[i].state == .down { rediagnose(i, now: now) } else { _ = observe(i, now: now) }
            // Re-select only for peers whose routes ticked: RTTs and hold-downs
            // move at heartbeat pace, and a node with many peers must not pay
            // for all of them on every tick.
            let peer = routes[i].route.peer
            if tickedPeerSet.insert(peer).inserted { tickedPeers.append(peer) }
        }
        for peer in tickedPeers { reselect(peer, now: now) }
        // Queued again only now: a route still due is ticked by the next call, not looped on.
        for i in tickedRoutes { schedule(i) }
        refreshNextDeadline()
    }

    // MARK: Sending

    /// The next sequence for a frame on `route`.
    @inline(__always)
    public mutating func nextSequence(on route: RouteID) -> UInt64? {
        guard let i = index[route] else { return nil }
        routes[i].sentSequence &+= 1
        return routes[i].sentSequence
    }

    /// Counts a frame sent on `route` (any type).
    @inline(__always)
    public mutating func sent(on route: RouteID, bytes: Int) {
        guard let i = index[route] else { return }
        routes[i].counters.framesSent &+= 1
        routes[i].counters.bytesSent &+= UInt64(bytes)
    }

    /// The peer answered what we sent on `route` (a heartbeat reply, or an ack
    /// that covers more of our data): the route carries our frames.
    @inline(__always)
    public mutating func answered(on route: RouteID) {
        guard let i = index[route] else { return }
        routes[i].probe.heard()
    }

    /// A data frame went out on `route`: its answer is awaited (`BlackholeProbe`).
    @inline(__always)
    public mutating func dataSent(on route: RouteID, now: Instant) {
        guard let i = index[route], routes[i].probe.dataSent(now: now) else { return }
        schedule(i)
        refreshNextDeadline()
    }

    /// The cumulative acknowledgement to send on `route`.
    public func acknowledgement(on route: RouteID) -> UInt64 { index[route].map { routes[$0].window.cumulative } ?? 0 }

    /// Writes the route report for `peer` (our view of every route to it) into `buffer`.
    public func writeReport(for peer: NodeID, now: Instant, into buffer: UnsafeMutableRawBufferPointer) throws(FrameError) -> Int {
        let list = peers[peer]?.routes ?? []
        return try RouteReport.write(count: list.count, into: buffer) { n in
            let s = routes[list[n]]
            return RouteReport.Entry(
                route: s.route.id, link: s.localLinkUp ? .up : .down,
                hearing: s.hearsPeer(now: now), received: s.window.cumulative)
        }
    }

    // MARK: Receiving

    /// Accepts an authenticated frame's sequence on its route: a new session
    /// of the peer (established by the handshake) resets the window; replays
    /// are refused.
    @inline(__always)
    public mutating func accept(_ header: FrameHeader, bytes: Int, now: Instant) throws(FrameError) {
        guard let i = index[header.route], routes[i].route.peer == header.sender else { throw .unknownRoute }
        if header.session != routes[i].peerSession {
            routes[i].peerSession = header.session
            routes[i].window = ReplayWindow()
        }
        switch routes[i].window.accept(header.sequence) {
        case .accepted: break
        case .duplicate:
            routes[i].counters.replayed &+= 1
            throw .replayed
        case .tooOld:
            routes[i].counters.tooOld &+= 1
            throw .tooOld
        }
        routes[i].lastHeardAt = now
        routes[i].counters.framesReceived &+= 1
        routes[i].counters.bytesReceived &+= UInt64(bytes)
    }

    /// A heartbeat reply (already accepted) arrived on `header.route`.
    public mutating func heartbeatReplied(_ header: FrameHeader, now: Instant) {
        guard let i = index[header.route] else { return }
        routes[i].probe.heard()
        if let event = routes[i].monitor.replyReceived(requestTimestamp: header.timestamp, now: now) {
            apply(event, route: i, now: now)
        }
        reselect(routes[i].route.peer, now: now)
    }

    /// The peer's report about its routes to us (from any heartbeat it sent).
    public mutating func reportReceived(from peer: NodeID, _ entry: RouteReport.Entry, now: Instant) {
        guard let i = index[entry.route], routes[i].route.peer == peer else { return }
        routes[i].peerReport = entry
        routes[i].peerReportAt = now
        if entry.link == .down { routes[i].remoteLinkDownAt = now }
        if routes[i].state == .down { rediagnose(i, now: now) } else { _ = observe(i, now: now) }
    }

    /// The dataplane saw `interface` go down or come up.
    public mutating func linkChanged(interface: String, up: Bool, now: Instant) {
        for i in routes.indices where routes[i].route.localInterface == interface {
            routes[i].localLinkUp = up
            if !up { routes[i].localLinkDownAt = now }
            if let event = routes[i].monitor.linkChanged(up: up, now: now) { apply(event, route: i, now: now) }
            schedule(i)
        }
        refreshNextDeadline()
        for peer in peers.keys { reselect(peer, now: now) }
    }

    // MARK: Decisions

    private mutating func apply(_ event: HeartbeatMonitor.Event, route i: Int, now: Instant) {
        let id = routes[i].route.id
        let peer = routes[i].route.peer
        switch event {
        case .up:
            routes[i].diagnosis = nil
            pending.append(.routeUp(id))
            if peers[peer]?.reachable == false {
                peers[peer]?.reachable = true
                pending.append(.nodeReachable(peer))
            }
        case .down(let cause):
            // An inferred cause is named only if its evidence held for the
            // whole detection window; otherwise what is known for sure: the misses.
            let reason: DownReason
            if cause == .localLinkDown {
                reason = .localLinkDown
            } else if let p = peers[peer], let hint = routes[i].sessionHint(now: now, peerHasSession: p.hasSession, helloRejectedAt: p.helloRejectedAt) {
                reason = hint
            } else if let flapped = routes[i].linkFlapped(now: now) {
                reason = flapped
            } else if let (evidence, held) = observe(i, now: now), evidence.isLinkState || held {
                reason = evidence
            } else if case .unansweredData(let probes) = cause {
                reason = .unansweredData(probes: probes)
            } else {
                reason = .missedHeartbeats(routes[i].monitor.misses)
            }
            routes[i].probe.heard()
            routes[i].diagnosis = reason
            pending.append(.routeDown(id, reason))
            reselect(peer, now: now)
            if peers[peer]?.reachable == true && !(peers[peer]?.routes.contains { routes[$0].state == .up } ?? false) {
                peers[peer]?.reachable = false
                pending.append(.nodeUnreachable(peer))
            }
        }
    }

    /// What the evidence on route `i` says now (nil: both ends hear each
    /// other), and whether it has said so for a whole detection window.
    /// Followed on every heartbeat and report, Up or Down, so a cause is held
    /// to the window before it is ever named.
    private mutating func observe(_ i: Int, now: Instant) -> (DownReason, held: Bool)? {
        // Everything read and written in place through buffer pointers: calls
        // on routes[i] and self here made Swift copy the table and the route
        // status (retains and releases of every array) per heartbeat.
        let peer = peers.index(forKey: routes[i].route.peer)
        let alive = peer.map { Self.anyUp(peers.values[$0].routes, besides: i, in: routes) } ?? false
        let session = peer.map { peers.values[$0].hasSession } ?? false
        let rejected = peer.flatMap { peers.values[$0].helloRejectedAt }
        return routes.withUnsafeMutableBufferPointer { r in
            guard let fresh = r[i].diagnose(now: now, peerAliveElsewhere: alive, peerHasSession: session, helloRejectedAt: rejected) else {
                r[i].candidate = nil
                return nil
            }
            if r[i].candidate?.reason.code != fresh.code { r[i].candidate = (fresh, now) }
            let since = r[i].candidate?.since ?? now
            return (fresh, now.since(since) >= r[i].route.heartbeat.detectionTime.nanoseconds)
        }
    }

    /// Whether any of `indexes` but `i` is an Up route.
    private static func anyUp(_ indexes: [Int], besides i: Int, in routes: [RouteStatus]) -> Bool {
        routes.withUnsafeBufferPointer { r in
            for n in indexes where n != i && r[n].state == .up { return true }
            return false
        }
    }

    /// Re-reads a Down route's evidence. A link state (ours from netlink, the
    /// peer's from its report) counts at once, and so does that link coming
    /// back (logged as recovery, not as a new failure); an inferred cause
    /// replaces the diagnosis only once it has held for a whole detection
    /// window, so the moments while a route comes back name nothing false.
    private mutating func rediagnose(_ i: Int, now: Instant) {
        guard routes[i].state == .down, let current = routes[i].diagnosis else { return }
        guard let (evidence, held) = observe(i, now: now) else { return }  // both ends hear: coming back
        var next = evidence
        if current.isLinkState && !evidence.isLinkState {
            // Only positive evidence that the link is back counts as recovery;
            // a report that merely aged out leaves the last known cause standing.
            let local = current == .localLinkDown
            guard local ? routes[i].localLinkUp : routes[i].freshReport(now: now)?.link == .up else { return }
            next = .linkRecovering(local: local)
        } else if !evidence.isLinkState && !held {
            return
        }
        guard next.code != current.code else { return }
        routes[i].diagnosis = next
        pending.append(.routeDiagnosis(routes[i].route.id, next))
    }

    // MARK: Membership (RouteTable+Membership.swift)

    /// Replaces every route with `kept` (statuses unchanged), rebuilding the indexes.
    mutating func rebuild(_ kept: [RouteStatus]) {
        let old = peers
        routes = kept
        index = [:]
        peers = [:]
        for (i, s) in routes.enumerated() {
            index[s.route.id] = i
            peers[s.route.peer, default: Peer(active: old[s.route.peer]?.active, reachable: old[s.route.peer]?.reachable ?? false, hasSession: old[s.route.peer]?.hasSession ?? false, helloRejectedAt: old[s.route.peer]?.helloRejectedAt)].routes.append(i)
        }
        rescheduleAll()
    }

    mutating func setPriority(_ id: RouteID, _ priority: Int) {
        if let i = index[id] { routes[i].route.priority = priority }
    }

    /// After routes left or changed: reachability follows the routes still
    /// Up, and the best one is chosen (an active route that is gone is no
    /// candidate, so its traffic moves in one change).
    mutating func refreshPeer(_ peer: NodeID, now: Instant) {
        guard var p = peers[peer] else { return }
        let reachable = p.routes.contains { routes[$0].state == .up }
        if p.reachable && !reachable { pending.append(.nodeUnreachable(peer)) }
        p.reachable = reachable
        peers[peer] = p
        reselect(peer, now: now)
    }

    private mutating func reselect(_ peer: NodeID, now: Instant) {
        guard let p = peers[peer] else { return }
        let activeUp = p.active.flatMap { index[$0] }.map { routes[$0].state == .up } ?? false
        let chosen = routes.withUnsafeBufferPointer { routes in
            selector.choose(current: p.active, count: p.routes.count) { n in
                // Fields read in place: copying a RouteStatus retains its strings and history.
                let r = p.routes[n]
                let id = routes[r].route.id
                // A route still settling after a Down does not take traffic from an Up one.
                let usable = routes[r].state == .up && (id == p.active || !activeUp || !routes[r].monitor.isSettling(now: now))
                return RouteSelector.Candidate(id: id, up: usable, priority: routes[r].route.priority, smoothedRTT: routes[r].monitor.rtt.smoothed)
            }
        }
        guard chosen != p.active else { return }
        peers[peer]?.active = chosen
        pending.append(.routeChanged(peer: peer, from: p.active, to: chosen))
    }
}
