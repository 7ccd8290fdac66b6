import Foundation
import Glibc
import Metrics
import NetFTCore
import NetFTDataplane
import Prometheus

/// Prometheus metrics through swift-metrics: per-route RTT, loss, state,
/// traffic; drops by reason; peer reachability. Values are read from the
/// route table when scraped, so the data path pays nothing for them.
final class NodeMetrics {
    let registry = PrometheusCollectorRegistry()
    let server: MetricsServer
    private let factory: PrometheusMetricsFactory
    private var counted: [String: Int64] = [:]

    init(listen: String) throws {
        factory = PrometheusMetricsFactory(registry: registry)
        server = try MetricsServer(listen: listen)
    }

    private func gauge(_ label: String, _ dimensions: [(String, String)], _ value: Double) {
        Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
    }

    /// Counters grow by what the absolute value gained since the last scrape.
    private func counter(_ label: String, _ dimensions: [(String, String)], total: UInt64) {
        let key = label + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let delta = Int64(truncatingIfNeeded: total) - (counted[key] ?? 0)
        counted[key] = Int64(truncatingIfNeeded: total)
        Counter(label: label, dimensions: dimensions, factory: factory).increment(by: max(0, delta))
    }

    func refresh(_ s: NodeStatus, watchdogStalls: UInt64) {
        for r in s.routes {
            let d = [("peer", r.peer), ("network", r.network), ("local", r.real_local), ("remote", r.real_remote)]
            gauge("netft_route_up", d, r.state == "up" ? 1 : 0)
            gauge("netft_route_active", d, r.active ? 1 : 0)
            gauge("netft_route_rtt_seconds", d, r.rtt_ms / 1000)
            gauge("netft_route_loss_ratio", d, r.loss)
            counter("netft_route_frames_sent_total", d, total: r.frames_sent)
            counter("netft_route_frames_received_total", d, total: r.frames_received)
            counter("netft_route_bytes_sent_total", d, total: r.bytes_sent)
            counter("netft_route_bytes_received_total", d, total: r.bytes_received)
        }
        for n in s.nodes { gauge("netft_peer_reachable", [("peer", n.name)], n.reachable ? 1 : 0) }
        for (reason, value) in s.drops { counter("netft_drops_total", [("reason", reason)], total: value) }
        counter("netft_watchdog_stalls_total", [], total: watchdogStalls)
    }
}

/// A minimal HTTP/1.0 responder for /metrics, served from the event loop.
final class MetricsServer {
    let fd: Int32
    let address: String

    init(listen endpoint: String) throws {
        let parts = endpoint.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]), let ip = IPAddress(String(parts[0])), case .v4(let a) = ip else {
            throw SystemError("--metrics \(endpoint): expected IPv4:PORT such as 127.0.0.1:9343", errno: EINVAL)
        }
        address = endpoint
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = a.bigEndian
        let bound = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            let error = errno
            close(fd)
            throw SystemError("listen for metrics on \(endpoint)", errno: error)
        }
    }

    deinit { close(fd) }

    func serve(_ body: () -> [UInt8]) {
        OneShotServer.serve(fd, requestLimit: 2048) { _ in
            let payload = body()
            return Array("HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(payload.count)\r\n\r\n".utf8) + payload
        }
    }
}
