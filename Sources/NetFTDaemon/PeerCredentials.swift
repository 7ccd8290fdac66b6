import Glibc
import NIOCore

/// Who is on the other end of a Unix socket (SO_PEERCRED), read through
/// SwiftNIO. On the abstract control socket this stands in for the file
/// mode that guards the path socket: root, or the daemon's own user.
struct PeerCredentials: Sendable {
    // struct ucred: pid, uid, gid.
    var pid: Int32 = 0
    var uid: UInt32 = UInt32.max
    var gid: UInt32 = UInt32.max

    /// Why this peer may not ask, or nil when it may.
    var refusal: String? {
        uid == 0 || uid == geteuid() ? nil : "permission denied: uid \(uid) (pid \(pid)) is neither root nor the daemon's user; ask as root"
    }

    static func of(_ channel: any Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededFuture(PeerCredentials()) }
        return provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            .recover { _ in PeerCredentials() }
    }
}

/// Answers a refused peer with the reason as the usual JSON error, then closes.
final class RefusalHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private let message: String
    init(message: String) { self.message = message }

    func channelActive(context: ChannelHandlerContext) {
        let bytes = Array("{\"error\": \"\(message)\"}\n".utf8)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(bytes: bytes))).whenComplete { _ in bound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
