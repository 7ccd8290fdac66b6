/// A reload's new set of routes applied to the running engine: what is
/// unchanged keeps its state (an Up route stays Up, sessions and streams
/// continue), what left is forgotten, what is new starts as at a start.
extension NodeEngine {
    public struct Reconciled: Equatable, Sendable {
        public var added: [Route] = []
        public var removed: [Route] = []
        /// Kept routes with a new priority or new heartbeat settings.
        public var changed: [Route] = []
        public var addedPeers: [NodeID] = []
        public var removedPeers: [NodeID] = []
        public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
    }

    /// Makes the table hold exactly `routes` (the plan of the new configuration).
    @discardableResult
    public mutating func reconcile(with routes: [Route], now: Instant) -> Reconciled {
        var result = Reconciled()
        let peersBefore = Set(table.peerIDs)
        let wanted = Dictionary(routes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        result.removed = table.routes.map(\.route).filter { wanted[$0.id] == nil }
        let removedIDs = Set(result.removed.map(\.id))
        table.remove(removedIDs, now: now)
        for route in routes {
            guard let old = table.status(route.id)?.route else {
                table.add(route, now: now)  // a duplicate in `routes` is then found above
                result.added.append(route)
                continue
            }
            guard old.priority != route.priority || old.heartbeat != route.heartbeat else { continue }
            if old.heartbeat != route.heartbeat { table.updateHeartbeat(route.id, route.heartbeat) }
            if old.priority != route.priority { table.updatePriority(route.id, route.priority, now: now) }
            result.changed.append(route)
        }
        let peersAfter = Set(table.peerIDs)
        result.addedPeers = peersAfter.subtracting(peersBefore).sorted()
        result.removedPeers = peersBefore.subtracting(peersAfter).sorted()
        for (peer, route) in ackRoutes where removedIDs.contains(route) { ackRoutes[peer] = nil }
        for peer in result.removedPeers {
            sessions.forget(peer)
            ackRoutes[peer] = nil
        }
        if !result.addedPeers.isEmpty || !result.removedPeers.isEmpty { streams.reshape(to: table.peerIDs) }
        return result
    }
}
