import Glibc
import NetFTCore

/// Records what libpcap sees on a node's interfaces into one pcapng file:
/// the underlay NICs (filtered to the netft port) and optionally the virtual
/// adapter (the inner packets). Off the datapath: a copy per frame is fine.
public final class CaptureRecorder {
    public struct Source: Sendable {
        public var interface: String
        /// A pcap filter expression, or nil for everything.
        public var filter: String?
        public var description: String
        public init(interface: String, filter: String?, description: String) {
            self.interface = interface
            self.filter = filter
            self.description = description
        }
    }

    /// When to stop; whichever comes first. Both nil: only on SIGINT/SIGTERM.
    public struct Limits: Sendable {
        public var frames: Int?
        public var milliseconds: Int?
        public init(frames: Int? = nil, milliseconds: Int? = nil) {
            self.frames = frames
            self.milliseconds = milliseconds
        }
    }

    /// What was written, counted per interface and per netft frame type.
    public struct Summary: Sendable {
        public var frames = 0
        public var bytes = 0
        public var perInterface: [String: Int] = [:]
        /// netft frames by type name; frames that are not netft under "other".
        public var perType: [String: Int] = [:]
        public var stoppedBy = "limit"
    }

    private let captures: [PcapLive]
    private let file: Int32
    private var pending: [UInt8] = []

    /// Opens every source (in the calling thread's network namespace) and writes the file's header.
    public init(sources: [Source], output path: String, application: String) throws(SystemError) {
        var opened: [PcapLive] = []
        for source in sources { opened.append(try PcapLive(interface: source.interface, filter: source.filter)) }
        captures = opened
        // A capture holds cluster traffic (inner packets in the clear below encrypt): owner only.
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("create \(path)", errno: errno) }
        file = fd
        pending += PcapngEncoder.sectionHeader(application: application)
        for (capture, source) in zip(opened, sources) {
            pending += PcapngEncoder.interfaceDescription(linkType: capture.linkType, name: source.interface, description: source.description)
        }
        try flush()
    }

    deinit { close(file) }

    /// Captures until a limit is reached or SIGINT/SIGTERM arrives, then flushes and returns what was written.
    public func record(_ limits: Limits) throws(SystemError) -> Summary {
        var summary = Summary()
        // SIGINT/SIGTERM end the capture cleanly instead of killing it with data unwritten.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &stopSignals, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let end = limits.milliseconds.map { Self.monotonicMilliseconds() + $0 }
        var fds = captures.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
        while true {
            if let frames = limits.frames, summary.frames >= frames { break }
            var noWait = timespec()
            if sigtimedwait(&stopSignals, nil, &noWait) > 0 {
                summary.stoppedBy = "signal"
                break
            }
            let now = Self.monotonicMilliseconds()
            if let end, now >= end { break }
            // Short waits: the signal check above runs at least every 100 ms.
            let wait = Int32(min(100, end.map { $0 - now } ?? 100))
            _ = poll(&fds, nfds_t(fds.count), wait)
            // The limit holds across interfaces: `--count 20` writes 20, not 20 plus one per other NIC.
            for (index, capture) in captures.enumerated() {
                while limits.frames.map({ summary.frames < $0 }) ?? true, let frame = capture.waiting() {
                    append(frame, interface: index, to: &summary)
                }
            }
            try flush()
        }
        try flush()
        return summary
    }

    private func append(_ frame: PcapLive.Frame, interface index: Int, to summary: inout Summary) {
        pending += PcapngEncoder.enhancedPacket(
            interface: UInt32(index), microsecondsSince1970: frame.microsecondsSince1970, bytes: frame.bytes, wireLength: frame.wireLength)
        summary.frames += 1
        summary.bytes += frame.bytes.count
        summary.perInterface[captures[index].interface, default: 0] += 1
        let type = captures[index].linkType == PcapngEncoder.LinkType.ethernet ? Self.netftType(ofEthernetFrame: frame.bytes) : nil
        summary.perType[type ?? "other", default: 0] += 1
    }

    private func flush() throws(SystemError) {
        var written = 0
        while written < pending.count {
            let n = pending.withUnsafeBytes { write(file, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write capture", errno: errno)
            }
            written += n
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// The netft frame type of an Ethernet frame (by its header only), or nil if it is not a netft frame.
    public static func netftType(ofEthernetFrame bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { raw -> String? in
            guard let parsed = OuterHeaders.parse(raw), raw.count - parsed.payload >= Wire.headerSize else { return nil }
            var frame = Array(raw[parsed.payload...])
            let header = frame.withUnsafeMutableBytes { try? FrameCodec.readHeader($0, length: $0.count) }
            return header.map { name(of: $0.type) }
        }
    }

    /// The names docs/PROTOCOL.md and dist/netft.lua use.
    public static func name(of type: FrameType) -> String {
        switch type {
        case .heartbeatRequest: "heartbeat_request"
        case .heartbeatReply: "heartbeat_reply"
        case .data: "data"
        case .ack: "ack"
        case .hello: "hello"
        }
    }

    private static func monotonicMilliseconds() -> Int { MonotonicClock.milliseconds }
}
