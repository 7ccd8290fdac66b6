/// Picks the route that carries traffic to a peer: Up routes only, the best
/// (lowest) priority first, then the lowest smoothed RTT. The current route is
/// kept unless a candidate is clearly better, so jitter does not flip traffic.
public struct RouteSelector: Sendable {
    /// A candidate of equal priority must be faster by this fraction of the
    /// current RTT...
    public var rttFraction: Double = 0.2
    /// ...and by at least this many nanoseconds.
    public var rttFloor: UInt64 = 200_000

    public init() {}

    public struct Candidate: Sendable {
        public var id: RouteID
        public var up: Bool
        public var priority: Int
        public var smoothedRTT: UInt64
        public init(id: RouteID, up: Bool, priority: Int, smoothedRTT: UInt64) {
            self.id = id
            self.up = up
            self.priority = priority
            self.smoothedRTT = smoothedRTT
        }
    }

    /// Chooses among `count` candidates read through `candidate(i)`; no allocation.
    @inline(__always)
    public func choose(current: RouteID?, count: Int, candidate: (Int) -> Candidate) -> RouteID? {
        var best: Candidate?
        var kept: Candidate?
        for i in 0..<count {
            let c = candidate(i)
            guard c.up else { continue }
            if c.id == current { kept = c }
            if let b = best, (b.priority, b.smoothedRTT, b.id) <= (c.priority, c.smoothedRTT, c.id) { continue }
            best = c
        }
        guard let best else { return nil }
        guard let kept else { return best.id }
        if best.priority < kept.priority { return best.id }
        if best.priority == kept.priority {
            let margin = max(UInt64(Double(kept.smoothedRTT) * rttFraction), rttFloor)
            if best.smoothedRTT &+ margin < kept.smoothedRTT { return best.id }
        }
        return kept.id
    }
}
