import Glibc
import NetFTCore

/// CLOCK_MONOTONIC, read in one place for the I/O modules (captures, probes, the lab).
public enum MonotonicClock {
    public static var nanoseconds: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public static var milliseconds: Int { Int(nanoseconds / 1_000_000) }
    public static var seconds: Double { Double(nanoseconds) / 1e9 }
}

extension Instant {
    /// Now on CLOCK_MONOTONIC: Core's time, read by the I/O modules from the one clock above.
    public static var now: Instant { Instant(nanoseconds: MonotonicClock.nanoseconds) }
}
