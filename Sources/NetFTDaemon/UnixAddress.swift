import CNetFTShims
import Glibc
import NetFTDataplane

/// Unix socket addresses. A name written `@name` lives in the abstract
/// namespace, which belongs to the network namespace and vanishes with the
/// last socket bound to it (nothing on disk to go stale).
enum UnixAddress {
    static func make(_ path: String) -> (sockaddr_un, socklen_t) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let abstract = path.hasPrefix("@")
        let bytes = Array((abstract ? path.dropFirst() : Substring(path)).utf8.prefix(106))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            // Abstract: a leading NUL, then the name with no terminator.
            let start = abstract ? 1 : 0
            if abstract { raw[0] = 0 }
            for (i, byte) in bytes.enumerated() { raw[start + i] = byte }
        }
        let length = MemoryLayout<sa_family_t>.size + (abstract ? 1 + bytes.count : MemoryLayout.size(ofValue: address.sun_path))
        return (address, socklen_t(length))
    }
}

/// A listening stream socket on an abstract name, or who holds the name.
enum AbstractListener {
    case listening(Int32)
    case held(by: pid_t?)

    static func open(_ name: String) -> AbstractListener {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .held(by: nil) }
        var (address, length) = UnixAddress.make("@" + name)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            return .held(by: holder(name))
        }
        return .listening(fd)
    }

    /// The pid of the process listening on `@name`, if it answers (SO_PEERCRED).
    static func holder(_ name: String) -> pid_t? {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return nil }
        defer { close(probe) }
        var (address, length) = UnixAddress.make("@" + name)
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) } }
        guard connected == 0 else { return nil }
        let pid = netft_peer_pid(probe)
        return pid > 0 ? pid : nil
    }
}
