import Logging
import NetFTCore
import NetFTDataplane

/// A reload on the datapath thread: the plan was made on the control thread,
/// so this only swaps tables in. Routes the change does not concern keep
/// their state (an Up route stays Up, no failover, nothing lost).
extension Datapath {
    func apply(_ plan: ReloadPlan, reply: (@Sendable (Bool, String) -> Void)?) {
        let result = engine.reconcile(with: plan.routes, now: .now)
        for route in result.removed { removedRoutes[route.id] = route }
        routeLinks = plan.routeLinks
        config = plan.config
        peerDirectory = PeerDirectory(config, me: me.id)
        if retention != nil {
            for peer in result.removedPeers { retention?[peer] = nil }
            retention?.merge(plan.newRings) { kept, _ in kept }
        }
        acksDue.reserveCapacity(config.nodes.count)
        if let xdp = dataplane as? XDPDataplane {
            do {
                try xdp.admitOnly(plan.admitted)
            } catch {
                log.error("[NETFT] SIGHUP: the classifiers' peer maps could not be updated: \(error)")
            }
        }
        for route in result.changed {
            log.info("[NETFT] SIGHUP: route \(route.realLocal.address) -> \(route.realRemote.address): Priority \(route.priority), Delay \(route.heartbeat.delay.value) ms, Threshold \(route.heartbeat.threshold)")
        }
        for item in plan.notApplied { log.warning("[NETFT] SIGHUP: not applied (needs a restart): \(item)") }
        let names = { (ids: [NodeID]) in ids.map { id in plan.config.nodes.first { $0.id == id }?.name ?? result.removed.first { $0.peer == id }?.peerName ?? "node \(id)" } }
        var parts = ["\(result.added.count) route\(result.added.count == 1 ? "" : "s") added", "\(result.removed.count) removed", "\(result.changed.count) changed"]
        if !result.addedPeers.isEmpty { parts.append("nodes joined: \(names(result.addedPeers).joined(separator: ", "))") }
        if !result.removedPeers.isEmpty { parts.append("nodes left: \(names(result.removedPeers).joined(separator: ", "))") }
        let summary = "configuration reloaded: " + parts.joined(separator: ", ") + "; every other route kept in its state"
            + (plan.notApplied.isEmpty ? "" : "; not applied (needs a restart): " + plan.notApplied.joined(separator: "; "))
        log.info("[NETFT] SIGHUP: \(summary)")
        reply?(true, summary)
        routesChanged()
    }

}
