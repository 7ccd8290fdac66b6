/// Everything this node tracks about one route: its heartbeats, both
/// directions of its sequence space, what the peer last reported about it,
/// and its traffic counters.
public struct RouteStatus: Sendable {
    public internal(set) var route: Route
    public internal(set) var monitor: HeartbeatMonitor
    /// Last sequence we sent on this route (0: none yet).
    public internal(set) var sentSequence: UInt64 = 0
    /// The peer's sequences we accepted on this route.
    public internal(set) var window = ReplayWindow()
    /// The peer's session the window belongs to.
    public internal(set) var peerSession: UInt32 = 0
    /// When any authenticated frame last arrived from the peer on this route.
    public internal(set) var lastHeardAt: Instant?
    /// What the peer last said about this route, and when (over any route).
    public internal(set) var peerReport: RouteReport.Entry?
    public internal(set) var peerReportAt: Instant?
    public internal(set) var localLinkUp = true
    /// When our link, or the peer's by its report, was last seen down.
    var localLinkDownAt: Instant?
    var remoteLinkDownAt: Instant?
    public internal(set) var diagnosis: DownReason?
    /// An inferred reason that differs from `diagnosis`, and since when it
    /// has held: adopted only once it has held for a whole detection window.
    var candidate: (reason: DownReason, since: Instant)?
    /// Data-driven blackhole detection while the route carries traffic.
    public internal(set) var probe = BlackholeProbe()
    public internal(set) var counters = Counters()

    public struct Counters: Equatable, Sendable {
        public var framesSent: UInt64 = 0
        public var framesReceived: UInt64 = 0
        public var bytesSent: UInt64 = 0
        public var bytesReceived: UInt64 = 0
        public var replayed: UInt64 = 0
        public var tooOld: UInt64 = 0
    }

    init(route: Route, now: Instant) {
        self.route = route
        monitor = HeartbeatMonitor(settings: route.heartbeat, now: now)
    }

    /// The next time this route's heartbeats or probes need a tick.
    var deadline: Instant {
        guard state == .up, let probeAt = probe.deadline(smoothedRTT: monitor.rtt.smoothed) else { return monitor.nextRequestAt }
        return min(probeAt, monitor.nextRequestAt)
    }

    public var state: HeartbeatMonitor.State { monitor.state }

    /// Whether we heard the peer on this route within the detection time.
    public func hearsPeer(now: Instant) -> Bool {
        guard let lastHeardAt else { return false }
        return now.since(lastHeardAt) <= route.heartbeat.detectionTime.nanoseconds
    }

    func freshReport(now: Instant) -> RouteReport.Entry? {
        guard let peerReport, let at = peerReportAt, now.since(at) <= route.heartbeat.detectionTime.nanoseconds else { return nil }
        return peerReport
    }

    /// A link of this route went down within the last detection window: the
    /// misses that take a route down after a flap are the flap's.
    func linkFlapped(now: Instant) -> DownReason? {
        let window = route.heartbeat.detectionTime.nanoseconds
        if let at = localLinkDownAt, now.since(at) <= window { return .localLinkDown }
        if let at = remoteLinkDownAt, now.since(at) <= window { return .remoteLinkDown }
        return nil
    }

    /// What the handshake says of the peer, if it explains a Down: hellos in
    /// its name failing authentication within the detection window (another
    /// key there; a hint only, since they are unauthenticated, so it names a
    /// route already Down and never takes one down), or no session ever (not
    /// running yet: before a handshake no heartbeat can be answered).
    func sessionHint(now: Instant, peerHasSession: Bool, helloRejectedAt: Instant?) -> DownReason? {
        if let at = helloRejectedAt, now.since(at) <= route.heartbeat.detectionTime.nanoseconds { return .helloRejected }
        return peerHasSession ? nil : .noSession
    }

    /// The best explanation for this route being Down, from what both ends
    /// know now; nil when both ends hear each other (the route is coming back).
    func diagnose(now: Instant, peerAliveElsewhere: Bool, peerHasSession: Bool = true, helloRejectedAt: Instant? = nil) -> DownReason? {
        if !localLinkUp { return .localLinkDown }
        if let hint = sessionHint(now: now, peerHasSession: peerHasSession, helloRejectedAt: helloRejectedAt) { return hint }
        let report = freshReport(now: now)
        if report?.link == .down { return .remoteLinkDown }
        let weHear = hearsPeer(now: now)
        let theyHear = report?.hearing ?? false
        if weHear && theyHear { return nil }
        if weHear && !theyHear && peerAliveElsewhere { return .asymmetric(weHearThem: true) }
        if !weHear && theyHear { return .asymmetric(weHearThem: false) }
        if !weHear && peerAliveElsewhere && report != nil { return .portBlockedSuspected }
        return .missedHeartbeats(max(monitor.misses, route.heartbeat.threshold))
    }
}
