/// Smoothed round-trip time in the style of RFC 6298 (alpha 1/8, beta 1/4),
/// plus the min/max seen, all in nanoseconds.
public struct RTTEstimator: Equatable, Sendable {
    public private(set) var smoothed: UInt64 = 0
    public private(set) var variation: UInt64 = 0
    public private(set) var minimum: UInt64 = .max
    public private(set) var maximum: UInt64 = 0
    public private(set) var latest: UInt64 = 0
    public private(set) var samples: UInt64 = 0

    public init() {}

    public mutating func add(_ rtt: UInt64) {
        latest = rtt
        minimum = min(minimum, rtt)
        maximum = max(maximum, rtt)
        if samples == 0 {
            smoothed = rtt
            variation = rtt / 2
        } else {
            let delta = smoothed > rtt ? smoothed - rtt : rtt - smoothed
            variation = variation - variation / 4 + delta / 4
            smoothed = smoothed - smoothed / 8 + rtt / 8
        }
        samples += 1
    }
}

/// Which of the last N heartbeats were answered: the loss rate operators read.
public struct LossHistory: Equatable, Sendable {
    private var answered: [Bool]
    private var next = 0
    public private(set) var filled = 0

    public init(length: Int) { answered = Array(repeating: true, count: max(1, length)) }

    public mutating func record(answered value: Bool) {
        answered[next] = value
        next = (next + 1) % answered.count
        filled = min(filled + 1, answered.count)
    }

    /// Fraction of the remembered heartbeats that went unanswered (0 before any).
    public var lossRate: Double {
        guard filled > 0 else { return 0 }
        var lost = 0
        for i in 0..<filled where !answered[(next - 1 - i + answered.count * 2) % answered.count] { lost += 1 }
        return Double(lost) / Double(filled)
    }
}
