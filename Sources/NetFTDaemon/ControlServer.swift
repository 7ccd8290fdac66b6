import Foundation
import Glibc
import NIOCore
import NIOPosix
import NetFTDataplane
import Synchronization

/// The control socket: a Unix stream socket (mode 0600) answering one
/// request line ("status", "routes", "nodes") with one JSON document, served
/// by SwiftNIO off the datapath. Every connection has a deadline for the
/// whole exchange and the number open at once is bounded, so a silent
/// client, a client that never reads, or a crowd of them costs the node
/// nothing but a descriptor each, for a while.
final class ControlServer: Sendable {
    let path: String
    let channel: any Channel
    /// The same service at `@netft/control` in the abstract namespace, which
    /// belongs to the network namespace: `netft status` run inside a node's
    /// namespace finds its daemon with no flags. Nil when another daemon of
    /// this namespace holds the name (`abstractHolder` says who).
    let abstractChannel: (any Channel)?
    let abstractHolder: pid_t?
    static let abstractName = "netft/control"
    static let deadline = TimeAmount.seconds(3)
    static let maximumClients = 64

    init(path: String, group: any EventLoopGroup, answer: @escaping @Sendable (String, any EventLoop) -> EventLoopFuture<[UInt8]>) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let clients = ClientCount(limit: ControlServer.maximumClients)
        func bootstrap(checkPeer: Bool) -> ServerBootstrap {
            ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .childChannelInitializer { channel in
                    let serve: @Sendable () -> EventLoopFuture<Void> = {
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandlers(
                                ConnectionGuard(clients: clients, deadline: ControlServer.deadline),
                                RequestLineHandler(limit: 256, answer: answer))
                        }
                    }
                    guard checkPeer else { return serve() }
                    return PeerCredentials.of(channel).flatMap { peer in
                        guard let refusal = peer.refusal else { return serve() }
                        return channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(RefusalHandler(message: refusal))
                        }
                    }
                }
        }
        let previous = umask(0o077)
        defer { umask(previous) }
        channel = try bootstrap(checkPeer: false).bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
        chmod(path, 0o600)
        // No file mode guards an abstract socket: the peer's credentials do.
        switch AbstractListener.open(ControlServer.abstractName) {
        case .listening(let fd):
            do {
                abstractChannel = try bootstrap(checkPeer: true).withBoundSocket(fd).wait()
            } catch {
                try? channel.close().wait()
                unlink(path)
                throw error
            }
            abstractHolder = nil
        case .held(let holder):
            abstractChannel = nil
            abstractHolder = holder
        }
    }

    func close() {
        try? abstractChannel?.close().wait()
        try? channel.close().wait()
        unlink(path)
    }

    /// Client side: sends `request`, returns the whole answer (waits at most `seconds`).
    static func ask(_ request: String, path: String, seconds: Int = 5) throws(SystemError) -> Data {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("open socket", errno: errno) }
        defer { Glibc.close(fd) }
        let timeout = timeval(tv_sec: seconds, tv_usec: 0)
        try SocketOption.receiveTimeout(timeout).set(on: fd, "the control socket")
        try SocketOption.sendTimeout(timeout).set(on: fd, "the control socket")
        var (address, length) = UnixAddress.make(path)
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        guard connected == 0 else { throw SystemError("connect to the netft daemon at \(path) (is it running?)", errno: errno) }
        let bytes = Array((request + "\n").utf8)
        _ = send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL))
        var answer = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 && answer.isEmpty { throw SystemError("read the answer of the netft daemon at \(path)", errno: errno) }
            if n <= 0 { break }
            answer.append(contentsOf: buffer[0..<n])
        }
        return answer
    }
}

/// Connections open now, against a bound.
final class ClientCount: Sendable {
    private let open = Atomic<Int>(0)
    let limit: Int
    init(limit: Int) { self.limit = limit }
    func enter() -> Bool {
        if open.add(1, ordering: .relaxed).newValue <= limit { return true }
        open.subtract(1, ordering: .relaxed)
        return false
    }
    func leave() { open.subtract(1, ordering: .relaxed) }
}

/// First in every control and metrics pipeline: refuses a connection past
/// the bound and closes each one at its deadline, whatever the client does
/// (says nothing, never reads, trickles bytes).
final class ConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private let clients: ClientCount
    private let deadline: TimeAmount
    private var counted = false
    private var timer: Scheduled<Void>?

    init(clients: ClientCount, deadline: TimeAmount) {
        self.clients = clients
        self.deadline = deadline
    }

    func channelActive(context: ChannelHandlerContext) {
        guard clients.enter() else {
            context.close(promise: nil)
            return
        }
        counted = true
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: deadline) { bound.value.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        if counted { clients.leave() }
        counted = false
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// Reads one request line, writes one answer, closes.
final class RequestLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let limit: Int
    private let answer: @Sendable (String, any EventLoop) -> EventLoopFuture<[UInt8]>
    private var request: [UInt8] = []
    private var answering = false

    init(limit: Int, answer: @escaping @Sendable (String, any EventLoop) -> EventLoopFuture<[UInt8]>) {
        self.limit = limit
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answering else { return }
        let buffer = unwrapInboundIn(data)
        request += buffer.readableBytesView
        guard request.contains(UInt8(ascii: "\n")) || request.count >= limit else { return }
        answering = true
        let line = String(decoding: request.prefix(limit).prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        answer(line, context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
            let context = bound.value
            let bytes = (try? result.get()) ?? Array("{\"error\": \"no answer\"}\n".utf8)
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(bytes: bytes))).whenComplete { _ in bound.value.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
