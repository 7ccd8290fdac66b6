import Foundation
import NetFTCore
import NetFTDataplane

/// What a reload changes, worked out on the control thread from the new
/// configuration (netlink's view of the interfaces, allocations for new
/// peers) so the datapath only swaps it in.
struct ReloadPlan: @unchecked Sendable {  // the rings move to the datapath thread and stay there
    /// The configuration the node runs after the reload: the new one, with
    /// what a running node cannot change (cluster, port, security, key file)
    /// kept from the running one.
    var config: ClusterConfig
    /// Every route the new configuration gives this node: on links the
    /// dataplane has, and on `newLinks`.
    var routes: [Route]
    /// Links the dataplane must add first (a new network on a NIC the node did
    /// not use), in order: their indices follow the dataplane's links.
    var newLinks: [DataplaneLink]
    var routeLinks: [RouteID: (link: Int, remote: Endpoint)]
    /// Lossless failover's ring for each peer that joins (nil: off).
    var newRings: [NodeID: RetentionRing]
    /// What the classifiers admit after the reload, per link.
    var admitted: [Int: [(address: IPAddress, node: NodeID)]]
    /// What was not applied, and why (each a log line).
    var notApplied: [String]

    struct Refused: Error, CustomStringConvertible {
        let description: String
    }

    static func make(
        fresh: ClusterConfig, running: ClusterConfig, me: ClusterConfig.Node, links: [DataplaneLink], interfaces: [TopologyPlanner.LocalInterface],
        interfaceIndex: (String) -> Int32? = { _ in nil }
    ) throws(Refused) -> ReloadPlan {
        guard let newMe = fresh.nodes.first(where: { $0.id == me.id }) else {
            throw Refused(description: "node \(me.name) (id \(me.id)) is not in the new configuration; stop it instead")
        }
        var notApplied: [String] = []
        var config = fresh
        if newMe.name != me.name { notApplied.append("this node's new name \(newMe.name) (it stays \(me.name) until a restart)") }
        config.nodes = config.nodes.map { $0.id == me.id ? ClusterConfig.Node(name: me.name, id: me.id, addresses: newMe.addresses) : $0 }
        if fresh.cluster != running.cluster { notApplied.append("cluster name \(fresh.cluster) (the virtual addresses derive from it)") }
        if fresh.port != running.port { notApplied.append("port \(fresh.port)") }
        if fresh.security != running.security { notApplied.append("security \(fresh.security)") }
        if fresh.losslessFailover != running.losslessFailover || fresh.losslessBufferPackets != running.losslessBufferPackets {
            notApplied.append("lossless_failover settings")
        }
        config.cluster = running.cluster
        config.port = running.port
        config.security = running.security
        config.keyFile = running.keyFile
        config.losslessFailover = running.losslessFailover
        config.losslessBufferPackets = running.losslessBufferPackets

        let plan = TopologyPlanner.plan(config: config, localNode: newMe, interfaces: interfaces)
        var routes: [Route] = []
        var routeLinks: [RouteID: (link: Int, remote: Endpoint)] = [:]
        var admitted: [Int: [(address: IPAddress, node: NodeID)]] = [:]
        var newLinks: [DataplaneLink] = []
        var missing = Set<String>()
        for route in plan.routes {
            var link = links.firstIndex { $0.name == route.localInterface && $0.address == route.realLocal.address }
            if link == nil {
                // A network on a NIC the dataplane is not attached to: it attaches at runtime.
                if let i = newLinks.firstIndex(where: { $0.name == route.localInterface && $0.address == route.realLocal.address }) {
                    link = links.count + i
                } else if !links.contains(where: { $0.name == route.localInterface }), let index = interfaceIndex(route.localInterface) {
                    newLinks.append(DataplaneLink(name: route.localInterface, index: index, address: route.realLocal.address))
                    link = links.count + newLinks.count - 1
                }
            }
            guard let link else {
                // Another address on a NIC the dataplane already uses: its socket is bound to the old one.
                missing.insert("\(route.network) on \(route.localInterface) (\(route.realLocal.address))")
                continue
            }
            routes.append(route)
            routeLinks[route.id] = (link, route.realRemote)
            admitted[link, default: []].append((route.realRemote.address, route.peer))
        }
        notApplied += missing.sorted().map { "network \($0): the dataplane's socket on that interface is bound to another address" }
        var newRings: [NodeID: RetentionRing] = [:]
        if config.losslessFailover {
            let before = Set(running.nodes.map(\.id))
            for peer in config.nodes where peer.id != me.id && !before.contains(peer.id) {
                newRings[peer.id] = RetentionRing(capacity: config.losslessBufferPackets)
            }
        }
        return ReloadPlan(config: config, routes: routes, newLinks: newLinks, routeLinks: routeLinks, newRings: newRings, admitted: admitted, notApplied: notApplied)
    }
}
