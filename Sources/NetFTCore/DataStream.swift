/// The data between this node and one peer, across all routes: lossless
/// failover lives here.
///
/// Every data frame to the peer takes the next stream sequence, whatever
/// route carries it. The peer accepts each stream sequence once (a replay
/// window per peer, not per route) and acknowledges cumulatively: in ack
/// frames (every `ackEvery` frames or `ackDelay` after the first one not yet
/// acknowledged) and in every heartbeat request, on any route, so an ack
/// crosses whichever route still works. After a failover the sender resends
/// everything not yet acknowledged, oldest first, before new traffic; a copy
/// that also arrived the old way is refused as a duplicate and counted.
/// The bytes themselves are kept by the caller (see `unacknowledged`).
public struct DataStream: Sendable {
    /// Frames received before an ack is due, and how long the first may wait.
    public static let ackEvery = 32
    public static let ackDelay = Milliseconds(5)

    // Outbound
    /// The last stream sequence sent (0: none yet).
    public private(set) var sent: UInt64 = 0
    /// The peer's cumulative acknowledgement of our stream.
    public private(set) var acknowledged: UInt64 = 0
    /// The peer's session our `acknowledged` refers to: a restarted peer knows nothing we sent.
    private var ackSession: UInt32 = 0

    // Inbound
    /// The peer's stream sequences accepted, and their cumulative point.
    public private(set) var received = ReplayWindow()
    /// The peer's session `received` belongs to.
    public private(set) var peerSession: UInt32 = 0
    /// Data frames accepted since our last ack, and when the first of them arrived.
    public private(set) var unackedCount = 0
    public private(set) var unackedSince: Instant?

    public init() {}

    /// Stream sequences sent and not yet acknowledged, oldest first.
    public var unacknowledged: ClosedRange<UInt64>? { sent > acknowledged ? (acknowledged + 1)...sent : nil }

    /// The stream sequence of the next data frame.
    @inline(__always)
    public mutating func next() -> UInt64 {
        sent &+= 1
        return sent
    }

    /// The peer's cumulative acknowledgement, carried by a frame of its `session`.
    @inline(__always)
    public mutating func acknowledge(_ upTo: UInt64, session: UInt32) {
        if session != ackSession {
            // A peer that restarted has none of what we sent before: nothing of it is resent.
            ackSession = session
            acknowledged = sent
            return
        }
        if upTo > acknowledged { acknowledged = min(upTo, sent) }
    }

    public enum Arrival: Equatable, Sendable { case new, duplicate, tooOld }

    /// A data frame with stream sequence `sequence` from the peer's `session` arrived.
    @inline(__always)
    public mutating func accept(_ sequence: UInt64, session: UInt32, now: Instant) -> Arrival {
        if session != peerSession {
            peerSession = session
            received = ReplayWindow()
        }
        switch received.accept(sequence) {
        case .accepted:
            if unackedCount == 0 { unackedSince = now }
            unackedCount += 1
            return .new
        case .duplicate: return .duplicate
        case .tooOld: return .tooOld
        }
    }

    /// When an ack of received data is due (nil: nothing to acknowledge).
    public var ackDeadline: Instant? {
        guard let since = unackedSince else { return nil }
        return unackedCount >= DataStream.ackEvery ? since : since + DataStream.ackDelay
    }

    /// An ack (or a frame carrying one) went out.
    public mutating func acked() {
        unackedCount = 0
        unackedSince = nil
    }
}
