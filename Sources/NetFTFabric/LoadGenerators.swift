import CNetFTShims
import Foundation
import Glibc
import NetFTCore
import NetFTDataplane

/// Load for the benchmark, generated and measured in the namespaces.
public enum LoadGenerators {
    static func monotonic() -> Double { MonotonicClock.seconds }

    static func udpSocket(bindPort: UInt16 = 0, address: IPAddress? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("open UDP socket", errno: errno) }
        var size: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = bindPort.bigEndian
        if case .v4(let a)? = address { sa.sin_addr.s_addr = a.bigEndian }
        let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else {
            close(fd)
            throw SystemError("bind UDP \(bindPort)", errno: errno)
        }
        return fd
    }

    static func socketAddress(_ address: IPAddress, _ port: UInt16) -> sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        if case .v4(let a) = address { sa.sin_addr.s_addr = a.bigEndian }
        return sa
    }

    /// UDP packets per second received: the sender blasts `payload`-byte
    /// datagrams with sendmmsg (at most `rate` per second if given) for `seconds`.
    public static func udpPPS(from client: String, to server: String, address: IPAddress, payload: Int, seconds: Double, rate: Double? = nil, port: UInt16 = 7100) throws -> Double {
        let ready = DispatchSemaphore(value: 0)
        let stopAt = Atomic64()
        let receiver = NetworkNamespace.spawn(server) { () throws -> (Int, Double, Double) in
            let fd = try udpSocket(bindPort: port)
            defer { close(fd) }
            let count = 64
            let buffers = UnsafeMutableRawBufferPointer.allocate(byteCount: count * 2048, alignment: 64)
            defer { buffers.deallocate() }
            let batch = netft_udp_batch_new(UInt32(count), buffers.baseAddress, 2048)
            defer { netft_udp_batch_free(batch) }
            ready.signal()
            var received = 0
            var first = 0.0, last = 0.0
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while stopAt.value == 0 || monotonic() < Double(bitPattern: stopAt.value) + 0.2 {
                guard poll(&pfd, 1, 20) > 0 else { continue }
                let n = netft_udp_recv(fd, batch, UInt32(count))
                if n > 0 {
                    let now = monotonic()
                    if received == 0 { first = now }
                    last = now
                    received += Int(n)
                }
            }
            return (received, first, last)
        }
        guard ready.wait(timeout: .now() + 5) == .success else { throw SystemError("start the UDP receiver", errno: ETIMEDOUT) }
        let sender = NetworkNamespace.spawn(client) { () throws -> Int in
            let fd = try udpSocket()
            defer { close(fd) }
            let count = 64
            let buffers = UnsafeMutableRawBufferPointer.allocate(byteCount: count * max(payload, 64), alignment: 64)
            buffers.initializeMemory(as: UInt8.self, repeating: 0x42)
            defer { buffers.deallocate() }
            let batch = netft_udp_batch_new(UInt32(count), buffers.baseAddress, UInt32(max(payload, 64)))
            defer { netft_udp_batch_free(batch) }
            var sa = socketAddress(address, port)
            withUnsafePointer(to: &sa) { p in
                p.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { a in
                    for i in 0..<count { netft_udp_batch_set(batch, UInt32(i), UInt32(payload), a, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            let start = monotonic()
            var sent = 0
            while monotonic() - start < seconds {
                if let rate, Double(sent) > rate * (monotonic() - start) {
                    usleep(200)
                    continue
                }
                let n = netft_udp_send(fd, batch, 0, UInt32(rate == nil ? count : 1))
                if n > 0 { sent += Int(n) }
            }
            stopAt.value = monotonic().bitPattern
            return sent
        }
        _ = try sender.join(seconds: seconds + 10)
        let (received, first, last) = try receiver.join(seconds: 10)
        return last > first ? Double(received) / (last - first) : 0
    }

    /// Sends `frames` round-robin to `address:port` as fast as sendmmsg goes,
    /// from namespace `client` (bound to `source` if given, else any address),
    /// for `seconds`. Returns the datagrams the sender's kernel took.
    public static func flood(from client: String, to address: IPAddress, port: UInt16 = Wire.defaultPort, source: IPAddress? = nil, frames: [[UInt8]], seconds: Double) throws -> Int {
        try NetworkNamespace.spawn(client) { () throws -> Int in
            let fd = try udpSocket(bindPort: source == nil ? 0 : port, address: source)
            defer { close(fd) }
            let count = 64, size = max(frames.map(\.count).max() ?? 64, 64)
            let buffers = UnsafeMutableRawBufferPointer.allocate(byteCount: count * size, alignment: 64)
            defer { buffers.deallocate() }
            let batch = netft_udp_batch_new(UInt32(count), buffers.baseAddress, UInt32(size))
            defer { netft_udp_batch_free(batch) }
            var sa = socketAddress(address, port)
            withUnsafePointer(to: &sa) { p in
                p.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { a in
                    for i in 0..<count {
                        let frame = frames[i % frames.count]
                        UnsafeMutableRawBufferPointer(rebasing: buffers[(i * size)..<(i * size + frame.count)]).copyBytes(from: frame)
                        netft_udp_batch_set(batch, UInt32(i), UInt32(frame.count), a, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            let start = monotonic()
            var sent = 0
            while monotonic() - start < seconds {
                let n = netft_udp_send(fd, batch, 0, UInt32(count))
                if n > 0 { sent += Int(n) }
            }
            return sent
        }.join(seconds: seconds + 10)
    }

    /// TCP goodput in Gbit/s over `seconds`.
    public static func tcpGbps(from client: String, to server: String, address: IPAddress, seconds: Double, port: UInt16 = 7200) throws -> Double {
        let ready = DispatchSemaphore(value: 0)
        let receiver = NetworkNamespace.spawn(server) { () throws -> Double in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var sa = socketAddress(.v4(0), port)
            _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            listen(fd, 1)
            ready.signal()
            let conn = accept(fd, nil, nil)
            guard conn >= 0 else { throw SystemError("accept", errno: errno) }
            defer { close(conn) }
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var total = 0
            var start = 0.0, end = 0.0
            while true {
                let n = recv(conn, &buffer, buffer.count, 0)
                if n <= 0 { break }
                if total == 0 { start = monotonic() }
                total += n
                end = monotonic()
            }
            return end > start ? Double(total) * 8 / (end - start) / 1e9 : 0
        }
        guard ready.wait(timeout: .now() + 5) == .success else { throw SystemError("start the TCP receiver", errno: ETIMEDOUT) }
        let sender = NetworkNamespace.spawn(client) { () throws -> Void in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var sa = socketAddress(address, port)
            let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard ok == 0 else { throw SystemError("connect to \(address):\(port)", errno: errno) }
            let buffer = [UInt8](repeating: 0x33, count: 1 << 20)
            let start = monotonic()
            while monotonic() - start < seconds {
                if send(fd, buffer, buffer.count, Int32(MSG_NOSIGNAL)) <= 0 { break }
            }
        }
        try sender.join(seconds: seconds + 20)
        return try receiver.join(seconds: 20)
    }

    /// Round-trip times (ns) of `samples` sequential UDP echoes, and how many
    /// probes got no echo within 200 ms (lost: a result, not noise).
    public static func udpRTT(from client: String, to server: String, address: IPAddress, samples: Int, port: UInt16 = 7300) throws -> (rtts: [UInt64], lost: Int) {
        let ready = DispatchSemaphore(value: 0)
        let done = Atomic64()
        let echo = NetworkNamespace.spawn(server) { () throws -> Void in
            let fd = try udpSocket(bindPort: port)
            defer { close(fd) }
            ready.signal()
            var buffer = [UInt8](repeating: 0, count: 2048)
            var from = sockaddr_storage()
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while done.value == 0 {
                guard poll(&pfd, 1, 20) > 0 else { continue }
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &length) } }
                if n > 0 { _ = withUnsafePointer(to: &from) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { sendto(fd, buffer, n, 0, $0, length) } } }
            }
        }
        guard ready.wait(timeout: .now() + 5) == .success else { throw SystemError("start the echo server", errno: ETIMEDOUT) }
        defer {
            done.value = 1
            _ = try? echo.join(seconds: 5)
        }
        let rtts = try NetworkNamespace.run(client) { () throws -> [UInt64] in
            let fd = try udpSocket()
            defer { close(fd) }
            var sa = socketAddress(address, port)
            _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            var out: [UInt64] = []
            var buffer = [UInt8](repeating: 0x11, count: 64)
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            for i in 0..<samples {
                withUnsafeBytes(of: UInt32(i).bigEndian) { for j in 0..<4 { buffer[j] = $0[j] } }
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = send(fd, buffer, buffer.count, 0)
                // Wait for this sample's echo (stale ones are skipped); a lost one is counted.
                var got = false
                var reply = [UInt8](repeating: 0, count: 2048)
                while poll(&pfd, 1, 200) > 0 {
                    let n = recv(fd, &reply, reply.count, 0)
                    if n >= 4 && Array(reply[0..<4]) == Array(buffer[0..<4]) {
                        got = true
                        break
                    }
                }
                if got { out.append(DispatchTime.now().uptimeNanoseconds - t0) }
            }
            return out
        }
        return (rtts, samples - rtts.count)
    }
}

/// A 64-bit cell shared between threads (benchmark plumbing only).
public final class Atomic64: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: UInt64 = 0
    public init() {}
    public var value: UInt64 {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
