import Foundation
import Logging
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
        var last = beats.load(ordering: .relaxed)
        var quietSince = Date()
        var reported = false
        while !stopped.load(ordering: .relaxed) {
            usleep(50_000)
            let now = beats.load(ordering: .relaxed)
            if now != last {
                if reported {
                    log.warning("[NETFT] watchdog: the event loop runs again after a \(Int(Date().timeIntervalSince(quietSince) * 1000)) ms stall; heartbeats are answered again")
                    reported = false
                }
                last = now
                quietSince = Date()
            } else if !reported && Date().timeIntervalSince(quietSince) * 1000 > Double(bound) {
                reported = true
                stalls.add(1, ordering: .relaxed)
                log.error("[NETFT] watchdog: the event loop has not run for \(bound) ms: this node answers no heartbeats, so its peers will fail over")
            }
        }
    }
}
