/// The heartbeat state machine of one route: a request every Delay, Down
/// after Threshold consecutive unanswered requests, Up after `upAfter`
/// consecutive answered ones (more after recent flaps). Time is passed in.
public struct HeartbeatMonitor: Sendable {
    public enum State: String, Sendable {
        /// Added, not yet answered.
        case initializing
        case up
        case down
    }

    public enum Event: Equatable, Sendable {
        case up
        case down(DownCause)
    }

    public enum DownCause: Equatable, Sendable {
        case missedHeartbeats(Int)
        case localLinkDown
        /// Data went out and `probes` probes in a row went unanswered (`BlackholeProbe`).
        case unansweredData(probes: Int)
    }

    public var settings: HeartbeatSettings
    public private(set) var state = State.initializing
    /// Consecutive unanswered requests.
    public private(set) var misses = 0
    /// Consecutive answered requests since the last miss.
    public private(set) var goodReplies = 0
    public private(set) var nextRequestAt: Instant
    public private(set) var lastReplyAt: Instant?
    public private(set) var requestsSent: UInt64 = 0
    public private(set) var repliesReceived: UInt64 = 0
    /// Replies older than the detection time: discarded, never counted as life.
    public private(set) var staleReplies: UInt64 = 0
    public private(set) var rtt = RTTEstimator()
    public private(set) var history: LossHistory
    public private(set) var linkUp = true
    /// Downs in a row, each within the flap window of the previous.
    public private(set) var recentDowns = 0
    public private(set) var lastDownAt: Instant?
    public private(set) var upSince: Instant?
    private var requestOutstanding = false
    private var answeredSinceRequest = false

    public init(settings: HeartbeatSettings, now: Instant) {
        self.settings = settings
        nextRequestAt = now
        history = LossHistory(length: settings.historyLength)
    }

    /// Good replies needed for Up now: doubles with each recent flap (at most 16x).
    public var requiredReplies: Int { settings.upAfter << min(recentDowns, 4) }

    /// A route back from Down must stay Up this long before it takes traffic
    /// from another Up route, so a flapping link cannot pull traffic to and fro.
    public var holdDown: Milliseconds { settings.detectionTime * 4 }

    /// Up again after a Down, but not yet for `holdDown`.
    public func isSettling(now: Instant) -> Bool {
        guard state == .up, lastDownAt != nil, let upSince else { return false }
        return now.since(upSince) < holdDown.nanoseconds
    }

    /// Downs closer together than this count as flapping.
    public var flapWindow: Milliseconds { max(settings.detectionTime * 20, 5000) }

    /// Accounts for the request whose deadline is now and says whether to send
    /// the next one. Call whenever `now >= nextRequestAt` (extra calls are harmless).
    public mutating func tick(now: Instant, early: UInt64 = 0) -> (sendRequest: Bool, event: Event?) {
        guard now.nanoseconds &+ early >= nextRequestAt.nanoseconds else { return (false, nil) }
        var event: Event?
        if requestOutstanding {
            history.record(answered: answeredSinceRequest)
            if !answeredSinceRequest {
                misses += 1
                goodReplies = 0
                if misses >= settings.threshold && state != .down {
                    event = goDown(.missedHeartbeats(misses), now: now)
                }
            }
        }
        if state == .up, let upSince, now.since(upSince) >= flapWindow.nanoseconds { recentDowns = 0 }
        // After a stall, resume one Delay from now: a starved node must not
        // count a burst of misses for time it did not run.
        // Sent up to `early` before its time (coalesced with other routes'
        // heartbeats), the next one is a Delay from now: the route keeps the
        // burst's phase, so the bursts stay together.
        let next = nextRequestAt + settings.delay
        nextRequestAt = next > now && now >= nextRequestAt ? next : now + settings.delay
        guard linkUp else {
            requestOutstanding = false
            return (false, event)
        }
        requestOutstanding = true
        answeredSinceRequest = false
        requestsSent += 1
        return (true, event)
    }

    /// A reply echoing `requestTimestamp` (our clock, ns) arrived.
    public mutating func replyReceived(requestTimestamp: UInt64, now: Instant) -> Event? {
        guard linkUp, requestTimestamp <= now.nanoseconds else { return nil }
        let roundTrip = now.nanoseconds - requestTimestamp
        guard roundTrip <= settings.detectionTime.nanoseconds else {
            staleReplies += 1
            return nil
        }
        rtt.add(roundTrip)
        repliesReceived += 1
        lastReplyAt = now
        misses = 0
        if !answeredSinceRequest {
            answeredSinceRequest = true
            goodReplies += 1
        }
        if state != .up && goodReplies >= requiredReplies {
            state = .up
            upSince = now
            return .up
        }
        return nil
    }

    /// The blackhole probe gave up on an Up route.
    public mutating func blackholed(now: Instant) -> Event? {
        guard state == .up else { return nil }
        return goDown(.unansweredData(probes: BlackholeProbe.probes), now: now)
    }

    /// A session with the peer was just established: ask at once, and do not
    /// count the request sent before it (it could not be answered).
    public mutating func sessionStarted(now: Instant) {
        requestOutstanding = false
        nextRequestAt = now
    }

    /// The local interface of this route went down or came back.
    public mutating func linkChanged(up: Bool, now: Instant) -> Event? {
        guard up != linkUp else { return nil }
        linkUp = up
        misses = 0
        goodReplies = 0
        requestOutstanding = false
        if up {
            nextRequestAt = now  // probe at once
            return nil
        }
        return state == .down ? nil : goDown(.localLinkDown, now: now)
    }

    private mutating func goDown(_ cause: DownCause, now: Instant) -> Event {
        // Only a route that was Up can flap. One that never came up (its peer
        // starting after us) is reported Down, but its first Up carries no
        // damping and no hold-down: nothing ever failed over from it.
        if state == .up {
            if let lastDownAt, now.since(lastDownAt) < flapWindow.nanoseconds { recentDowns += 1 } else { recentDowns = 0 }
            lastDownAt = now
        }
        upSince = nil
        state = .down
        return .down(cause)
    }
}
