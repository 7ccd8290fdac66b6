import Logging
import NetFTCore
import NetFTDataplane

extension Datapath {
    /// Node `me`'s datapath over `dataplane` and `adapter`: the route table from
    /// the topology plan (each route on the dataplane's link of its interface),
    /// the engine with the node's identity and key, and lossless failover's
    /// rings. `NodeRuntime` hands it the TUN device and a kernel dataplane;
    /// tests hand it in-memory ones, so a whole node runs without root.
    static func assemble(
        config: ClusterConfig, me: ClusterConfig.Node, key: ClusterKey?, plan: TopologyPlanner.Plan, dataplane: Dataplane,
        adapter: any PacketAdapter, unusableLinks: [String] = [], log: Logger, facts: NodeFacts, mailbox: Mailbox<DatapathCommand>,
        watchdog: Watchdog, clock: @escaping @Sendable () -> Instant = { .now }, routesChanged: @escaping @Sendable () -> Void
    ) throws -> Datapath {
        let now = clock()
        var table = RouteTable(localNode: me.id)
        var routeLinks: [RouteID: (link: Int, remote: Endpoint)] = [:]
        for route in plan.routes {
            table.add(route, now: now)
            if let link = dataplane.links.firstIndex(where: { $0.name == route.localInterface }) { routeLinks[route.id] = (link, route.realRemote) }
        }
        for name in unusableLinks { table.linkChanged(interface: name, up: false, now: now) }
        let theKey = try key ?? ClusterKey(secret: Array("netft security level none: unused".utf8))
        var engine = NodeEngine(table: table, security: config.security, key: theKey)
        engine.identity = Hello(nodeName: me.name, addresses: dataplane.links.map { link in
            let prefix = config.network(containing: link.address)?.subnet(containing: link.address)?.prefixLength ?? (link.address.isIPv4 ? 32 : 128)
            return Hello.Address(link.address, prefixLength: UInt8(prefix))
        })
        return Datapath(
            config: config, me: me, log: log, engine: engine, adapter: adapter, dataplane: dataplane, routeLinks: routeLinks,
            retention: NodeRuntime.retention(config, me: me), facts: facts, mailbox: mailbox, watchdog: watchdog, clock: clock,
            routesChanged: routesChanged)
    }

    /// The remote addresses each link's classifier must admit: the routes' peers on it.
    var admittedSources: [Int: [(address: IPAddress, node: NodeID)]] {
        var sources: [Int: [(address: IPAddress, node: NodeID)]] = [:]
        for peer in engine.table.peerIDs {
            for id in engine.table.routeIDs(to: peer) {
                guard let route = engine.table.status(id)?.route, let link = routeLinks[id]?.link else { continue }
                sources[link, default: []].append((route.realRemote.address, route.peer))
            }
        }
        return sources
    }
}
