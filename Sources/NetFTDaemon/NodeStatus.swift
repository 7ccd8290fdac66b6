import Foundation
import NetFTCore

/// What `netft status|routes|nodes` show: a snapshot of the node, as JSON.
public struct NodeStatus: Codable, Sendable {
    public struct RouteInfo: Codable, Sendable {
        public var id: UInt32
        public var peer: String
        public var peer_id: UInt32
        public var network: String
        public var interface: String
        public var real_local: String
        public var real_remote: String
        public var virtual_remote: String
        public var state: String
        public var active: Bool
        public var diagnosis: String?
        public var reason: String?
        public var rtt_ms: Double
        public var rtt_min_ms: Double
        public var rtt_max_ms: Double
        public var loss: Double
        /// Routed (another subnet): the CrossSubnet heartbeat settings apply.
        public var cross_subnet: Bool
        public var delay_ms: UInt64
        public var threshold: Int
        public var priority: Int
        public var frames_sent: UInt64
        public var frames_received: UInt64
        public var bytes_sent: UInt64
        public var bytes_received: UInt64
    }

    public struct NodeInfo: Codable, Sendable {
        public var name: String
        public var id: UInt32
        public var reachable: Bool
        public var active_route: UInt32?
        /// Its session established with us by the handshake (8 hex digits; nil: none yet).
        public var session: String?
        public var virtual_ipv4: String
        public var virtual_ipv6: String
        public var routes_up: Int
        public var routes: Int
        /// Data packets sent to it and not yet acknowledged (lossless failover resends these).
        public var unacknowledged: Int
    }

    /// A local interface and the path its frames take: af_xdp, or kernel (with why).
    public struct LinkInfo: Codable, Sendable {
        public var name: String
        public var address: String
        public var path: String
        public var reason: String?
    }

    public var node: String
    public var node_id: UInt32
    public var cluster: String
    /// The UDP port of every netft frame and the security level (captures and dissectors need both).
    public var udp_port: UInt16
    /// This start's session id (8 hex digits, random at each start): every frame carries it.
    public var session: String
    public var security: String
    /// Names the cluster key without revealing it (nil at security none): equal on every node with the same key.
    public var key_fingerprint: String?
    /// During a key rotation: the old key, accepted until every peer shows the new one.
    public var previous_key_fingerprint: String?
    public var dataplane: String
    public var dataplane_reason: String?
    public var adapter: String
    /// TUN offloads the kernel accepted (csum, tso4, tso6, uso4, uso6).
    public var adapter_offloads: [String]
    public var virtual_ipv4: String
    public var virtual_ipv6: String
    public var mtu: UInt32
    public var uptime_s: Double
    public var routes: [RouteInfo]
    public var nodes: [NodeInfo]
    public var links: [LinkInfo]
    public var drops: [String: UInt64]
    /// Counters that prove which path frames took (classifier steering, AF_XDP vs kernel socket).
    public var datapath: [String: UInt64]
    public var warnings: [String]
    public var watchdog_stalls: UInt64
    /// With the malloc counter preloaded: allocations while handling packets, and packets handled.
    public var hot_path_mallocs: UInt64?
    public var hot_path_packets: UInt64?

    /// A status document from a daemon; an answer that is an error (or not a status) says so.
    public static func decode(_ data: Data) throws -> NodeStatus {
        if let refusal = try? JSONDecoder().decode([String: String].self, from: data), let error = refusal["error"] {
            throw StatusUnavailable(description: "the daemon refused: \(error)")
        }
        do {
            return try JSONDecoder().decode(NodeStatus.self, from: data)
        } catch {
            throw StatusUnavailable(description: "the daemon's answer is not a status document: \(error)")
        }
    }

    public struct StatusUnavailable: Error, CustomStringConvertible {
        public let description: String
    }

    public static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }
}
