import NetFTCore
import NetFTDataplane

/// Finds the node's interfaces through netlink and follows their changes:
/// links, addresses and neighbours. Lives on the control plane's thread.
final class InterfaceManager {
    private let netlink: Netlink
    let monitor: Netlink
    private(set) var links: [Int32: Netlink.Link] = [:]
    private(set) var addresses: Set<Netlink.Address> = []

    init() throws(SystemError) {
        netlink = try Netlink()
        monitor = try Netlink(monitor: true)
        try resync()
    }

    /// Reads links and addresses whole (at start, and when notifications were lost).
    func resync() throws(SystemError) {
        links = [:]
        for link in try netlink.links() { links[link.index] = link }
        addresses = Set(try netlink.addresses())
    }

    /// Every (interface, address) pair, loopback excluded.
    var localInterfaces: [TopologyPlanner.LocalInterface] {
        addresses.compactMap { a in
            guard let link = links[a.interfaceIndex], link.name != "lo" else { return nil }
            return TopologyPlanner.LocalInterface(name: link.name, address: a.address)
        }.sorted { ($0.name, $0.address.description) < ($1.name, $1.address.description) }
    }

    func link(named name: String) -> Netlink.Link? { links.values.first { $0.name == name } }

    /// Whether a route over `interface` with `address` can carry traffic now.
    func isUsable(interface name: String, address: IPAddress) -> Bool {
        guard let link = link(named: name) else { return false }
        return link.isOperational && addresses.contains { $0.interfaceIndex == link.index && $0.address == address }
    }

    /// The kernel's neighbour entries with a usable MAC on `links` now, from a dump.
    func neighbours(on links: [DataplaneLink]) -> [Netlink.Neighbour] {
        let indexes = Set(links.map(\.index))
        return [false, true].flatMap { (try? netlink.neighbours(ipv6: $0)) ?? [] }.filter { indexes.contains($0.interfaceIndex) && $0.mac != nil }
    }

    /// Puts a neighbour the kernel flushed (its link went down) back as STALE,
    /// so the kernel re-verifies it by unicast probe instead of starting a
    /// broadcast resolution whose first loss costs a second.
    func restoreNeighbour(_ address: IPAddress, mac: [UInt8], index: Int32) throws(SystemError) {
        try netlink.addNeighbour(address, mac: mac, index: index)
    }

    /// The gateway the kernel sends `address` to out of interface `index`, nil
    /// when the address is on that link (or the lookup chose another interface).
    func gateway(to address: IPAddress, index: Int32) -> IPAddress? {
        guard let hop = try? netlink.nextHop(to: address, index: index), hop.interfaceIndex == index else { return nil }
        return hop.gateway
    }

    struct Changes {
        /// Interfaces whose state or addresses changed.
        var interfaces: Set<String> = []
        /// Interfaces whose MAC changed, with the new one.
        var macs: [String: [UInt8]] = [:]
        var neighbours: [Netlink.Neighbour] = []
        /// The routing table changed: next hops may have moved.
        var routes = false
        /// Notifications were lost (the socket overflowed): state was read whole again.
        var resynced = false
    }

    /// Applies pending notifications.
    func update() -> Changes {
        var changes = Changes()
        let pending: [Netlink.Change]
        do {
            pending = try monitor.pendingChanges()
        } catch {
            // ENOBUFS: the kernel dropped notifications; read everything again.
            let before = links
            try? resync()
            changes.resynced = true
            changes.interfaces = Set(before.values.map(\.name)).union(links.values.map(\.name))
            return changes
        }
        for change in pending {
            switch change {
            case .link(let link, let removed):
                let before = links[link.index]
                if removed { links[link.index] = nil } else { links[link.index] = link }
                if before?.isOperational != (removed ? nil : link.isOperational) { changes.interfaces.insert(link.name) }
                if let before, !removed, before.mac != link.mac, link.mac.count == 6 { changes.macs[link.name] = link.mac }
            case .address(let address, let removed):
                if removed { addresses.remove(address) } else { addresses.insert(address) }
                if let name = links[address.interfaceIndex]?.name { changes.interfaces.insert(name) }
            case .neighbour(let neighbour):
                changes.neighbours.append(neighbour)
            case .routes:
                changes.routes = true
            }
        }
        return changes
    }
}
