import Glibc

/// Socket options by name, set through one checked call: a refused option is
/// an error naming the option, never a silently ignored return value
/// (the numbers Glibc leaves out are in `Linux`).
public enum SocketOption {
    case reuseAddress
    /// The socket sends and receives through this device only, whatever the routing table says.
    case bindToDevice(String)
    /// Never fragment (IP_PMTUDISC_DO): the sender learns a frame is too big instead.
    case dontFragment(ipv4: Bool)
    case receiveBuffer(Int32)
    case sendBuffer(Int32)
    /// The receive buffer past `net.core.rmem_max` (needs CAP_NET_ADMIN).
    case receiveBufferForce(Int32)
    case receiveTimeout(timeval)
    case sendTimeout(timeval)

    var name: String {
        switch self {
        case .reuseAddress: "SO_REUSEADDR"
        case .bindToDevice(let device): "SO_BINDTODEVICE \(device)"
        case .dontFragment(let v4): v4 ? "IP_MTU_DISCOVER" : "IPV6_MTU_DISCOVER"
        case .receiveBuffer: "SO_RCVBUF"
        case .sendBuffer: "SO_SNDBUF"
        case .receiveBufferForce: "SO_RCVBUFFORCE"
        case .receiveTimeout: "SO_RCVTIMEO"
        case .sendTimeout: "SO_SNDTIMEO"
        }
    }

    /// Sets the option on `fd`, or throws naming it and what `context` was opening.
    public func set(on fd: Int32, _ context: @autoclosure () -> String = "socket") throws(SystemError) {
        func apply<T>(_ level: Int32, _ option: Int32, _ value: T) -> Int32 {
            withUnsafePointer(to: value) { setsockopt(fd, level, option, $0, socklen_t(MemoryLayout<T>.size)) }
        }
        let result: Int32
        switch self {
        case .reuseAddress: result = apply(SOL_SOCKET, SO_REUSEADDR, Int32(1))
        case .bindToDevice(let device):
            result = device.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(device.utf8.count)) }
        case .dontFragment(let v4):
            result = apply(v4 ? Int32(IPPROTO_IP) : Int32(IPPROTO_IPV6), v4 ? Linux.ipMTUDiscover : Linux.ipv6MTUDiscover, Linux.pmtuDiscoverDo)
        case .receiveBuffer(let bytes): result = apply(SOL_SOCKET, SO_RCVBUF, bytes)
        case .sendBuffer(let bytes): result = apply(SOL_SOCKET, SO_SNDBUF, bytes)
        case .receiveBufferForce(let bytes): result = apply(SOL_SOCKET, Linux.receiveBufferForce, bytes)
        case .receiveTimeout(let time): result = apply(SOL_SOCKET, SO_RCVTIMEO, time)
        case .sendTimeout(let time): result = apply(SOL_SOCKET, SO_SNDTIMEO, time)
        }
        guard result == 0 else { throw SystemError("set \(name) on \(context())", errno: errno) }
    }

    /// Datagrams the kernel dropped at `fd` since it opened (receive buffer
    /// full, or filtered), from SO_MEMINFO; nil if the kernel would not say.
    public static func drops(on fd: Int32) -> UInt32? {
        var info = [UInt32](repeating: 0, count: Linux.memoryInfoCount)
        var length = socklen_t(info.count * MemoryLayout<UInt32>.size)
        guard getsockopt(fd, SOL_SOCKET, Linux.memoryInfo, &info, &length) == 0, Int(length) > Linux.memoryInfoDrops * 4 else { return nil }
        return info[Linux.memoryInfoDrops]
    }
}
