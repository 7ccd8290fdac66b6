import CNetFTShims
import Glibc
import NetFTCore

/// rtnetlink for the virtual adapter and the interface manager: links,
/// addresses, routes and neighbours through libmnl (never by running `ip`).
/// Works in the calling thread's network namespace.
public final class Netlink {
    public struct Link: Equatable, Sendable {
        public var index: Int32
        public var name: String
        public var isUp: Bool
        public var hasCarrier: Bool
        public var mtu: UInt32
        public var mac: [UInt8]
        /// Receive queues (RSS spreads flows over them); 1 when not reported.
        public var rxQueues: UInt32 = 1
        /// Packets the kernel dropped on their way out of this link: for the
        /// virtual adapter, its queue full because netft did not read in time.
        public var txDropped: UInt64 = 0
        /// Administratively up with carrier: what "link up" means for a route.
        public var isOperational: Bool { isUp && hasCarrier }
    }

    public struct Address: Equatable, Hashable, Sendable {
        public var interfaceIndex: Int32
        public var address: IPAddress
        public var prefixLength: UInt8
    }

    public struct Neighbour: Equatable, Sendable {
        public var interfaceIndex: Int32
        public var address: IPAddress
        public var mac: [UInt8]?
        public var state: UInt16
    }

    /// Where the kernel sends a packet for an address: out of an interface,
    /// to a gateway when the address is not on that link.
    public struct NextHop: Equatable, Sendable {
        public var interfaceIndex: Int32
        public var gateway: IPAddress?
    }

    private let handle: OpaquePointer
    public let isMonitor: Bool

    /// A request socket, or with `monitor` a non-blocking one that receives
    /// link and address change notifications.
    public init(monitor: Bool = false) throws(SystemError) {
        var h: OpaquePointer?
        try check("open rtnetlink socket", monitor ? netft_nl_open_monitor(&h) : netft_nl_open(&h))
        handle = h!
        isMonitor = monitor
    }

    deinit { netft_nl_close(handle) }

    public var fileDescriptor: Int32 { netft_nl_fd(handle) }

    public func setLink(index: Int32, up: Bool? = nil, mtu: UInt32 = 0, name: String) throws(SystemError) {
        let state: Int32 = up.map { $0 ? 1 : 0 } ?? -1
        try check("set link \(name)\(up.map { $0 ? " up" : " down" } ?? "")\(mtu > 0 ? " mtu \(mtu)" : "")", netft_nl_link_set(handle, index, state, mtu))
    }

    public func deleteLink(index: Int32, name: String) throws(SystemError) {
        try check("delete link \(name)", netft_nl_link_del(handle, index))
    }

    public func addAddress(_ address: IPAddress, prefixLength: UInt8, index: Int32, name: String) throws(SystemError) {
        let (family, bytes) = Netlink.raw(address)
        try check("add address \(address)/\(prefixLength) to \(name)", netft_nl_addr_add(handle, index, family, bytes, prefixLength))
    }

    public func addRoute(_ destination: IPAddress, prefixLength: UInt8, index: Int32, name: String) throws(SystemError) {
        let (family, bytes) = Netlink.raw(destination)
        try check("add route \(destination)/\(prefixLength) via \(name)", netft_nl_route_add(handle, index, family, bytes, prefixLength))
    }

    /// Adds a neighbour entry in `state` (NUD_STALE 0x04: the kernel re-verifies
    /// it before trusting it) unless the kernel already has one for `address`.
    public func addNeighbour(_ address: IPAddress, mac: [UInt8], index: Int32, state: UInt16 = Linux.neighbourStale) throws(SystemError) {
        let (family, bytes) = Netlink.raw(address)
        let result = netft_nl_neigh_add(handle, index, family, bytes, mac, state)
        if result == -EEXIST { return }
        try check("add neighbour \(address) on interface \(index)", result)
    }

    /// The kernel's route lookup for `destination` (out of interface `index` if given).
    public func nextHop(to destination: IPAddress, index: Int32? = nil) throws(SystemError) -> NextHop {
        let (family, bytes) = Netlink.raw(destination)
        var out = netft_nl_nexthop()
        try check("look up the route to \(destination)", netft_nl_route_get(handle, family, bytes, index ?? 0, &out))
        return NextHop(interfaceIndex: out.oif, gateway: out.has_gateway != 0 ? Netlink.ip(family: out.family, out.gateway) : nil)
    }

    public func links() throws(SystemError) -> [Link] {
        let box = Collector<Link>()
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        try check("list links", netft_nl_dump_links(handle, { raw, _, ctx in
            Unmanaged<Collector<Link>>.fromOpaque(ctx!).takeUnretainedValue().items.append(Netlink.link(raw!.pointee))
        }, ctx))
        return box.items
    }

    public func addresses() throws(SystemError) -> [Address] {
        let box = Collector<Address>()
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        try check("list addresses", netft_nl_dump_addrs(handle, { raw, _, ctx in
            Unmanaged<Collector<Address>>.fromOpaque(ctx!).takeUnretainedValue().items.append(Netlink.address(raw!.pointee))
        }, ctx))
        return box.items
    }

    public func neighbours(ipv6: Bool = false) throws(SystemError) -> [Neighbour] {
        let box = Collector<Neighbour>()
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        try check("list neighbours", netft_nl_dump_neighbours(handle, ipv6 ? AF_INET6 : AF_INET, { raw, ctx in
            Unmanaged<Collector<Neighbour>>.fromOpaque(ctx!).takeUnretainedValue().items.append(Netlink.neighbour(raw!.pointee))
        }, ctx))
        return box.items
    }

    /// NUD_INCOMPLETE (0x01) and NUD_FAILED (0x20), or no state at all, carry no usable MAC.
    static func neighbour(_ n: netft_nl_neigh) -> Neighbour {
        let usable = n.has_mac != 0 && n.state != 0 && n.state & (Linux.neighbourIncomplete | Linux.neighbourFailed) == 0
        return Neighbour(
            interfaceIndex: n.ifindex, address: Netlink.ip(family: n.family, n.addr),
            mac: usable ? withUnsafeBytes(of: n.mac, Array.init) : nil, state: n.state)
    }

    public enum Change: Equatable, Sendable {
        case link(Link, removed: Bool)
        case address(Address, removed: Bool)
        /// A neighbour entry changed; `mac` nil when it has none usable (or was deleted).
        case neighbour(Neighbour)
        /// The routing table changed (look next hops up again).
        case routes
    }

    /// Reads every pending change from a monitor socket (non-blocking).
    public func pendingChanges() throws(SystemError) -> [Change] {
        let box = Collector<Change>()
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        var routesChanged: Int32 = 0
        try check("read rtnetlink notifications", netft_nl_read_events(handle, { raw, deleted, ctx in
            Unmanaged<Collector<Change>>.fromOpaque(ctx!).takeUnretainedValue().items.append(.link(Netlink.link(raw!.pointee), removed: deleted != 0))
        }, { raw, deleted, ctx in
            Unmanaged<Collector<Change>>.fromOpaque(ctx!).takeUnretainedValue().items.append(.address(Netlink.address(raw!.pointee), removed: deleted != 0))
        }, { raw, ctx in
            Unmanaged<Collector<Change>>.fromOpaque(ctx!).takeUnretainedValue().items.append(.neighbour(Netlink.neighbour(raw!.pointee)))
        }, &routesChanged, ctx))
        return box.items + (routesChanged != 0 ? [.routes] : [])
    }

    private final class Collector<T> { var items: [T] = [] }

    static func link(_ l: netft_nl_link) -> Link {
        let name = withUnsafeBytes(of: l.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return Link(
            index: l.ifindex, name: name, isUp: l.flags & UInt32(IFF_UP) != 0,
            hasCarrier: l.flags & Linux.interfaceLowerUp != 0,
            mtu: l.mtu, mac: withUnsafeBytes(of: l.mac, Array.init), rxQueues: max(1, l.rx_queues), txDropped: l.tx_dropped)
    }

    static func address(_ a: netft_nl_addr) -> Address {
        Address(interfaceIndex: a.ifindex, address: ip(family: a.family, a.addr), prefixLength: a.prefix)
    }

    static func ip(family: Int32, _ bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) -> IPAddress {
        let all = withUnsafeBytes(of: bytes, Array.init)
        if family == AF_INET { return .v4(all[0..<4].reduce(0) { $0 << 8 | UInt32($1) }) }
        return IPAddress(bytes16: all)
    }

    static func raw(_ address: IPAddress) -> (Int32, [UInt8]) {
        switch address {
        case .v4(let a): (AF_INET, withUnsafeBytes(of: a.bigEndian, Array.init))
        case .v6: (AF_INET6, address.bytes16)
        }
    }
}
