/// Builds this node's routes from the configuration and the interfaces the
/// interface manager found: one route for every (local interface, peer
/// address) pair on the same cluster network (cross-subnet when the network
/// has several subnets and the two are in different ones), and, with
/// PlumbAllCrossSubnetRoutes, for every other pair too. Pure.
public enum TopologyPlanner {
    /// A local interface address the interface manager found.
    public struct LocalInterface: Equatable, Sendable {
        public var name: String
        public var address: IPAddress
        public init(name: String, address: IPAddress) {
            self.name = name
            self.address = address
        }
    }

    public struct Plan: Equatable, Sendable {
        public var routes: [Route] = []
        /// Configuration mistakes worth a warning (REFERENCE.md, field failure 5).
        public var warnings: [String] = []
        /// The interfaces used, one per cluster network.
        public var interfaces: [LocalInterface] = []
    }

    public static func plan(config: ClusterConfig, localNode: ClusterConfig.Node, interfaces: [LocalInterface]) -> Plan {
        var plan = Plan()
        var used: [String: LocalInterface] = [:]  // network name -> interface
        for interface in interfaces {
            guard let network = config.network(containing: interface.address), network.role == .cluster else { continue }
            guard localNode.addresses.contains(interface.address) else { continue }
            if let first = used[network.name] {
                plan.warnings.append(
                    "interfaces \(first.name) (\(first.address)) and \(interface.name) (\(interface.address)) are both on network \(network.name): using \(first.name), ignoring \(interface.name)")
                continue
            }
            used[network.name] = interface
            plan.interfaces.append(interface)
        }
        if plan.interfaces.count < 2 {
            plan.warnings.append(
                "this node has \(plan.interfaces.count) cluster network\(plan.interfaces.count == 1 ? "" : "s"): a single NIC, cable or switch failure will cut it off (single point of failure)")
        }
        let virtualLocal4 = VirtualAddresses.ipv4(cluster: config.cluster, node: localNode.id)
        for peer in config.nodes where peer.id != localNode.id {
            for local in plan.interfaces {
                let localNetwork = config.network(containing: local.address)!
                for remote in peer.addresses {
                    guard let remoteNetwork = config.network(containing: remote), remoteNetwork.role == .cluster else { continue }
                    let sameNetwork = remoteNetwork.name == localNetwork.name
                    if !sameNetwork && !config.plumbAllCrossSubnetRoutes { continue }
                    if local.address.isIPv4 != remote.isIPv4 { continue }
                    // Routed: another network, or another subnet of this one.
                    let cross = !sameNetwork || localNetwork.subnet(containing: local.address) != remoteNetwork.subnet(containing: remote)
                    plan.routes.append(Route(
                        id: Route.id(between: local.address, and: remote), peer: peer.id, peerName: peer.name,
                        network: localNetwork.name, localInterface: local.name,
                        realLocal: Endpoint(local.address, port: config.port), realRemote: Endpoint(remote, port: config.port),
                        virtualLocal: Endpoint(virtualLocal4, port: config.port),
                        virtualRemote: Endpoint(VirtualAddresses.ipv4(cluster: config.cluster, node: peer.id), port: config.port),
                        priority: sameNetwork ? localNetwork.priority : max(localNetwork.priority, remoteNetwork.priority) + 1000,
                        crossSubnet: cross, heartbeat: config.heartbeat.settings(crossSubnet: cross)))
                }
            }
        }
        return plan
    }
}
