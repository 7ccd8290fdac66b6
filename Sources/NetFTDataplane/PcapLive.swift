import CNetFTShims
import Glibc

/// A live capture on an interface through libpcap (non-blocking, immediate).
public final class PcapLive {
    private let handle: OpaquePointer
    public let interface: String

    /// Opens the capture in the calling thread's network namespace.
    public init(interface: String, filter: String? = nil) throws(SystemError) {
        self.interface = interface
        var reason = [CChar](repeating: 0, count: 512)
        var h: OpaquePointer?
        let result = netft_pcap_open_live(interface, filter, &reason, reason.count, &h)
        try check("capture on \(interface)", result) { String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        handle = h!
    }

    deinit { netft_pcap_close(handle) }

    /// The next captured frame, waiting at most `timeoutMilliseconds`; nil if none came.
    public func next(timeoutMilliseconds: Int32) -> [UInt8]? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        if netft_pcap_next(handle, &data, &length) == 1 { return Array(UnsafeBufferPointer(start: data, count: Int(length))) }
        var pfd = pollfd(fd: netft_pcap_fd(handle), events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeoutMilliseconds) > 0 else { return nil }
        guard netft_pcap_next(handle, &data, &length) == 1 else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(length)))
    }

    /// Every frame that arrives within `milliseconds`.
    public func drain(milliseconds: Int32) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let end = Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000 + Int64(milliseconds)
        while true {
            clock_gettime(CLOCK_MONOTONIC, &ts)
            let left = end - (Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
            guard left > 0 else { return frames }
            if let f = next(timeoutMilliseconds: Int32(left)) { frames.append(f) }
        }
    }
}
