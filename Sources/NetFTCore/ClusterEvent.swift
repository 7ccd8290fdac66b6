/// What happened to routes and nodes, in the order it happened.
public enum ClusterEvent: Equatable, Sendable {
    case routeAdded(RouteID)
    /// A reload took the route away (its peer or network left the configuration).
    case routeRemoved(Route)
    /// A reload took the peer's last route away: the node is no longer a member.
    case peerRemoved(NodeID, name: String)
    case routeUp(RouteID)
    case routeDown(RouteID, DownReason)
    /// A Down route's diagnosis became clearer (e.g. a peer's report arrived).
    case routeDiagnosis(RouteID, DownReason)
    /// The route carrying traffic to `peer` changed (nil: none).
    case routeChanged(peer: NodeID, from: RouteID?, to: RouteID?)
    case nodeReachable(NodeID)
    case nodeUnreachable(NodeID)
    /// The handshake established a session with `peer` (its session id), replacing `replaced` (the peer restarted).
    case sessionEstablished(peer: NodeID, session: UInt32, replaced: UInt32?)
    /// A key rotation began (peers still on the old key listed) or, with none left, completed.
    case keyRotation(peersToGo: [NodeID], fingerprint: String)
    /// A peer showed it holds the new key: traffic with it is sealed with keys from it now.
    case keysSwitched(peer: NodeID)
}
