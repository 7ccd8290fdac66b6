import NetFTFabric

/// The field failures the lab replays (REFERENCE.md), one scenario each.
public enum LabScenario: String, CaseIterable, Sendable {
    /// One node's NIC on network A goes down during a steady stream, then returns.
    case linkDown = "link-down"
    /// UDP 3343 dropped by a firewall on the active network while every link stays up.
    case firewall
    /// Frames lost in one direction only on the active network.
    case asymmetric
    /// The same two on the standby network, which carries no traffic.
    case firewallStandby = "firewall-standby"
    case asymmetricStandby = "asymmetric-standby"
    /// A link going down and up every 300 ms for 3 s.
    case flapping
    /// Every network of one node lost, then one returns.
    case totalLoss = "total-loss"
    /// One node's daemon restarted during traffic.
    case restart
    /// Routed topology: the router of the active network stops forwarding (a
    /// firewall on it), its links stay up.
    case routerFailure = "router-failure"
    /// Two sites: only the link between the sites on the active network fails.
    case interSiteLink = "inter-site-link"

    /// Whether the scenario can run on `topology` (a router fails only where
    /// there is one, an inter-site link only between sites).
    public func applies(to topology: ClusterFabric.Topology) -> Bool {
        switch self {
        case .routerFailure: topology.isRouted
        case .interSiteLink: topology == .sites
        default: true
        }
    }

    /// The scenarios `netft lab` runs on `topology` when none is named.
    public static func all(on topology: ClusterFabric.Topology) -> [LabScenario] { allCases.filter { $0.applies(to: topology) } }

    public var summary: String {
        switch self {
        case .linkDown: "node1's NIC on net1 goes down during a stream, then comes back"
        case .firewall: "UDP 3343 dropped for node1 on net1, the active network (a firewall in the path), links up"
        case .asymmetric: "node1's frames on net1, the active network, lost; node2's still arrive"
        case .firewallStandby: "UDP 3343 dropped for node1 on net2, the standby network, links up"
        case .asymmetricStandby: "node1's frames on net2, the standby network, lost; node2's still arrive"
        case .flapping: "node1's net1 link down/up every 300 ms for 3 s"
        case .totalLoss: "node1 loses every network, then net2 returns"
        case .restart: "node1's daemon restarted during traffic"
        case .routerFailure: "net1's router (between node1's and node2's subnets) drops everything it forwards, links up"
        case .interSiteLink: "net1's link between the sites (node1's and node2's) goes down, every node's links up"
        }
    }
}

/// One scenario's outcome: the lab's JSON and summary table.
public struct ScenarioResult: Codable, Sendable {
    public var name: String
    public var passed: Bool
    public var detect_ms: Int?
    public var recover_ms: Int?
    public var lost_packets: Int?
    /// Frames the sender resent after the failover (lossless failover), summed over nodes.
    public var resent_packets: Int?
    /// With `--stack corosync`: corosync's new rings and knet link downs during the scenario.
    public var ring_reformations: Int?
    public var knet_link_downs: Int?
    public var diagnosis: String
    public var expectation: String
    public var failures: [String]
    /// Route states and stream gaps over the scenario, for `netft lab --report`.
    public var timeline: ScenarioTimeline? = nil
}

public struct LabReport: Codable, Sendable {
    public var passed: Bool
    public var nodes: Int
    public var networks: Int
    public var profile: String
    public var dataplane: String
    /// The physical networks' address family: ipv4 or ipv6.
    public var underlay: String
    /// flat (a subnet per network) or routed (two subnets per network joined by a router).
    public var topology: String
    /// Routes in the fabric, and how long after the first daemon started all were up.
    public var routes: Int
    public var converge_ms: Int?
    public var reachability: [String]
    /// The cluster software on top ("corosync over netft", "corosync on plain addresses", ...), if any.
    public var stack: String?
    public var scenarios: [ScenarioResult]

    public init(
        passed: Bool, nodes: Int, networks: Int, profile: String, dataplane: String, underlay: String = "ipv4", topology: String = "flat", routes: Int = 0,
        converge_ms: Int? = nil, reachability: [String], stack: String? = nil, scenarios: [ScenarioResult]
    ) {
        self.underlay = underlay
        self.topology = topology
        self.routes = routes
        self.converge_ms = converge_ms
        self.stack = stack
        self.passed = passed
        self.nodes = nodes
        self.networks = networks
        self.profile = profile
        self.dataplane = dataplane
        self.reachability = reachability
        self.scenarios = scenarios
    }
}
