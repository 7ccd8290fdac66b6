import Foundation
import Glibc
import Metrics
import NetFTCore
import NetFTDataplane
import Prometheus
import Synchronization

/// Prometheus metrics through swift-metrics: per-route RTT, loss, state,
/// traffic; drops by reason; peer reachability. Values are read from the
/// route table when scraped, so the data path pays nothing for them.
final class NodeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let counted = Mutex<[String: Int64]>([:])

    init() {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// The exposition text for `status`.
    func render(_ status: NodeStatus) -> [UInt8] {
        refresh(status)
        return registry.emitToBuffer()
    }

    private func gauge(_ label: String, _ dimensions: [(String, String)], _ value: Double) {
        Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
    }

    /// Counters grow by what the absolute value gained since the last scrape.
    private func counter(_ label: String, _ dimensions: [(String, String)], total: UInt64) {
        let key = label + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let delta = counted.withLock { counted in
            defer { counted[key] = Int64(truncatingIfNeeded: total) }
            return Int64(truncatingIfNeeded: total) - (counted[key] ?? 0)
        }
        Counter(label: label, dimensions: dimensions, factory: factory).increment(by: max(0, delta))
    }

    func refresh(_ s: NodeStatus) {
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
        for (name, value) in s.datapath {
            // The loop's longest pass and latest wake-up are highs, not counts.
            if name.hasPrefix("loop_longest_"), name.hasSuffix("_us") {
                gauge("netft_datapath_\(name.dropLast(3))_seconds", [], Double(value) / 1e6)
            } else {
                counter("netft_datapath_\(name)_total", [], total: value)
            }
        }
        counter("netft_watchdog_stalls_total", [], total: s.watchdog_stalls)
    }
}

