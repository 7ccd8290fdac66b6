/// A node's configuration, after parsing and validation: the cluster, its
/// networks and nodes, security and heartbeat settings.
public struct ClusterConfig: Equatable, Sendable {
    public enum Role: String, Sendable { case cluster, none }
    public enum Profile: String, Sendable { case `default`, fast }

    /// An address prefix: one IP subnet.
    public struct Subnet: Equatable, Sendable, CustomStringConvertible {
        public var address: IPAddress
        public var prefixLength: Int
        public init(_ address: IPAddress, prefixLength: Int) {
            self.address = address
            self.prefixLength = prefixLength
        }
        public func contains(_ a: IPAddress) -> Bool { a.isIPv4 == address.isIPv4 && a.sharesPrefix(address, length: prefixLength) }
        public func overlaps(_ other: Subnet) -> Bool { contains(other.address) || other.contains(address) }
        public var description: String { "\(address)/\(prefixLength)" }
    }

    /// One physical cluster network: one subnet, or several joined by routers
    /// (a network stretched over sites). Routes between two of its subnets are
    /// cross-subnet: they get the CrossSubnet heartbeat settings.
    public struct Network: Equatable, Sendable {
        public var name: String
        public var subnets: [Subnet]
        public var role: Role
        /// Lower is preferred (metric-like).
        public var priority: Int
        public init(name: String, subnets: [Subnet], role: Role = .cluster, priority: Int) {
            precondition(!subnets.isEmpty, "a network has at least one subnet")
            self.name = name
            self.subnets = subnets
            self.role = role
            self.priority = priority
        }
        public init(name: String, subnet: IPAddress, prefixLength: Int, role: Role = .cluster, priority: Int) {
            self.init(name: name, subnets: [Subnet(subnet, prefixLength: prefixLength)], role: role, priority: priority)
        }
        /// The first subnet (the only one of a flat network).
        public var subnet: IPAddress { subnets[0].address }
        public var prefixLength: Int { subnets[0].prefixLength }
        public func contains(_ address: IPAddress) -> Bool { subnets.contains { $0.contains(address) } }
        public func subnet(containing address: IPAddress) -> Subnet? { subnets.first { $0.contains(address) } }
        /// "name (a/p, b/p)" for messages.
        public var label: String { "\(name) (\(subnets.map(\.description).joined(separator: ", ")))" }
    }

    public struct Node: Equatable, Sendable {
        public var name: String
        public var id: NodeID
        public var addresses: [IPAddress]
        public init(name: String, id: NodeID, addresses: [IPAddress]) {
            self.name = name
            self.id = id
            self.addresses = addresses
        }
    }

    public struct Heartbeat: Equatable, Sendable {
        public var profile: Profile = .default
        public var sameSubnet = HeartbeatSettings.windowsDefault
        public var crossSubnet = HeartbeatSettings.windowsDefault
        public var fast = HeartbeatSettings.fast
        public var fastCrossSubnet = HeartbeatSettings.fastCrossSubnet
        public var historyLength = 10
        public var upAfter = 1
        public init() {}

        /// The settings a route gets.
        public func settings(crossSubnet cross: Bool) -> HeartbeatSettings {
            var s = profile == .fast ? (cross ? fastCrossSubnet : fast) : (cross ? crossSubnet : sameSubnet)
            s.historyLength = profile == .fast ? max(historyLength, s.historyLength) : historyLength
            if profile != .fast { s.upAfter = upAfter }
            return s
        }
    }

    public var cluster: String
    public var port: UInt16 = Wire.defaultPort
    public var security: SecurityLevel = .sign
    public var keyFile: String?
    public var heartbeat = Heartbeat()
    /// Keep copies of sent data until acknowledged and resend them on the new
    /// route after a failover (costs a copy per data packet).
    /// Keep every data packet until the peer acknowledges it and resend what a
    /// failover would lose (off: lower latency, packets in flight on a dead route are lost).
    public var losslessFailover = true
    /// Packets kept per peer for lossless failover (2 KiB each): the memory bound.
    public var losslessBufferPackets = 4096
    /// A NIC that already has another XDP program: netft leaves it there and
    /// carries that NIC through the kernel socket (udp), or refuses to start.
    public enum OccupiedNIC: String, Sendable { case udp, refuse }
    public var occupiedNIC = OccupiedNIC.udp
    /// PlumbAllCrossSubnetRoutes: a route for every pair, not only same-network pairs.
    public var plumbAllCrossSubnetRoutes = false
    public var networks: [Network] = []
    public var nodes: [Node] = []

    public init(cluster: String) { self.cluster = cluster }

    public func node(named name: String) -> Node? { nodes.first { $0.name == name } }
    public func network(containing address: IPAddress) -> Network? { networks.first { $0.contains(address) } }

    /// The local node: the one named, else the one owning an address of this host; the failure says what to do.
    public func localNode(named name: String?, hostAddresses: Set<IPAddress>) -> Result<Node, LocalNodeUnknown> {
        if let name {
            guard let found = node(named: name) else {
                return .failure(LocalNodeUnknown(description: "node '\(name)' is not in the configuration (nodes: \(nodes.map(\.name).joined(separator: ", ")))"))
            }
            return .success(found)
        }
        guard let found = nodes.first(where: { !hostAddresses.isDisjoint(with: $0.addresses) }) else {
            return .failure(LocalNodeUnknown(description: "no configured node owns an address of this host: pass --node NAME"))
        }
        return .success(found)
    }
}

/// Why the local node could not be chosen.
public struct LocalNodeUnknown: Error, CustomStringConvertible, Sendable {
    public let description: String
}
