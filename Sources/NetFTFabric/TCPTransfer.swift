import Foundation
import Glibc
import NetFTCore
import NetFTDataplane

/// A TCP transfer between two namespaces with every byte checked: the
/// sender streams a deterministic pseudo-random sequence, the receiver
/// regenerates it and compares, and records the longest pause in arrival
/// (how long traffic stopped, e.g. during a failover).
public enum TCPTransfer {
    public struct Result: Sendable {
        public var bytes: Int
        public var intact: Bool
        public var seconds: Double
        public var longestStallSeconds: Double
        public var gbps: Double { Double(bytes) * 8 / seconds / 1e9 }
    }

    /// xorshift64* stream: both ends produce the same bytes from the seed.
    struct Stream {
        var state: UInt64
        mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
            var i = 0
            while i + 8 <= buffer.count {
                state ^= state >> 12
                state ^= state << 25
                state ^= state >> 27
                buffer.storeBytes(of: state &* 0x2545_F491_4F6C_DD1D, toByteOffset: i, as: UInt64.self)
                i += 8
            }
        }
    }

    /// Sends `bytes` from `client` to `server` at `address`:`port`; `during`
    /// runs on the caller's thread once data flows (e.g. to cut a link).
    public static func run(
        from client: String, to server: String, address: IPAddress, port: UInt16 = 5001, bytes: Int, seconds: Double = 60,
        during: (() throws -> Void)? = nil
    ) throws -> Result {
        let seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        let chunk = 64 * 1024
        let listening = DispatchSemaphore(value: 0)
        let flowing = DispatchSemaphore(value: 0)
        let receiver = NetworkNamespace.spawn(server) { () throws -> Result in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            try SocketOption.reuseAddress.set(on: fd, "the TCP listener in \(server)")
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            let bound = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0, listen(fd, 1) == 0 else { throw SystemError("listen on TCP \(port) in \(server)", errno: errno) }
            listening.signal()
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(seconds * 1000)) > 0 else { throw SystemError("accept a TCP connection in \(server)", errno: ETIMEDOUT) }
            let conn = accept(fd, nil, nil)
            guard conn >= 0 else { throw SystemError("accept", errno: errno) }
            defer { close(conn) }
            try SocketOption.receiveTimeout(timeval(tv_sec: Int(seconds), tv_usec: 0)).set(on: conn, "the TCP receiver in \(server)")
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 8)
            let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 8)
            defer { buffer.deallocate(); expected.deallocate() }
            var stream = Stream(state: seed)
            var received = 0, checked = 0, intact = true
            var pending = 0  // bytes of `expected` not yet compared
            let start = Date()
            var last = start
            var stall = 0.0
            while received < bytes {
                let n = recv(conn, buffer.baseAddress, min(chunk, bytes - received), 0)
                guard n > 0 else { break }
                let now = Date()
                if received > 0 { stall = max(stall, now.timeIntervalSince(last)) } else { flowing.signal() }
                last = now
                // Compare byte for byte against the regenerated stream.
                var offset = 0
                while offset < n {
                    if pending == 0 {
                        stream.fill(expected)
                        pending = chunk
                    }
                    let take = min(pending, n - offset)
                    let from = chunk - pending
                    if memcmp(buffer.baseAddress! + offset, expected.baseAddress! + from, take) != 0 { intact = false }
                    pending -= take
                    offset += take
                    checked += take
                }
                received += n
            }
            return Result(bytes: received, intact: intact && checked == bytes, seconds: last.timeIntervalSince(start), longestStallSeconds: stall)
        }
        guard listening.wait(timeout: .now() + 10) == .success else { throw SystemError("start the TCP receiver", errno: ETIMEDOUT) }
        let sender = NetworkNamespace.spawn(client) { () throws -> Int in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            guard case .v4(let a) = address else { throw SystemError("TCP transfer needs an IPv4 address", errno: EINVAL) }
            sa.sin_addr.s_addr = a.bigEndian
            var timeout = timeval(tv_sec: Int(seconds), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let connected = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard connected == 0 else { throw SystemError("connect to \(address):\(port) from \(client)", errno: errno) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 8)
            defer { buffer.deallocate() }
            var stream = Stream(state: seed)
            var sent = 0
            while sent < bytes {
                stream.fill(buffer)
                let want = min(chunk, bytes - sent)
                var off = 0
                while off < want {
                    let n = send(fd, buffer.baseAddress! + off, want - off, Int32(MSG_NOSIGNAL))
                    guard n > 0 else { throw SystemError("send after \(sent + off) bytes", errno: errno) }
                    off += n
                }
                sent += want
            }
            shutdown(fd, Int32(SHUT_WR))
            return sent
        }
        if let during {
            _ = flowing.wait(timeout: .now() + 10)
            try during()
        }
        _ = try sender.join(seconds: seconds)
        return try receiver.join(seconds: seconds)
    }
}
