import Glibc

/// Serves a listening stream socket one request per connection: accepts every
/// waiting client, reads one request, writes one answer, closes. The control
/// socket and the metrics endpoint both work this way, from the event loop.
enum OneShotServer {
    static func serve(_ listening: Int32, requestLimit: Int, _ answer: ([UInt8]) -> [UInt8]) {
        while true {
            let client = accept(listening, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            // A client that connects and says nothing must not hold the loop for long.
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var request = [UInt8](repeating: 0, count: requestLimit)
            let n = recv(client, &request, request.count, 0)
            guard n > 0 else { continue }
            sendAll(client, answer(Array(request[0..<n])))
        }
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                sent += n
            }
        }
    }
}
