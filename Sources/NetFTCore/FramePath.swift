/// Where a received frame came from: the address of the local link it arrived
/// on (the dataplane's socket or queue, never the frame's own destination
/// field) and its outer source. A route accepts frames only from its own path,
/// so a genuine frame relayed from one network onto another cannot keep a
/// dead route Up (`wrong_path`).
public struct FramePath: Equatable, Sendable {
    public var local: IPAddress
    public var remote: Endpoint

    public init(local: IPAddress, remote: Endpoint) {
        self.local = local
        self.remote = remote
    }
}
