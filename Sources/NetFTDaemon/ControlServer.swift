import Foundation
import Glibc
import NetFTDataplane

/// The control socket: a Unix stream socket (mode 0600) answering one
/// request line ("status", "routes", "nodes") with one JSON document.
final class ControlServer {
    let path: String
    let fd: Int32

    init(path: String) throws(SystemError) {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("open control socket", errno: errno) }
        var address = ControlServer.address(path)
        let previous = umask(0o077)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(previous)
        guard bound == 0, listen(fd, 16) == 0 else {
            let error = errno
            close(fd)
            throw SystemError("listen on control socket \(path)", errno: error)
        }
        chmod(path, 0o600)
    }

    deinit {
        close(fd)
        unlink(path)
    }

    static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        return address
    }

    /// Answers every waiting client with `answer(request)`.
    func serve(_ answer: (String) -> Data) {
        OneShotServer.serve(fd, requestLimit: 256) { request in
            [UInt8](answer(String(decoding: request, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        }
    }

    /// Client side: sends `request`, returns the whole answer.
    static func ask(_ request: String, path: String) throws(SystemError) -> Data {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("open socket", errno: errno) }
        defer { close(fd) }
        var address = address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw SystemError("connect to the netft daemon at \(path) (is it running?)", errno: errno) }
        let bytes = Array((request + "\n").utf8)
        _ = send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL))
        var answer = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            answer.append(contentsOf: buffer[0..<n])
        }
        return answer
    }
}
