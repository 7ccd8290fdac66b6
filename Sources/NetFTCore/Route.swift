/// One path between this node and a peer: a local interface to a remote one.
public struct Route: Hashable, Sendable {
    public var id: RouteID
    public var peer: NodeID
    public var peerName: String
    public var network: String
    public var localInterface: String
    public var realLocal: Endpoint
    public var realRemote: Endpoint
    public var virtualLocal: Endpoint
    public var virtualRemote: Endpoint
    /// Lower is preferred (the cluster network's metric/priority).
    public var priority: Int
    public var crossSubnet: Bool
    public var heartbeat: HeartbeatSettings

    public init(
        id: RouteID, peer: NodeID, peerName: String, network: String, localInterface: String,
        realLocal: Endpoint, realRemote: Endpoint, virtualLocal: Endpoint, virtualRemote: Endpoint,
        priority: Int, crossSubnet: Bool = false, heartbeat: HeartbeatSettings
    ) {
        self.id = id
        self.peer = peer
        self.peerName = peerName
        self.network = network
        self.localInterface = localInterface
        self.realLocal = realLocal
        self.realRemote = realRemote
        self.virtualLocal = virtualLocal
        self.virtualRemote = virtualRemote
        self.priority = priority
        self.crossSubnet = crossSubnet
        self.heartbeat = heartbeat
    }

    /// The id both ends compute for the path between two real endpoints:
    /// FNV-1a over the two addresses in a fixed (sorted) order, never 0.
    public static func id(between a: IPAddress, and b: IPAddress) -> RouteID {
        let (x, y) = a.bytes16.lexicographicallyPrecedes(b.bytes16) ? (a, b) : (b, a)
        var hash: UInt32 = 0x811C_9DC5
        for byte in x.bytes16 + y.bytes16 {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        return hash == 0 ? 1 : hash
    }
}

/// Why a route is Down, as the log and status name it.
public enum DownReason: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Threshold heartbeats unanswered and nothing else known.
    case missedHeartbeats(Int)
    /// This node's interface went down (ifdown, cable, NIC).
    case localLinkDown
    /// The peer reports its interface on this route down.
    case remoteLinkDown
    /// Links up on both ends and the peer alive on another network, yet
    /// nothing passes on this route either way: a firewall dropping the port.
    case portBlockedSuspected
    /// One direction works: `weHearThem` true means our frames do not reach the peer.
    case asymmetric(weHearThem: Bool)
    /// Data went out and that many probes in a row went unanswered (found
    /// under traffic, before Delay x Threshold).
    case unansweredData(probes: Int)
    /// The link that took the route down (ours when `local`) is up again; the
    /// route waits for heartbeats to bring it Up. Not a new failure.
    case linkRecovering(local: Bool)
    /// No session with the peer was ever established: it has not answered a
    /// hello (netft not running there yet, or a different cluster key).
    case noSession
    /// Hellos claiming to be the peer arrived within the detection window and
    /// failed authentication: a different cluster key (or security level)
    /// there, the classic misconfiguration, or the peer restarted on one.
    case helloRejected

    /// Whether this reason rests on a link state (netlink here, or the peer's
    /// report), which is evidence at once; the others are inferred from what
    /// did not arrive and must hold for a whole detection window.
    public var isLinkState: Bool {
        switch self {
        case .localLinkDown, .remoteLinkDown: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .missedHeartbeats(let n): "missed \(n) heartbeats"
        case .localLinkDown: "local link down"
        case .remoteLinkDown: "remote link down"
        case .portBlockedSuspected: "port blocked suspected: links up on both ends and the peer alive on another network, but no heartbeat passes"
        case .asymmetric(true): "asymmetric: we hear the peer but it does not hear us (one-way loss, or a firewall dropping inbound on the peer)"
        case .asymmetric(false): "asymmetric: the peer hears us but we do not hear it (one-way loss, or a firewall dropping inbound here)"
        case .linkRecovering(true): "local link up again, waiting for heartbeats"
        case .linkRecovering(false): "remote link up again, waiting for heartbeats"
        case .unansweredData(let n): "data went unanswered: \(n) probes in a row missed (found under traffic)"
        case .noSession: "no session with the peer: it has not answered a hello (netft not running there yet, or a different cluster key)"
        case .helloRejected: "hellos in the peer's name arrive but fail authentication: its cluster key or security level differs from ours"
        }
    }

    /// A short machine name for metrics and JSON.
    public var code: String {
        switch self {
        case .missedHeartbeats: "missed_heartbeats"
        case .localLinkDown: "local_link_down"
        case .remoteLinkDown: "remote_link_down"
        case .portBlockedSuspected: "port_blocked_suspected"
        case .asymmetric(true): "asymmetric_outbound_lost"
        case .asymmetric(false): "asymmetric_inbound_lost"
        case .linkRecovering: "link_recovering"
        case .unansweredData: "unanswered_data"
        case .noSession: "no_session"
        case .helloRejected: "hello_rejected"
        }
    }
}
