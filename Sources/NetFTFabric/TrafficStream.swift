import Foundation
import Glibc
import NetFTCore
import NetFTDataplane

/// A steady UDP stream through the tunnel (one numbered datagram per
/// interval) whose arrivals are timed at the receiver: how long traffic
/// stopped and how many datagrams were lost around an event.
public final class TrafficStream: @unchecked Sendable {
    public let interval: Double
    private let lock = NSLock()
    private var arrivals: [(seq: UInt32, at: Double)] = []
    private var sentAt: [Double] = []
    private var running = true
    /// Datagrams the receiving socket itself dropped (buffer full): the instrument's loss, not the tunnel's.
    private var receiverDrops: UInt32 = 0
    private var sender: NetworkNamespace.Spawned<Void>?
    private var receiver: NetworkNamespace.Spawned<Void>?
    private let clock0 = TrafficStream.monotonic()
    /// CLOCK_MONOTONIC seconds at creation: stream time 0, to place arrivals on another recorder's axis.
    public var startedAt: Double { clock0 }

    static func monotonic() -> Double { MonotonicClock.seconds }

    /// Seconds since the stream was created, on the clock arrivals use.
    public var now: Double { TrafficStream.monotonic() - clock0 }

    public init(from: String, to: String, address: IPAddress, port: UInt16 = 6000, interval: Double = 0.001) throws {
        self.interval = interval
        let ready = DispatchSemaphore(value: 0)
        receiver = NetworkNamespace.spawn(to) { [self] in
            let socket = try UDPEndpoint(port: port)
            // A failover's resent burst arrives at once; the default 208 KiB lost some at 20k datagrams/s.
            try socket.receiveBuffer(bytes: 32 << 20)
            ready.signal()
            while isRunning {
                let dropped = socket.dropped
                if dropped > 0 { lock.withLock { receiverDrops = dropped } }
                guard let datagram = socket.receive(timeoutMilliseconds: 50), datagram.count >= 4 else { continue }
                let seq = datagram.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                let at = now
                lock.withLock { arrivals.append((seq, at)) }
            }
        }
        guard ready.wait(timeout: .now() + 5) == .success else { throw SystemError("start the stream receiver", errno: ETIMEDOUT) }
        sender = NetworkNamespace.spawn(from) { [self] in
            let socket = try UDPEndpoint()
            var next = now
            var seq: UInt32 = 0
            while isRunning {
                let payload = withUnsafeBytes(of: seq.bigEndian, Array.init) + [UInt8](repeating: 0x5A, count: 60)
                let at = now
                try? socket.send(payload, to: "\(address)", port: port)  // errors while a route is down are the point
                seq += 1
                lock.withLock { sentAt.append(at) }
                next += interval
                let wait = next - now
                if wait > 0 { usleep(UInt32(wait * 1e6)) }
            }
        }
    }

    /// Datagrams the receiving socket itself dropped so far (see `Window.droppedByReceiver`).
    public var droppedByReceiver: Int { lock.withLock { Int(receiverDrops) } }

    private var isRunning: Bool { lock.withLock { running } }

    public func stop() {
        lock.withLock { running = false }
        _ = try? sender?.join(seconds: 5)
        _ = try? receiver?.join(seconds: 5)
    }

    deinit { stop() }

    public struct Window: Sendable {
        /// Datagrams sent in the window that never arrived.
        public var lost: Int
        /// The longest time without an arrival inside the window, in seconds.
        public var longestGap: Double
        public var received: Int
        /// Datagrams the test's own receiving socket dropped since the stream
        /// began (not only in the window): any is a broken measurement.
        public var droppedByReceiver: Int = 0
    }

    /// Waits until datagrams sent after `time` arrive again (or `seconds` pass).
    public func waitForFlow(after time: Double, seconds: Double) -> Bool {
        let deadline = now + seconds
        while now < deadline {
            if lock.withLock({ arrivals.last.map { $0.at > time + 0.01 } ?? false }) { return true }
            usleep(5000)
        }
        return false
    }

    /// Every stretch (stream seconds) with no arrival lasting at least `threshold`,
    /// between the first arrival and the last.
    public func gaps(longerThan threshold: Double) -> [(from: Double, to: Double)] {
        let times = lock.withLock { arrivals.map(\.at) }
        var gaps: [(from: Double, to: Double)] = []
        guard var last = times.first else { return gaps }
        for at in times.dropFirst() {
            if at - last >= threshold { gaps.append((last, at)) }
            last = at
        }
        return gaps
    }

    /// Losses and the longest gap from `start` until now. Datagrams sent just
    /// before now are still in flight, so it first waits (at most `settle`
    /// seconds) for one sent after now to arrive: counted straight away, the
    /// last datagram was reported lost about once in ten runs.
    public func windowUntilNow(from start: Double, settle: Double = 1) -> Window {
        let end = now
        _ = waitForFlow(after: end, seconds: settle)
        return window(from: start, to: end)
    }

    /// Losses and the longest gap between `start` and `end` (stream seconds).
    public func window(from start: Double, to end: Double) -> Window {
        let (all, times, drops) = lock.withLock { (arrivals, sentAt, receiverDrops) }
        let inside = all.filter { $0.at >= start && $0.at <= end }
        var gap = 0.0
        var last = start
        for a in inside {
            gap = max(gap, a.at - last)
            last = a.at
        }
        gap = max(gap, end - last)
        // Datagrams sent during the window, and which of them arrived (at any time).
        let sentInside = Set(times.indices.filter { times[$0] >= start && times[$0] <= end }.map { UInt32($0) })
        let arrived = Set(all.map(\.seq)).intersection(sentInside)
        return Window(lost: sentInside.count - arrived.count, longestGap: gap, received: inside.count, droppedByReceiver: Int(drops))
    }
}
