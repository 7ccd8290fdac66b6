import NetFTCore
import NetFTDataplane

/// Finds the node's interfaces through netlink and follows their changes.
final class InterfaceManager {
    private let netlink: Netlink
    let monitor: Netlink
    private(set) var links: [Int32: Netlink.Link] = [:]
    private(set) var addresses: Set<Netlink.Address> = []

    init() throws(SystemError) {
        netlink = try Netlink()
        monitor = try Netlink(monitor: true)
        for link in try netlink.links() { links[link.index] = link }
        addresses = Set(try netlink.addresses())
    }

    /// Every (interface, address) pair, loopback excluded.
    var localInterfaces: [TopologyManager.LocalInterface] {
        addresses.compactMap { a in
            guard let link = links[a.interfaceIndex], link.name != "lo" else { return nil }
            return TopologyManager.LocalInterface(name: link.name, address: a.address)
        }.sorted { ($0.name, $0.address.description) < ($1.name, $1.address.description) }
    }

    func link(named name: String) -> Netlink.Link? { links.values.first { $0.name == name } }

    /// Whether a route over `interface` with `address` can carry traffic now.
    func isUsable(interface name: String, address: IPAddress) -> Bool {
        guard let link = link(named: name) else { return false }
        return link.isOperational && addresses.contains { $0.interfaceIndex == link.index && $0.address == address }
    }

    /// Applies pending notifications; returns the names of interfaces whose state changed.
    func update() throws(SystemError) -> Set<String> {
        var changed: Set<String> = []
        for change in try monitor.pendingChanges() {
            switch change {
            case .link(let link, let removed):
                let before = links[link.index]
                if removed { links[link.index] = nil } else { links[link.index] = link }
                if before?.isOperational != (removed ? nil : link.isOperational) { changed.insert(link.name) }
            case .address(let address, let removed):
                if removed { addresses.remove(address) } else { addresses.insert(address) }
                if let name = links[address.interfaceIndex]?.name { changed.insert(name) }
            }
        }
        return changed
    }
}
