import Foundation
import Logging
import NetFTCore
import Synchronization

/// Watches the event loop from a thread of its own. The loop answers
/// heartbeats, so a stalled loop already stops this node from answering and
/// its peers fail over; the watchdog makes that visible: it says when the
/// loop has not run for longer than the bound, and when it runs again.
final class Watchdog: @unchecked Sendable {
    let bound: UInt64
    let log: Logger
    private let beats = Atomic<UInt64>(0)
    private let stopped = Atomic<Bool>(false)
    private var thread: Thread?
    /// Stalls seen since start.
    let stalls = Atomic<UInt64>(0)

    init(boundMilliseconds: UInt64, log: Logger) {
        bound = boundMilliseconds
        self.log = log
    }

    /// Called by the loop on every pass.
    @inline(__always) func alive() { beats.add(1, ordering: .relaxed) }

    func start() {
        let t = Thread { [self] in watch() }
        thread = t
        t.start()
    }

    func stop() { stopped.store(true, ordering: .relaxed) }

    private func watch() {
        // The monotonic clock: a wall-clock step must neither fake a stall nor hide one.
        // Looked at four times per bound (at most every 50 ms), so a stall is named
        // within a quarter of the bound after it passes it.
        let tick = UInt32(min(50, max(1, bound / 4)) * 1000)
        var last = beats.load(ordering: .relaxed)
        var quietSince = Instant.now
        var reported = false
        while !stopped.load(ordering: .relaxed) {
            usleep(tick)
            let now = beats.load(ordering: .relaxed)
            let quiet = Instant.now.since(quietSince) / 1_000_000
            if now != last {
                if reported {
                    log.warning("[NETFT] watchdog: the event loop runs again after a \(quiet) ms stall; heartbeats are answered again")
                    reported = false
                }
                last = now
                quietSince = Instant.now
            } else if !reported && quiet > bound {
                reported = true
                stalls.add(1, ordering: .relaxed)
                log.error("[NETFT] watchdog: the event loop has not run for \(bound) ms: this node answers no heartbeats, so its peers will fail over")
            }
        }
    }
}
