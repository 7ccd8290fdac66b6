/// Everything `netft validate` measured on one node, gathered by the I/O
/// layer (netlink, libnftables, probe sockets) and judged by NetworkValidator.
public struct ValidationFacts: Sendable {
    public struct Interface: Sendable {
        public var name: String
        public var isUp: Bool
        public var hasCarrier: Bool
        public var mtu: UInt32
        public var addresses: [(address: IPAddress, prefixLength: UInt8)]
        /// NETDEV_XDP_ACT_* bits the driver reports; nil if the kernel cannot say.
        public var xdpFeatures: UInt64?
        public init(name: String, isUp: Bool, hasCarrier: Bool, mtu: UInt32, addresses: [(address: IPAddress, prefixLength: UInt8)], xdpFeatures: UInt64?) {
            self.name = name
            self.isUp = isUp
            self.hasCarrier = hasCarrier
            self.mtu = mtu
            self.addresses = addresses
            self.xdpFeatures = xdpFeatures
        }
    }

    /// What the probes found on one route (this node's address to a peer's on one network).
    public struct RouteProbe: Sendable {
        public var network: String
        public var peer: String
        public var local: IPAddress
        public var remote: IPAddress
        public var requestsSent = 0
        public var replies = 0
        /// Full-size probes (the largest datagram the local MTU allows, DF set) sent and answered.
        public var fullSize = 0
        public var fullSent = 0
        public var fullReplies = 0
        /// Requests that arrived from the peer's address: the peer-to-here direction works.
        public var requestsHeard = 0
        public var roundTripNanoseconds: [UInt64] = []
        /// The peer's NIC MTU on this network, from its replies or requests.
        public var remoteMTU: UInt32?
        public init(network: String, peer: String, local: IPAddress, remote: IPAddress) {
            self.network = network
            self.peer = peer
            self.local = local
            self.remote = remote
        }
    }

    /// A running daemon's view of a route (when one holds the port, it is asked instead of probing).
    public struct LiveRoute: Sendable {
        public var network: String
        public var peer: String
        public var local: String
        public var remote: String
        public var state: String
        public var reason: String?
        public var rttMilliseconds: Double
        public init(network: String, peer: String, local: String, remote: String, state: String, reason: String?, rttMilliseconds: Double) {
            self.network = network
            self.peer = peer
            self.local = local
            self.remote = remote
            self.state = state
            self.reason = reason
            self.rttMilliseconds = rttMilliseconds
        }
    }

    /// A firewall rule that would drop or reject the netft port, or a chain whose policy would.
    public struct FirewallFinding: Sendable {
        /// "table inet filter chain input handle 4", as nft names it.
        public var location: String
        /// input or output (the hook), so the direction is known.
        public var hook: String
        /// "udp dport 3343 drop", or "policy drop".
        public var rule: String
        public init(location: String, hook: String, rule: String) {
            self.location = location
            self.hook = hook
            self.rule = rule
        }
    }

    public var config: ClusterConfig
    public var me: ClusterConfig.Node
    public var interfaces: [Interface]
    /// nil with `liveRoutes` set: a daemon answered instead.
    public var probes: [RouteProbe]?
    public var liveRoutes: [LiveRoute]?
    public var firewall: [FirewallFinding]
    /// Why the firewall could not be read (nil: it was).
    public var firewallError: String?
    /// The heartbeat delay routes will use, to judge round-trip times.
    public var heartbeatDelayMilliseconds: UInt64

    public init(
        config: ClusterConfig, me: ClusterConfig.Node, interfaces: [Interface], probes: [RouteProbe]?, liveRoutes: [LiveRoute]? = nil,
        firewall: [FirewallFinding], firewallError: String? = nil, heartbeatDelayMilliseconds: UInt64
    ) {
        self.config = config
        self.me = me
        self.interfaces = interfaces
        self.probes = probes
        self.liveRoutes = liveRoutes
        self.firewall = firewall
        self.firewallError = firewallError
        self.heartbeatDelayMilliseconds = heartbeatDelayMilliseconds
    }
}
