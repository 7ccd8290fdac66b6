import Logging
import NetFTCore
import NetFTDataplane

/// A reload on the datapath thread: the plan was made on the control thread,
/// so this only swaps tables in. Routes the change does not concern keep
/// their state (an Up route stays Up, no failover, nothing lost).
extension Datapath {
    func apply(_ plan: ReloadPlan, reply: (@Sendable (Bool, String) -> Void)?) {
        var plan = plan
        var notApplied = plan.notApplied
        let attached = attach(plan.newLinks, notApplied: &notApplied)
        if attached < plan.newLinks.count {
            // Links are numbered in order: routes on the first that failed and after it wait for a restart.
            let usable = dataplane.links.count
            let dropped = Set(plan.routeLinks.filter { $0.value.link >= usable }.keys)
            plan.routes.removeAll { dropped.contains($0.id) }
            for id in dropped { plan.routeLinks[id] = nil }
            plan.admitted = plan.admitted.filter { $0.key < usable }
        }
        let result = engine.reconcile(with: plan.routes, now: clock())
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
        for item in notApplied { log.warning("[NETFT] SIGHUP: not applied (needs a restart): \(item)") }
        let names = { (ids: [NodeID]) in ids.map { id in plan.config.nodes.first { $0.id == id }?.name ?? result.removed.first { $0.peer == id }?.peerName ?? "node \(id)" } }
        var parts = ["\(result.added.count) route\(result.added.count == 1 ? "" : "s") added", "\(result.removed.count) removed", "\(result.changed.count) changed"]
        if !result.addedPeers.isEmpty { parts.append("nodes joined: \(names(result.addedPeers).joined(separator: ", "))") }
        if !result.removedPeers.isEmpty { parts.append("nodes left: \(names(result.removedPeers).joined(separator: ", "))") }
        if attached > 0 { parts.append("interfaces attached: \(plan.newLinks.prefix(attached).map(\.name).joined(separator: ", "))") }
        let summary = "configuration reloaded: " + parts.joined(separator: ", ") + "; every other route kept in its state"
            + (notApplied.isEmpty ? "" : "; not applied (needs a restart): " + notApplied.joined(separator: "; "))
        log.info("[NETFT] SIGHUP: \(summary)")
        reply?(true, summary)
        routesChanged()
    }

    /// Attaches the dataplane to each new link in order, until one fails
    /// (named in `notApplied`); returns how many it attached. The loop polls
    /// their descriptors from its next pass.
    func attach(_ links: [DataplaneLink], notApplied: inout [String]) -> Int {
        var attached = 0
        for link in links {
            do {
                try dataplane.addLink(link)
            } catch {
                notApplied.append("\(link.name) (\(link.address)) could not be attached: \(error)")
                break
            }
            attached += 1
            log.info("[NETFT] SIGHUP: \(link.name) (\(link.address)) attached to the \(dataplane.kind.rawValue) dataplane")
        }
        if attached > 0 {
            descriptorsChanged = true
            linksAttached(Array(links.prefix(attached)))
        }
        return attached
    }
}
