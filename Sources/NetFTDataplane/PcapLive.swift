import CNetFTShims
import Glibc

/// A live capture on an interface through libpcap (non-blocking, immediate).
public final class PcapLive {
    /// One captured frame with what a capture file records about it.
    public struct Frame: Sendable {
        public let bytes: [UInt8]
        /// Length on the wire (longer than `bytes` only if the snapshot cut it).
        public let wireLength: UInt32
        public let microsecondsSince1970: UInt64
    }

    private let handle: OpaquePointer
    public let interface: String
    /// libpcap's link type (1 Ethernet, 12/101 raw IP): capture files record it per interface.
    public let linkType: UInt16
    /// The descriptor to poll for readability.
    public var descriptor: Int32 { netft_pcap_fd(handle) }

    /// Opens the capture in the calling thread's network namespace.
    public init(interface: String, filter: String? = nil) throws(SystemError) {
        self.interface = interface
        var reason = [CChar](repeating: 0, count: 512)
        var h: OpaquePointer?
        let result = netft_pcap_open_live(interface, filter, &reason, reason.count, &h)
        try check("capture on \(interface)", result) { String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        handle = h!
        linkType = UInt16(truncatingIfNeeded: netft_pcap_datalink(h))
    }

    deinit { netft_pcap_close(handle) }

    /// The next frame already waiting, without blocking; nil if none waits.
    public func waiting() -> Frame? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        var wire: UInt32 = 0
        var usec: UInt64 = 0
        guard netft_pcap_next_stamped(handle, &data, &length, &wire, &usec) == 1 else { return nil }
        return Frame(bytes: Array(UnsafeBufferPointer(start: data, count: Int(length))), wireLength: wire, microsecondsSince1970: usec)
    }

    /// The next captured frame, waiting at most `timeoutMilliseconds`; nil if none came.
    public func next(timeoutMilliseconds: Int32) -> [UInt8]? {
        if let frame = waiting() { return frame.bytes }
        var pfd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeoutMilliseconds) > 0 else { return nil }
        return waiting()?.bytes
    }

    /// Every frame that arrives within `milliseconds`.
    public func drain(milliseconds: Int32) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        let end = MonotonicClock.milliseconds + Int(milliseconds)
        while true {
            let left = end - MonotonicClock.milliseconds
            guard left > 0 else { return frames }
            if let f = next(timeoutMilliseconds: Int32(left)) { frames.append(f) }
        }
    }
}
