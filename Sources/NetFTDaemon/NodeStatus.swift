import Foundation
import NetFTCore

/// What `netft status|routes|nodes` show: a snapshot of the node, as JSON.
struct NodeStatus: Codable, Sendable {
    struct RouteInfo: Codable, Sendable {
        var id: UInt32
        var peer: String
        var peer_id: UInt32
        var network: String
        var interface: String
        var real_local: String
        var real_remote: String
        var virtual_remote: String
        var state: String
        var active: Bool
        var diagnosis: String?
        var reason: String?
        var rtt_ms: Double
        var rtt_min_ms: Double
        var rtt_max_ms: Double
        var loss: Double
        /// Routed (another subnet): the CrossSubnet heartbeat settings apply.
        var cross_subnet: Bool
        var delay_ms: UInt64
        var threshold: Int
        var priority: Int
        var frames_sent: UInt64
        var frames_received: UInt64
        var bytes_sent: UInt64
        var bytes_received: UInt64
    }

    struct NodeInfo: Codable, Sendable {
        var name: String
        var id: UInt32
        var reachable: Bool
        var active_route: UInt32?
        /// Its session established with us by the handshake (8 hex digits; nil: none yet).
        var session: String?
        var virtual_ipv4: String
        var virtual_ipv6: String
        var routes_up: Int
        var routes: Int
        /// Data packets sent to it and not yet acknowledged (lossless failover resends these).
        var unacknowledged: Int
    }

    /// A local interface and the path its frames take: af_xdp, or kernel (with why).
    struct LinkInfo: Codable, Sendable {
        var name: String
        var address: String
        var path: String
        var reason: String?
    }

    var node: String
    var node_id: UInt32
    var cluster: String
    /// The UDP port of every netft frame and the security level (captures and dissectors need both).
    var udp_port: UInt16
    /// This start's session id (8 hex digits, random at each start): every frame carries it.
    var session: String
    var security: String
    /// Names the cluster key without revealing it (nil at security none): equal on every node with the same key.
    var key_fingerprint: String?
    /// During a key rotation: the old key, accepted until every peer shows the new one.
    var previous_key_fingerprint: String?
    var dataplane: String
    var dataplane_reason: String?
    var adapter: String
    /// TUN offloads the kernel accepted (csum, tso4, tso6, uso4, uso6).
    var adapter_offloads: [String]
    var virtual_ipv4: String
    var virtual_ipv6: String
    var mtu: UInt32
    var uptime_s: Double
    var routes: [RouteInfo]
    var nodes: [NodeInfo]
    var links: [LinkInfo]
    var drops: [String: UInt64]
    /// Counters that prove which path frames took (classifier steering, AF_XDP vs kernel socket).
    var datapath: [String: UInt64]
    var warnings: [String]
    var watchdog_stalls: UInt64
    /// With the malloc counter preloaded: allocations while handling packets, and packets handled.
    var hot_path_mallocs: UInt64?
    var hot_path_packets: UInt64?

    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }
}
