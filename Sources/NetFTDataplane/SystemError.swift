import Glibc

/// A failed kernel or library call: what was attempted and the errno it gave,
/// e.g. "attach XDP to veth0: Operation not supported (EOPNOTSUPP)".
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public let attempted: String
    public let errno: Int32
    public let detail: String

    public init(_ attempted: String, errno: Int32, detail: String = "") {
        self.attempted = attempted
        self.errno = errno
        self.detail = detail
    }

    /// From a shim's return value (-errno).
    public init(_ attempted: String, returned: Int32, detail: String = "") {
        self.init(attempted, errno: returned < 0 ? -returned : returned, detail: detail)
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        let name = SystemError.errnoNames[errno].map { " (\($0))" } ?? ""
        let extra = detail.isEmpty ? "" : "\n\(detail)"
        return "\(attempted): \(reason)\(name)\(extra)"
    }

    static let errnoNames: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", EBADF: "EBADF",
        EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EBUSY: "EBUSY", EEXIST: "EEXIST",
        ENODEV: "ENODEV", EINVAL: "EINVAL", ENOSPC: "ENOSPC", ENOSYS: "ENOSYS",
        EOPNOTSUPP: "EOPNOTSUPP", EADDRINUSE: "EADDRINUSE", ENOBUFS: "ENOBUFS", EMSGSIZE: "EMSGSIZE",
        E2BIG: "E2BIG", ENXIO: "ENXIO",
    ]
}

/// Calls a shim that returns a value >= 0 or -errno, throwing the latter.
@discardableResult
func check(_ attempted: @autoclosure () -> String, _ result: Int32, detail: () -> String = { "" }) throws(SystemError) -> Int32 {
    if result < 0 { throw SystemError(attempted(), returned: result, detail: detail()) }
    return result
}
