/// The data frames sent on a route and not yet acknowledged, oldest first, so
/// that on failover they can be resent on the new route (lossless failover).
///
/// Bounded: capacity is fixed at creation and never grows. When it is full,
/// recording a new frame evicts the oldest, which the caller releases and
/// counts (`evicted`): that frame is no longer protected against a route loss.
/// `handle` is the caller's reference to the frame (e.g. a UMEM address); the
/// record never touches frame bytes.
public struct UnackedRecord: Sendable {
    public struct Entry: Equatable, Sendable {
        public var sequence: UInt64
        public var handle: UInt64
    }

    private var entries: [Entry]
    private var head = 0
    public private(set) var count = 0
    public let capacity: Int
    /// Frames pushed out at the bound before they were acknowledged.
    public private(set) var evicted: UInt64 = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "an unacked record needs room for at least one frame")
        self.capacity = capacity
        entries = Array(repeating: Entry(sequence: 0, handle: 0), count: capacity)
    }

    /// Records a sent frame. Returns the handle evicted to make room, if any.
    @inline(__always)
    public mutating func record(sequence: UInt64, handle: UInt64) -> UInt64? {
        var evictedHandle: UInt64?
        if count == capacity {
            evictedHandle = entries[head].handle
            head = (head + 1) % capacity
            count -= 1
            evicted += 1
        }
        entries[(head + count) % capacity] = Entry(sequence: sequence, handle: handle)
        count += 1
        return evictedHandle
    }

    /// Drops every entry with sequence <= `acknowledged`, handing each handle to `release`.
    @inline(__always)
    public mutating func acknowledge(upTo acknowledged: UInt64, release: (UInt64) -> Void) {
        while count > 0 && entries[head].sequence <= acknowledged {
            release(entries[head].handle)
            head = (head + 1) % capacity
            count -= 1
        }
    }

    /// Hands every unacknowledged entry to `body`, oldest first, and empties the record.
    public mutating func drain(_ body: (Entry) -> Void) {
        while count > 0 {
            body(entries[head])
            head = (head + 1) % capacity
            count -= 1
        }
    }

    public var oldest: Entry? { count > 0 ? entries[head] : nil }
}
