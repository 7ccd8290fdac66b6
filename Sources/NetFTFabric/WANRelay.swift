import CNetFTShims
import Glibc
import NetFTDataplane

/// The lab's inter-site link: every frame that arrives on one of two
/// interfaces leaves by the other `delay` later. The kernel here has no
/// netem (nor fq for departure times), so the delay is a userspace relay in
/// a namespace of its own, between a router and the far site's switch.
/// Frames keep their virtio-net header, so GSO frames and partial checksums
/// cross as they came. Each direction holds at most `limitBytes` in flight;
/// past that a frame is dropped and counted, as a WAN's buffer would.
///
/// Each socket gets `receiveBufferBytes` (16 MiB): with the default 208 KiB
/// a failover's burst of ~175 resent frames overflowed it, the kernel dropped
/// ten, and the lab blamed lossless failover for the instrument's loss. Those
/// drops are counted too (`droppedInSocket`), so the lab can tell them apart.
public final class WANRelay {
    /// A frame waiting for its departure time (monotonic nanoseconds).
    struct Pending {
        var due: UInt64
        var bytes: [UInt8]
    }

    /// One way across: frames read from `from` wait in `queue` to leave by `to`.
    struct Direction {
        let from: Int32
        let to: Int32
        var queue: [Pending] = []
        var head = 0
        var bytesQueued = 0
        var relayed: UInt64 = 0
        var dropped: UInt64 = 0
        /// Dropped by the kernel before the relay read them (its socket full).
        var droppedInSocket: UInt64 = 0

        var next: UInt64? { head < queue.count ? queue[head].due : nil }
    }

    public let delayNanoseconds: UInt64
    let limitBytes: Int
    var directions: [Direction]
    /// One read: a virtio-net header and up to a 64 KiB GSO frame.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536 + 64, alignment: 16)

    public init(between a: String, and b: String, delayMilliseconds: UInt64, limitBytes: Int = 16 << 20, receiveBufferBytes: Int32 = 16 << 20) throws {
        func open(_ name: String) throws -> Int32 {
            let index = Int32(if_nametoindex(name))
            guard index > 0 else { throw SystemError("find interface \(name)", errno: errno) }
            let fd = netft_packet_open_relay(index, receiveBufferBytes)
            guard fd >= 0 else { throw SystemError("open a packet socket on \(name)", errno: -fd) }
            return fd
        }
        let fa = try open(a)
        let fb: Int32
        do { fb = try open(b) } catch {
            close(fa)
            throw error
        }
        delayNanoseconds = delayMilliseconds * 1_000_000
        self.limitBytes = limitBytes
        directions = [Direction(from: fa, to: fb), Direction(from: fb, to: fa)]
    }

    deinit {
        for d in directions { close(d.from) }
        buffer.deallocate()
    }

    /// What the relay did, both ways together.
    public struct Counts: Codable, Equatable, Sendable {
        public var relayed: UInt64 = 0
        /// Its queue full, or refused by the interface: the WAN's own loss.
        public var dropped: UInt64 = 0
        /// Dropped by the kernel in the relay's socket: the instrument's loss.
        public var droppedInSocket: UInt64 = 0
        public init(relayed: UInt64 = 0, dropped: UInt64 = 0, droppedInSocket: UInt64 = 0) {
            self.relayed = relayed
            self.dropped = dropped
            self.droppedInSocket = droppedInSocket
        }
        enum CodingKeys: String, CodingKey {
            case relayed, dropped
            case droppedInSocket = "dropped_in_socket"
        }
    }

    public var counts: Counts {
        for i in directions.indices {
            let taken = netft_packet_take_drops(directions[i].from)
            if taken > 0 { directions[i].droppedInSocket += UInt64(taken) }
        }
        return Counts(
            relayed: directions.reduce(0) { $0 + $1.relayed }, dropped: directions.reduce(0) { $0 + $1.dropped },
            droppedInSocket: directions.reduce(0) { $0 + $1.droppedInSocket })
    }

    /// Relays until `keepGoing` says no (asked at least every 100 ms), and
    /// hands `report` the counts at most every 100 ms while they change, and at the end.
    public func run(while keepGoing: () -> Bool, report: (Counts) -> Void = { _ in }) {
        var fds = directions.map { pollfd(fd: $0.from, events: Int16(POLLIN), revents: 0) }
        var reported = Counts()
        var reportedAt: UInt64 = 0
        defer { report(counts) }
        while keepGoing() {
            if MonotonicClock.nanoseconds - reportedAt >= 100_000_000 {
                let now = counts
                if now != reported { report(now) }
                reported = now
                reportedAt = MonotonicClock.nanoseconds
            }
            let now = MonotonicClock.nanoseconds
            let due = directions.compactMap(\.next).min()
            let wait = due.map { $0 > now ? Int32(min(($0 - now + 999_999) / 1_000_000, 100)) : 0 } ?? 100
            _ = poll(&fds, nfds_t(fds.count), wait)
            for i in directions.indices {
                if fds[i].revents != 0 { receive(&directions[i]) }
                send(&directions[i], now: MonotonicClock.nanoseconds)
            }
        }
    }

    /// Everything the socket holds now joins the queue, stamped with its departure time.
    private func receive(_ d: inout Direction) {
        while true {
            let n = read(d.from, buffer.baseAddress, buffer.count)
            // EAGAIN: drained. ENETDOWN (the link went down): said once, nothing lost here.
            guard n > 0 else { return }
            guard d.bytesQueued + n <= limitBytes else {
                d.dropped += 1
                continue
            }
            d.queue.append(Pending(due: MonotonicClock.nanoseconds + delayNanoseconds, bytes: Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))))
            d.bytesQueued += n
        }
    }

    /// Frames whose time has come leave, in the order they arrived.
    private func send(_ d: inout Direction, now: UInt64) {
        while d.head < d.queue.count && d.queue[d.head].due <= now {
            let sent = d.queue[d.head].bytes.withUnsafeBytes { write(d.to, $0.baseAddress, $0.count) }
            if sent < 0 { d.dropped += 1 } else { d.relayed += 1 }
            d.bytesQueued -= d.queue[d.head].bytes.count
            d.head += 1
        }
        if d.head == d.queue.count {
            d.queue.removeAll(keepingCapacity: true)
            d.head = 0
        } else if d.head > 4096 {
            d.queue.removeFirst(d.head)
            d.head = 0
        }
    }
}
