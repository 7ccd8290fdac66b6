import CNetFTShims
import Glibc

/// One AF_XDP socket bound to a NIC queue, with its own UMEM, for receiving
/// (the classifier's live test and the smoke run; the daemon's dataplane is
/// XDPDataplane, whose sockets share one UMEM and also transmit).
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
    private let pool: UMEMPool
    private let handle: OpaquePointer

    public var fileDescriptor: Int32 { netft_xsk_fd(handle) }

    /// Creates the UMEM and binds on `interface`/`options.queue` in the calling
    /// thread's network namespace (the same path as the node's sockets, with a
    /// UMEM of its own). With zeroCopy requested and refused, binds in copy
    /// mode and reports it in `bindMode`.
    public init(interface: String, options: Options = Options()) throws(SystemError) {
        self.interface = interface
        self.options = options
        pool = try UMEMPool(frameSize: Int(options.frameSize), frameCount: Int(options.frameCount), ringSize: options.ringSize)
        var mode = BindMode.copy
        do {
            handle = try pool.bindSocket(interface, queue: options.queue, ringSize: options.ringSize, mode: &mode, zeroCopy: options.zeroCopy)
        } catch {
            throw SystemError("\(error.attempted) (\(mode.rawValue) mode)", errno: error.errno)
        }
        bindMode = mode
        // Half the frames feed the kernel (fill ring); the rest stay in the pool as spares.
        let half = options.frameCount / 2
        var index: UInt32 = 0
        let reserved = netft_xsk_fill_reserve(handle, half, &index)
        for i in 0..<reserved { netft_xsk_fill_set(handle, index &+ i, pool.take()!) }
        netft_xsk_fill_submit(handle, reserved)
    }

    deinit { netft_xsk_destroy(handle) }

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
            body(UnsafeMutableRawBufferPointer(rebasing: pool.buffer(at: desc.addr)[0..<Int(desc.len)]))
            // Back to the kernel at once, or to the pool if the fill ring is full.
            pool.put(desc.addr)
            if filled < fillable, let frame = pool.take() {
                netft_xsk_fill_set(handle, fillIndex &+ filled, frame)
                filled += 1
            }
        }
        netft_xsk_rx_release(handle, count)
        netft_xsk_fill_submit(handle, filled)
        return Int(count)
    }
}
