import NIOCore
import NIOHTTP1
import NIOPosix
import NetFTCore
import NetFTDataplane

/// Prometheus metrics over HTTP/1.1 (`GET /metrics`), served by SwiftNIO off
/// the datapath, with the control socket's deadline and client bound.
final class MetricsServer: Sendable {
    let channel: any Channel
    let address: String

    init(listen endpoint: String, group: any EventLoopGroup, body: @escaping @Sendable (any EventLoop) -> EventLoopFuture<[UInt8]>) throws {
        let parts = endpoint.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port), IPAddress(String(parts[0]))?.isIPv4 == true else {
            throw SystemError("--metrics \(endpoint): expected IPv4:PORT such as 127.0.0.1:9343", errno: EINVAL)
        }
        address = endpoint
        let clients = ClientCount(limit: ControlServer.maximumClients)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(ConnectionGuard(clients: clients, deadline: ControlServer.deadline))
                    try pipeline.configureHTTPServerPipeline()
                    try pipeline.addHandler(MetricsHandler(body: body))
                }
            }
        do {
            channel = try bootstrap.bind(host: String(parts[0]), port: port).wait()
        } catch {
            throw SystemError("listen for metrics on \(endpoint): \(error)", errno: EADDRINUSE)
        }
    }

    func close() { try? channel.close().wait() }
}

/// Answers `GET /metrics` (404 otherwise) and closes.
final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let body: @Sendable (any EventLoop) -> EventLoopFuture<[UInt8]>
    private var uri = ""
    private var version = HTTPVersion.http1_1

    init(body: @escaping @Sendable (any EventLoop) -> EventLoopFuture<[UInt8]>) {
        self.body = body
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            uri = head.uri
            version = head.version
        case .body:
            break
        case .end:
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let version = version
            guard uri == "/metrics" || uri.hasPrefix("/metrics?") else {
                return Self.respond(bound, version: version, status: .notFound, type: "text/plain", bytes: Array("netft serves /metrics\n".utf8))
            }
            body(context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
                switch result {
                case .success(let bytes): Self.respond(bound, version: version, status: .ok, type: "text/plain; version=0.0.4", bytes: bytes)
                case .failure(let error): Self.respond(bound, version: version, status: .serviceUnavailable, type: "text/plain", bytes: Array("\(error)\n".utf8))
                }
            }
        }
    }

    private static func respond(_ bound: NIOLoopBound<ChannelHandlerContext>, version: HTTPVersion, status: HTTPResponseStatus, type: String, bytes: [UInt8]) {
        let context = bound.value
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(bytes.count)")
        headers.add(name: "Connection", value: "close")
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
