import Foundation
import NetFTFabric
import Glibc
import NetFTDataplane

/// What happened during one scenario, for the lab report's plot: every
/// node's route states over time (sampled from the daemons' status) and the
/// test stream's gaps. Times are seconds since the scenario started.
public struct ScenarioTimeline: Codable, Sendable {
    /// A stretch of time one lane spent in one state.
    public struct Span: Codable, Sendable {
        public var lane: String
        /// up, down, joining, ... or "no daemon" while the node's daemon is not answering.
        public var state: String
        /// This route carried the node's traffic to that peer.
        public var active: Bool
        public var from: Double
        public var to: Double
    }

    public struct Gap: Codable, Sendable {
        public var from: Double
        public var to: Double
    }

    public var duration: Double
    /// "node1: node2 net1", in plot order.
    public var lanes: [String]
    public var spans: [Span]
    /// Where the test stream (node1 -> node2) delivered nothing for `gapThreshold` or longer.
    public var gaps: [Gap]
    public var gapThreshold: Double
}

/// Samples every node's routes every `interval` seconds on its own thread,
/// between start() and stop().
final class RouteTimelineRecorder: @unchecked Sendable {
    private let fabric: ClusterFabric
    private let interval: Double
    private let lock = NSLock()
    private var samples: [(at: Double, lane: String, state: String, active: Bool)] = []
    private var running = true
    private var thread: Thread?
    /// Monotonic seconds at start: the origin of every time in the timeline.
    let origin = RouteTimelineRecorder.monotonic()

    init(fabric: ClusterFabric, interval: Double = 0.02) {
        self.fabric = fabric
        self.interval = interval
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                sample()
                usleep(UInt32(interval * 1e6))
            }
        }
        self.thread = thread
        thread.start()
    }

    static func monotonic() -> Double { MonotonicClock.seconds }

    private var lanesSeen: [String] = []

    private func sample() {
        for node in fabric.nodes {
            let at = Self.monotonic() - origin
            guard let routes = fabric.status(node.name)?.routes else {
                let known = lock.withLock { lanesSeen.filter { $0.hasPrefix("\(node.name):") } }
                for lane in known { record(at, lane, "no daemon", false) }
                continue
            }
            for r in routes {
                let lane = "\(node.name): \(r.peer ?? "?") \(r.network ?? "?")"
                record(at, lane, r.state ?? "?", r.active ?? false)
            }
        }
    }

    private func record(_ at: Double, _ lane: String, _ state: String, _ active: Bool) {
        lock.withLock {
            if !lanesSeen.contains(lane) { lanesSeen.append(lane) }
            samples.append((at, lane, state, active))
        }
    }

    /// Stops sampling; the stream's gaps (stream clock, with its origin) are placed on the same axis.
    func stop(stream: TrafficStream?, gapThreshold: Double = 0.02) -> ScenarioTimeline {
        lock.withLock { running = false }
        while thread?.isFinished == false { usleep(1000) }
        let end = Self.monotonic() - origin
        let (all, lanes) = lock.withLock { (samples, lanesSeen) }
        var spans: [ScenarioTimeline.Span] = []
        for lane in lanes {
            var current: ScenarioTimeline.Span?
            for s in all where s.lane == lane {
                if let c = current, c.state == s.state, c.active == s.active { continue }
                if var c = current {
                    c.to = s.at
                    spans.append(c)
                }
                current = .init(lane: lane, state: s.state, active: s.active, from: s.at, to: end)
            }
            if let current { spans.append(current) }
        }
        var gaps: [ScenarioTimeline.Gap] = []
        if let stream {
            let shift = stream.startedAt - origin
            gaps = stream.gaps(longerThan: gapThreshold).map { .init(from: max(0, $0.from + shift), to: min(end, $0.to + shift)) }.filter { $0.to > $0.from }
        }
        return ScenarioTimeline(duration: end, lanes: lanes, spans: spans, gaps: gaps, gapThreshold: gapThreshold)
    }
}
