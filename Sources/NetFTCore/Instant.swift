/// A point on the node's monotonic clock, in nanoseconds. Core never reads a
/// clock: callers pass `now`, so every decision is reproducible in tests.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }
    public static func milliseconds(_ ms: UInt64) -> Instant { Instant(nanoseconds: ms * 1_000_000) }
    public static let zero = Instant(nanoseconds: 0)

    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }
    public static func + (a: Instant, ms: Milliseconds) -> Instant { Instant(nanoseconds: a.nanoseconds &+ ms.nanoseconds) }

    /// Nanoseconds from `earlier` to self, 0 if earlier is later.
    public func since(_ earlier: Instant) -> UInt64 { nanoseconds >= earlier.nanoseconds ? nanoseconds - earlier.nanoseconds : 0 }
    public var description: String { "\(Double(nanoseconds) / 1e6) ms" }
}

/// A span in whole milliseconds, the unit of the Windows heartbeat settings.
public struct Milliseconds: Comparable, Hashable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public init(integerLiteral value: UInt64) { self.value = value }
    public var nanoseconds: UInt64 { value * 1_000_000 }
    public static func < (a: Milliseconds, b: Milliseconds) -> Bool { a.value < b.value }
    public static func * (a: Milliseconds, n: Int) -> Milliseconds { Milliseconds(a.value * UInt64(n)) }
    public var description: String { "\(value) ms" }
}
