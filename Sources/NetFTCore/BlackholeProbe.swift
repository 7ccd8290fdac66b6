/// Finds a dead route while data flows on it, long before Delay x Threshold,
/// in the spirit of BFD's echo mode: the data path knows when frames went
/// out and whether anything came back. A healthy route carrying data always
/// answers soon (the peer acknowledges within `DataStream.ackDelay`, on the
/// route the data came in), so when data went out and no answer (an ack that
/// covers more of it, or a heartbeat reply) came back on the route for
/// `suspectAfter`, it is probed at once, and Down after `probes` probes in a
/// row go unanswered. Frames the peer starts itself (its requests, its data
/// without a new ack) prove only the other direction, so they do not count:
/// a one-way loss of our frames is found as fast as a total one.
///
/// An idle route is never probed (no data went out), so its fate stays with
/// the heartbeats and Windows' Delay x Threshold. A lightly loaded one is
/// probed only if even the ack of its data does not come back.
public struct BlackholeProbe: Sendable {
    /// Unanswered probes that take a route Down.
    public static let probes = 3

    /// The first data frame sent since the peer was last heard on this route.
    public private(set) var unansweredSince: Instant?
    public private(set) var probesSent = 0
    private var lastProbeAt: Instant?

    public init() {}

    /// How long data may go unanswered before the route is probed: the
    /// peer's ack delay, two round trips, and 5 ms for a busy scheduler.
    public static func suspectAfter(smoothedRTT: UInt64) -> UInt64 {
        DataStream.ackDelay.nanoseconds + 2 * smoothedRTT + 5_000_000
    }

    /// The time between probes: two round trips, at least 5 ms.
    public static func probeInterval(smoothedRTT: UInt64) -> UInt64 { max(5_000_000, 2 * smoothedRTT) }

    /// A data frame went out on the route. True when this starts a wait for an
    /// answer (the caller's next deadline may need to come sooner).
    @inline(__always)
    public mutating func dataSent(now: Instant) -> Bool {
        guard unansweredSince == nil else { return false }
        unansweredSince = now
        return true
    }

    /// The peer answered us on this route.
    @inline(__always)
    public mutating func heard() {
        unansweredSince = nil
        probesSent = 0
        lastProbeAt = nil
    }

    /// When `tick` has something to do (nil: nothing is waiting for an answer).
    public func deadline(smoothedRTT: UInt64) -> Instant? {
        guard let since = unansweredSince else { return nil }
        if let lastProbeAt { return Instant(nanoseconds: lastProbeAt.nanoseconds &+ BlackholeProbe.probeInterval(smoothedRTT: smoothedRTT)) }
        return Instant(nanoseconds: since.nanoseconds &+ BlackholeProbe.suspectAfter(smoothedRTT: smoothedRTT))
    }

    public enum Action: Equatable, Sendable {
        case none
        /// Send a heartbeat request on the route now.
        case probe
        /// `probes` probes went unanswered: the route is a blackhole.
        case down
    }

    public mutating func tick(now: Instant, smoothedRTT: UInt64) -> Action {
        guard let due = deadline(smoothedRTT: smoothedRTT), now >= due else { return .none }
        if probesSent >= BlackholeProbe.probes {
            heard()  // start afresh once the route is back
            return .down
        }
        probesSent += 1
        lastProbeAt = now
        return .probe
    }
}
