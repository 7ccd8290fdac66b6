import CNetFTShims
import Glibc
import NetFTDataplane

/// One daemon per node in a network namespace: a listening Unix socket bound
/// to `@netft/node/<name>` in the abstract namespace, which belongs to the
/// network namespace. Only one process can hold the name, and the kernel
/// releases it when the holder exits, however it exits (SIGKILL included), so
/// there is no lock file to go stale or to be left behind. A second daemon
/// connects to it to learn the holder's pid (SO_PEERCRED).
///
/// Taken before anything with a side effect (TUN, XDP, pins, sockets), so a
/// second start changes nothing of the first.
final class InstanceLock {
    let fd: Int32
    let name: String

    init(node: String) throws(SystemError) {
        name = "netft/node/\(node)"
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("open the instance lock socket", errno: errno) }
        var (address, length) = InstanceLock.address(name)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 4) == 0 else {
            let error = errno
            close(fd)
            guard error == EADDRINUSE else { throw SystemError("take the instance lock @\(name)", errno: error) }
            let holder = InstanceLock.holder(name).map { "pid \($0)" } ?? "pid unknown"
            throw SystemError("start netft for node \(node): another netft daemon (\(holder)) already runs it in this network namespace; stop it first (the lock is @\(name), released when that process exits)", errno: EBUSY)
        }
    }

    deinit { close(fd) }

    /// Accepts and closes whoever asked who holds the lock (the control plane polls `fd`).
    func answerProbes() {
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            close(client)
        }
    }

    /// The pid of the process holding `name`, if it answers.
    static func holder(_ name: String) -> pid_t? {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return nil }
        defer { close(probe) }
        var (address, length) = address(name)
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) } }
        guard connected == 0 else { return nil }
        let pid = netft_peer_pid(probe)
        return pid > 0 ? pid : nil
    }

    /// An abstract-namespace address: a leading NUL, then the name (no terminator).
    static func address(_ name: String) -> (sockaddr_un, socklen_t) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8.prefix(106))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw[0] = 0
            for (i, byte) in bytes.enumerated() { raw[i + 1] = byte }
        }
        return (address, socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count))
    }
}
