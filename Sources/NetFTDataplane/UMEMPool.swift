import CNetFTShims
import Glibc

/// A UMEM and the stack of frames that nobody (kernel or ring) holds right
/// now: the node's one, shared by the AF_XDP sockets of all its NICs, or a
/// probe's with a single socket. Every AF_XDP socket is bound here.
final class UMEMPool {
    let area: UnsafeMutableRawPointer
    let frameSize: Int
    let frameCount: Int
    let handle: OpaquePointer
    private var free: UnsafeMutablePointer<UInt64>
    private(set) var freeCount = 0

    init(frameSize: Int = 2048, frameCount: Int = 8192, ringSize: UInt32) throws(SystemError) {
        self.frameSize = frameSize
        self.frameCount = frameCount
        let bytes = frameSize * frameCount
        guard let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mapped != MAP_FAILED else {
            throw SystemError("map a \(bytes)-byte UMEM", errno: errno)
        }
        area = mapped
        var h: OpaquePointer?
        let result = netft_umem_create(area, UInt32(frameSize), UInt32(frameCount), ringSize, &h)
        if result != 0 {
            munmap(area, bytes)
            throw SystemError("register a \(bytes)-byte UMEM", returned: result)
        }
        handle = h!
        free = .allocate(capacity: frameCount)
        for i in 0..<frameCount { put(UInt64(i * frameSize)) }
    }

    deinit {
        _ = netft_umem_destroy(handle)
        munmap(area, frameSize * frameCount)
        free.deallocate()
    }

    @inline(__always) func take() -> UInt64? {
        guard freeCount > 0 else { return nil }
        freeCount -= 1
        return free[freeCount]
    }

    @inline(__always) func put(_ address: UInt64) {
        free[freeCount] = address - address % UInt64(frameSize)
        freeCount += 1
    }

    /// Binds an AF_XDP socket on `name`/`queue` to this UMEM: zero-copy if
    /// the driver takes it (`mode` then says so), else copy mode.
    func bindSocket(_ name: String, queue: UInt32, ringSize: UInt32, mode: inout AFXDPSocket.BindMode, zeroCopy: Bool = true) throws(SystemError) -> OpaquePointer {
        var handle: OpaquePointer?
        var options = netft_xsk_options(queue: queue, ring_size: ringSize, bind_flags: UInt16(XDP_ZEROCOPY) | UInt16(XDP_USE_NEED_WAKEUP))
        var result: Int32 = -EOPNOTSUPP
        if zeroCopy { result = netft_xsk_create_shared(name, self.handle, &options, &handle) }
        if result != 0 {
            options.bind_flags = UInt16(XDP_COPY) | UInt16(XDP_USE_NEED_WAKEUP)
            result = netft_xsk_create_shared(name, self.handle, &options, &handle)
        }
        try check("bind AF_XDP socket on \(name) queue \(queue)", result)
        // The mode is the kernel's word (XDP_OPTIONS), not the flags asked for.
        mode = Self.kernelMode(of: netft_xsk_fd(handle!))
        return handle!
    }

    /// Zero-copy if the kernel says the bound socket is (`XDP_OPTIONS_ZEROCOPY`).
    static func kernelMode(of socket: Int32) -> AFXDPSocket.BindMode {
        var options = xdp_options()
        var length = socklen_t(MemoryLayout<xdp_options>.size)
        guard getsockopt(socket, Int32(SOL_XDP), Int32(XDP_OPTIONS), &options, &length) == 0 else { return .copy }
        return options.flags & UInt32(XDP_OPTIONS_ZEROCOPY) != 0 ? .zeroCopy : .copy
    }

    /// The whole UMEM frame holding `address`, from `address` to the frame's end.
    @inline(__always) func buffer(at address: UInt64) -> UnsafeMutableRawBufferPointer {
        let end = Int(address) - Int(address) % frameSize + frameSize
        return UnsafeMutableRawBufferPointer(start: area + Int(address), count: end - Int(address))
    }
}
