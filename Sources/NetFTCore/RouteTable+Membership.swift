/// Routes that come and go while the node runs: a reload adds and removes
/// peers and networks, and changes priorities, without touching the routes
/// it does not concern (their heartbeats, windows and states stay).
extension RouteTable {
    /// Removes routes (their peer or network left the configuration). A peer
    /// whose active route goes moves its traffic to its best other route; a
    /// peer with no route left is forgotten.
    public mutating func remove(_ ids: Set<RouteID>, now: Instant) {
        guard !ids.isEmpty else { return }
        let leaving = routes.filter { ids.contains($0.route.id) }.map(\.route)
        let affected = Set(leaving.map(\.peer))
        for route in leaving { record(.routeRemoved(route)) }
        rebuild(routes.filter { !ids.contains($0.route.id) })
        var removedPeers = Set<NodeID>()
        for route in leaving where !peerIDs.contains(route.peer) && !removedPeers.contains(route.peer) {
            removedPeers.insert(route.peer)
            record(.peerRemoved(route.peer, name: route.peerName))
        }
        for peer in affected { refreshPeer(peer, now: now) }
    }

    /// A route's priority changed: traffic moves if another route is now preferred.
    public mutating func updatePriority(_ id: RouteID, _ priority: Int, now: Instant) {
        guard let peer = peer(of: id) else { return }
        setPriority(id, priority)
        refreshPeer(peer, now: now)
    }
}
