import CNetFTShims
import Glibc

/// One AF_XDP socket bound to a NIC queue, with its own UMEM, for receiving
/// (the classifier's live test and the smoke run; the daemon's dataplane is
/// XDPPort, whose sockets share one UMEM and also transmit).
///
/// Frames are touched in place: `receive` hands the handler a view into the
/// UMEM frame and gives the frame straight back to the fill ring, so nothing
/// is copied or allocated per packet.
public final class AFXDPSocket {
    public struct Options: Sendable {
        public var queue: UInt32 = 0
        public var frameSize: UInt32 = 4096
        public var frameCount: UInt32 = 4096
        public var ringSize: UInt32 = 2048
        /// Zero-copy is refused on veth (EOPNOTSUPP); copy mode works everywhere.
        public var zeroCopy = false
        public init() {}
    }

    public enum BindMode: String, Sendable { case copy, zeroCopy = "zero-copy" }

    public let interface: String
    public let options: Options
    public let bindMode: BindMode
    private let handle: OpaquePointer
    private let area: UnsafeMutableRawPointer
    private let areaSize: Int
    /// Frames not lent to the kernel (the UMEM's second half, and any the
    /// fill ring had no room for).
    private var freeFrames: [UInt64]

    public var fileDescriptor: Int32 { netft_xsk_fd(handle) }

    /// Creates the UMEM and binds on `interface`/`options.queue` in the calling
    /// thread's network namespace. With zeroCopy requested and refused, binds in
    /// copy mode and reports it in `bindMode`.
    public init(interface: String, options: Options = Options()) throws(SystemError) {
        self.interface = interface
        self.options = options
        areaSize = Int(options.frameSize) * Int(options.frameCount)
        guard let mapped = mmap(nil, areaSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            mapped != MAP_FAILED
        else { throw SystemError("map a \(areaSize)-byte UMEM", errno: errno) }
        area = mapped

        var handle: OpaquePointer?
        var mode = BindMode.copy
        var result: Int32 = -EOPNOTSUPP
        if options.zeroCopy {
            result = AFXDPSocket.bind(interface, area, options, flags: UInt16(XDP_ZEROCOPY), &handle)
            if result == 0 { mode = .zeroCopy }
        }
        if result != 0 {
            result = AFXDPSocket.bind(interface, area, options, flags: UInt16(XDP_COPY), &handle)
        }
        if result != 0 {
            munmap(area, areaSize)
            throw SystemError("bind AF_XDP socket on \(interface) queue \(options.queue) (\(mode.rawValue) mode)", returned: result)
        }
        self.handle = handle!
        bindMode = mode

        // First half of the frames feeds the kernel (fill ring); the rest are spares.
        let half = options.frameCount / 2
        freeFrames = (half..<options.frameCount).map { UInt64($0) * UInt64(options.frameSize) }
        var index: UInt32 = 0
        let reserved = netft_xsk_fill_reserve(self.handle, half, &index)
        for i in 0..<reserved { netft_xsk_fill_set(self.handle, index &+ i, UInt64(i) * UInt64(options.frameSize)) }
        netft_xsk_fill_submit(self.handle, reserved)
    }

    private static func bind(
        _ interface: String, _ area: UnsafeMutableRawPointer, _ options: Options, flags: UInt16,
        _ handle: inout OpaquePointer?
    ) -> Int32 {
        var opt = netft_xsk_options(
            queue: options.queue, frame_size: options.frameSize, frame_count: options.frameCount,
            ring_size: options.ringSize, bind_flags: flags | UInt16(XDP_USE_NEED_WAKEUP))
        return netft_xsk_create(interface, area, &opt, &handle)
    }

    deinit {
        netft_xsk_destroy(handle)
        munmap(area, areaSize)
    }

    /// Waits until a frame is ready or the timeout passes. True if ready.
    public func waitReadable(timeoutMilliseconds: Int32) -> Bool {
        var pfd = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, timeoutMilliseconds) > 0
    }

    /// Hands up to `limit` received frames to `body` in place, then returns
    /// their UMEM frames to the fill ring. Returns how many were handled.
    @discardableResult
    public func receive(limit: UInt32 = 64, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Int {
        var index: UInt32 = 0
        let count = netft_xsk_rx_peek(handle, limit, &index)
        guard count > 0 else { return 0 }
        var fillIndex: UInt32 = 0
        let fillable = netft_xsk_fill_reserve(handle, count, &fillIndex)
        var filled: UInt32 = 0
        for i in 0..<count {
            let desc = netft_xsk_rx_desc(handle, index &+ i)!.pointee
            body(UnsafeMutableRawBufferPointer(start: area + Int(desc.addr), count: Int(desc.len)))
            // Return the frame's base address (the kernel may have used an offset into it).
            let base = desc.addr - desc.addr % UInt64(options.frameSize)
            if filled < fillable {
                netft_xsk_fill_set(handle, fillIndex &+ filled, base)
                filled += 1
            } else {
                freeFrames.append(base)
            }
        }
        netft_xsk_rx_release(handle, count)
        netft_xsk_fill_submit(handle, filled)
        return Int(count)
    }
}
