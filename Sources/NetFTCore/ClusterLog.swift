/// Formats routes and events in the shape of the Windows cluster log
/// (REFERENCE.md), so troubleshooters find the lines they know.
public enum ClusterLog {
    /// The multi-line "Added route" block.
    public static func addedRoute(_ r: Route) -> String {
        """
        [NETFT] Added route <struct mscs::FaultTolerantRoute>
          <realLocal>\(r.realLocal)</realLocal>
          <realRemote>\(r.realRemote)</realRemote>
          <virtualLocal>\(r.virtualLocal)</virtualLocal>
          <virtualRemote>\(r.virtualRemote)</virtualRemote>
          <Delay>\(r.heartbeat.delay.value)</Delay>
          <Threshold>\(r.heartbeat.threshold)</Threshold>
          <Priority>\(r.priority)</Priority>
          <Attributes>\(attributes(r))</Attributes>
        """
    }

    /// A session id as 8 hex digits.
    public static func hex(_ session: UInt32) -> String {
        let digits = String(session, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// Attributes: bit 0 heartbeats on (always), bit 1 cross-subnet.
    public static func attributes(_ r: Route) -> Int { 1 | (r.crossSubnet ? 2 : 0) }

    /// The lines for one event; `route(id)` resolves route ids, `node(id)` node names.
    public static func lines(for event: ClusterEvent, route: (RouteID) -> Route?, node: (NodeID) -> String? = { _ in nil }) -> [String] {
        func pair(_ id: RouteID) -> (String, String) {
            guard let r = route(id) else { return ("route \(id)", "?") }
            return ("\(r.realLocal.address)", "\(r.realRemote.address)")
        }
        switch event {
        case .routeAdded(let id):
            return route(id).map { [addedRoute($0)] } ?? []
        case .routeRemoved(let r):
            return ["[NETFT] Removed route \(r.realLocal.address) -> \(r.realRemote.address) to \(r.peerName) (\(r.network)): the configuration no longer has it"]
        case .peerRemoved(let peer, let name):
            return ["[TM] Node \(name) (id \(peer)) left the configuration: its routes and session are gone"]
        case .routeUp(let id):
            let (a, b) = pair(id)
            return [
                "[NETFT] Signaled NetftRemoteReachable event, local address \(a) remote address \(b)",
                "[FTI] Got remote route reachable from netft evm. Setting state to Up for route from \(a) to \(b).",
                "[IM] Marking Route from \(a) to \(b) as up",
                "[TM] got event: Remote endpoint \(b) reachable from \(a)",
            ]
        case .routeDown(let id, let reason):
            let (a, b) = pair(id)
            return [
                "[NETFT] Signaled NetftRemoteUnreachable event, local address \(a) remote address \(b), reason: \(reason)",
                "[FTI] Got remote route unreachable from netft evm. Setting state to Down for route from \(a) to \(b) (\(reason.code)).",
                "[IM] Marking Route from \(a) to \(b) as down",
                "[TM] got event: Remote endpoint \(b) unreachable from \(a): \(reason)",
            ]
        case .routeDiagnosis(let id, let reason):
            let (a, b) = pair(id)
            return ["[FTI] Route from \(a) to \(b) is down: \(reason)"]
        case .routeChanged(let peer, let from, let to):
            let name = (to.flatMap(route) ?? from.flatMap(route))?.peerName ?? "node \(peer)"
            func text(_ id: RouteID?) -> String {
                guard let id else { return "none" }
                let (a, b) = pair(id)
                return "\(a) -> \(b)"
            }
            return ["[NETFT] Route to \(name) changed from \(text(from)) to \(text(to))"]
        case .nodeReachable(let peer):
            return ["[TM] Node \(node(peer) ?? "\(peer)") (id \(peer)) is reachable. Route is up and NetFT is ready."]
        case .nodeUnreachable(let peer):
            return ["[TM] Node \(node(peer) ?? "\(peer)") (id \(peer)) is unreachable: no route is up"]
        case .sessionEstablished(let peer, let session, let replaced):
            let name = node(peer) ?? "node \(peer)"
            guard let replaced else { return ["[NETFT] Session with \(name) established (its session \(hex(session)))"] }
            return ["[NETFT] Session with \(name) established (its session \(hex(session))), replacing \(hex(replaced)): \(name) restarted; frames of its old session are refused"]
        case .keyRotation(let toGo, let fingerprint):
            guard !toGo.isEmpty else { return ["[NETFT] Key rotation complete: every peer uses key \(fingerprint); the old key is no longer accepted"] }
            return ["[NETFT] Key rotation to key \(fingerprint) started: the old key stays accepted until \(toGo.map { node($0) ?? "node \($0)" }.joined(separator: ", ")) \(toGo.count == 1 ? "shows" : "show") the new one"]
        case .keysSwitched(let peer):
            return ["[NETFT] \(node(peer) ?? "node \(peer)") has the new key: traffic with it is sealed with keys from it"]
        }
    }
}
