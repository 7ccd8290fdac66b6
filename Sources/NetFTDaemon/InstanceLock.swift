import Glibc
import NetFTDataplane

/// One daemon per node: an exclusive lock on a file beside the control socket.
final class InstanceLock {
    let fd: Int32

    init(path: String, node: String) throws(SystemError) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("open lock file \(path)", errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            let pid = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            close(fd)
            throw SystemError("start netft for node \(node): another netft daemon (pid \(pid)) already runs it (lock \(path))", errno: EBUSY)
        }
        ftruncate(fd, 0)
        let text = Array("\(getpid())\n".utf8)
        _ = pwrite(fd, text, text.count, 0)
    }

    deinit { close(fd) }
}
