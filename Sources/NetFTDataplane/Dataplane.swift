import NetFTCore

/// Which dataplane carries the frames.
public enum DataplaneKind: String, CaseIterable, Sendable {
    /// AF_XDP sockets fed by the XDP classifier (the fast path).
    case xdp
    /// Ordinary UDP sockets with recvmmsg/sendmmsg (the fallback and the baseline).
    case udp
}

/// A local interface the dataplane sends and receives on.
public struct DataplaneLink: Equatable, Sendable {
    public var name: String
    public var index: Int32
    public var address: IPAddress
    public init(name: String, index: Int32, address: IPAddress) {
        self.name = name
        self.index = index
        self.address = address
    }
}

/// What to do with a received frame once the engine has seen it.
public enum ReceiveAction: Equatable, Sendable {
    case done
    /// The buffer now holds a reply of this many bytes: send it back where it came from.
    case reply(length: Int)
}

/// Where an outbound frame goes.
public struct Outbound: Equatable, Sendable {
    public var link: Int
    public var remote: Endpoint
    public var length: Int
    public init(link: Int, remote: Endpoint, length: Int) {
        self.link = link
        self.remote = remote
        self.length = length
    }
}

/// The narrow interface the node's event loop drives, whichever dataplane
/// runs under it. Buffers are lent for the duration of a call: the engine
/// works on them in place.
public protocol Dataplane: AnyObject {
    var kind: DataplaneKind { get }
    var links: [DataplaneLink] { get }
    /// Descriptors that become readable when frames arrive.
    var descriptors: [Int32] { get }
    /// Hands up to `limit` received netft frames (the UDP payload) to `body`,
    /// each with the path it came by: the address of the link whose socket or
    /// queue took it, and its outer source. Returns how many were handled.
    func receive(limit: Int, _ body: (UnsafeMutableRawBufferPointer, Int, FramePath) -> ReceiveAction) -> Int
    /// Lends a buffer for one netft frame; `body` fills it and says where it goes
    /// (nil: nothing to send). The frame is queued until `flush`. False when
    /// no buffer was free (`body` was not called): the caller backs off.
    @discardableResult
    func send(_ body: (UnsafeMutableRawBufferPointer) -> Outbound?) -> Bool
    /// Like `send`, for heartbeats and acks: never refused for want of a
    /// buffer, so exhausted data buffers cannot silence a route.
    func sendControl(_ body: (UnsafeMutableRawBufferPointer) -> Outbound?)
    /// Sends everything queued.
    func flush()
    /// poll(2) found `descriptor` readable. A socket dataplane reads a socket
    /// again only after this once a read came back short, so an idle socket
    /// costs no syscall per pass.
    func readable(_ descriptor: Int32)
    /// The largest netft frame (UDP payload) a buffer can hold, both ways:
    /// the virtual adapter's MTU is never larger than this allows.
    var largestFrame: Int { get }
    /// Next-hop MACs by remote address, from the kernel's neighbour table
    /// (the control plane follows it and hands every change here).
    func updateNeighbours(_ table: [IPAddress: UInt64])
    /// The MAC of link `link` changed (a NIC swap, a bond failover).
    func updateSourceMAC(link: Int, mac: UInt64)
    /// Starts carrying frames on one more link (a reload added a network on a
    /// NIC the node did not use); it becomes `links.last`. Its descriptors
    /// join `descriptors`. Throws, naming what failed, and changes nothing.
    func addLink(_ link: DataplaneLink) throws
}

extension Dataplane {
    public func sendControl(_ body: (UnsafeMutableRawBufferPointer) -> Outbound?) { send(body) }
    /// The kernel resolves next hops for socket dataplanes.
    public func updateNeighbours(_ table: [IPAddress: UInt64]) {}
    public func updateSourceMAC(link: Int, mac: UInt64) {}
    public func readable(_ descriptor: Int32) {}
}
