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

        var next: UInt64? { head < queue.count ? queue[head].due : nil }
    }

    public let delayNanoseconds: UInt64
    let limitBytes: Int
    var directions: [Direction]
    /// One read: a virtio-net header and up to a 64 KiB GSO frame.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536 + 64, alignment: 16)

    public init(between a: String, and b: String, delayMilliseconds: UInt64, limitBytes: Int = 16 << 20) throws {
        func open(_ name: String) throws -> Int32 {
            let index = Int32(if_nametoindex(name))
            guard index > 0 else { throw SystemError("find interface \(name)", errno: errno) }
            let fd = netft_packet_open_relay(index)
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

    /// Frames relayed and dropped (queue full or refused by the interface), both ways.
    public var counts: (relayed: UInt64, dropped: UInt64) {
        (directions.reduce(0) { $0 + $1.relayed }, directions.reduce(0) { $0 + $1.dropped })
    }

    /// Relays until `keepGoing` says no (asked at least every 100 ms).
    public func run(while keepGoing: () -> Bool) {
        var fds = directions.map { pollfd(fd: $0.from, events: Int16(POLLIN), revents: 0) }
        while keepGoing() {
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
