/// The per-peer data streams, kept in an array found through a fixed index.
/// Not a `[NodeID: DataStream]`: mutating a struct inside a Dictionary goes
/// through its `_modify` coroutine, whose frame (the stream is large) is
/// heap-allocated on every call; two per frame sent and two per frame received.
public struct StreamTable: Sendable {
    private var streams: [DataStream]
    private var slots: [NodeID: Int]
    public private(set) var peers: [NodeID]

    init(peers: [NodeID]) {
        self.peers = peers
        streams = Array(repeating: DataStream(), count: peers.count)
        var slots: [NodeID: Int] = [:]
        for (i, peer) in peers.enumerated() { slots[peer] = i }
        self.slots = slots
    }

    /// The peers changed (a reload): kept peers keep their streams, new ones start fresh.
    mutating func reshape(to newPeers: [NodeID]) {
        let old = self
        self = StreamTable(peers: newPeers)
        for peer in newPeers { if let stream = old[peer] { update(peer) { $0 = stream } } }
    }

    public subscript(peer: NodeID) -> DataStream? {
        guard let i = slots[peer] else { return nil }
        return streams[i]
    }

    /// Changes `peer`'s stream where it lives; nil for an unknown peer.
    @inline(__always)
    @discardableResult
    mutating func update<R>(_ peer: NodeID, _ body: (inout DataStream) -> R) -> R? {
        guard let i = slots[peer] else { return nil }
        return streams.withUnsafeMutableBufferPointer { body(&$0[i]) }
    }

    /// Every (peer, stream).
    public func forEach(_ body: (NodeID, DataStream) -> Void) {
        for (i, peer) in peers.enumerated() { body(peer, streams[i]) }
    }
}
