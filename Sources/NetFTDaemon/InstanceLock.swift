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
        switch AbstractListener.open(name) {
        case .listening(let fd): self.fd = fd
        case .held(let holder):
            let pid = holder.map { "pid \($0)" } ?? "pid unknown"
            throw SystemError("start netft for node \(node): another netft daemon (\(pid)) already runs it in this network namespace; stop it first (the lock is @\(name), released when that process exits)", errno: EBUSY)
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
}
