import Foundation
import NetFTCore
import NetFTDataplane

/// The routed topology: each network is two subnets (the halves of its
/// flat subnet), each with its own switch, joined by a router namespace
/// (forwarding on, its own MACs). Node i sits in half i % 2, so node1 and
/// node2 talk through the router (cross-subnet routes) and node1 and node3
/// do not. The router has host 126 in each half.
///
/// Two sites: the same, with the router's link to the second half a WAN, a
/// relay namespace that holds every frame for `wanDelayMilliseconds` each way.
extension ClusterFabric {
    public enum Topology: String, Sendable, CaseIterable {
        /// One subnet and one switch per network.
        case flat
        /// Two subnets per network joined by a router.
        case routed
        /// Two sites: routed, the second half behind an inter-site link with latency.
        case sites

        /// Whether each network is two subnets joined by a router.
        public var isRouted: Bool { self != .flat }
    }

    static let routerHost = 126

    /// Which half of a routed network node i is in (0 when flat).
    public func half(ofNode i: Int) -> Int { spec.topology.isRouted ? i % 2 : 0 }

    /// The switch namespace node i's NIC on network `k` plugs into.
    public func switchNamespace(network k: Int, node i: Int) -> String { half(ofNode: i) == 0 ? switches[k] : farSwitches[k] }

    public func switchNamespace(network k: Int, node name: String) -> String { switchNamespace(network: k, node: Int(node(name).id) - 1) }

    /// The router's address in half `half` of network `k`: the nodes' gateway to the other half.
    public func routerAddress(network k: Int, half: Int) -> IPAddress {
        spec.underlay.address(network: k, half: half, host: Self.routerHost)
    }

    /// Per network: the second half's switch and the router between the two.
    func buildRouters() throws {
        for k in 0..<spec.networks {
            let far = "\(tag)-sw\(k)b"
            farSwitches.append(far)
            try makeSwitch(far)
            let router = "\(tag)-rt\(k)"
            try Shell.run(["ip", "netns", "add", router])
            routers.append(router)
            try Shell.run(["ip", "netns", "exec", router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])
            for (half, sw) in [(0, switches[k]), (1, far)] {
                let device = "half\(half)"
                // Sites: the second half is reached through the inter-site link.
                let across = half == 1 && spec.topology == .sites ? try buildInterSiteLink(network: k, to: far) : nil
                try Shell.run(["ip", "-n", router, "link", "add", device, "mtu", "\(spec.mtu)", "type", "veth", "peer", "name", across == nil ? "rt" : "near", "mtu", "\(spec.mtu)", "netns", across ?? sw])
                if let across { try Shell.run(["ip", "-n", across, "link", "set", "near", "up"]) } else { try Shell.run(["ip", "-n", sw, "link", "set", "rt", "master", "br0", "up"]) }
                try addAddress(routerAddress(network: k, half: half), in: router, device: device)
                try Shell.run(["ip", "-n", router, "link", "set", device, "up"])
            }
        }
        if spec.topology == .sites { try startInterSiteRelays() }
    }

    /// Network `k`'s inter-site link: a namespace whose `far` plugs into the far
    /// site's switch; the router's `half1` plugs into its `near` (done by the caller).
    private func buildInterSiteLink(network k: Int, to far: String) throws -> String {
        let wan = "\(tag)-wan\(k)"
        try Shell.run(["ip", "netns", "add", wan])
        interSiteLinks.append(wan)
        try Shell.run(["ip", "-n", wan, "link", "add", "far", "mtu", "\(spec.mtu)", "type", "veth", "peer", "name", "wan", "mtu", "\(spec.mtu)", "netns", far])
        try Shell.run(["ip", "-n", far, "link", "set", "wan", "master", "br0", "up"])
        try Shell.run(["ip", "-n", wan, "link", "set", "far", "up"])
        return wan
    }

    /// One relay process per inter-site link (`netft lab wan-relay`), stopped with the fabric.
    private func startInterSiteRelays() throws {
        for wan in interSiteLinks {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            process.arguments = [
                "--net=\(NetworkNamespace.path(wan))", binary, "lab", "wan-relay", "near", "far", "--delay-ms", "\(spec.wanDelayMilliseconds)",
                "--stats", relayStatsPath(wan),
            ] + (spec.daemonsOutliveCreator ? [] : ["--stop-with-pid", "\(getpid())"])
            // A relay that cannot start says why in the lab's logs, beside the daemons'.
            let log = "\(logDirectory)/\(wan.replacingOccurrences(of: "\(tag)-", with: "")).log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            relays.append(process)
        }
    }

    private func relayStatsPath(_ wan: String) -> String {
        "\(logDirectory)/\(wan.replacingOccurrences(of: "\(tag)-", with: "")).stats.json"
    }

    /// What the inter-site relays did so far, all networks together (at most
    /// 100 ms old). A frame they dropped in their own socket is the lab's
    /// loss, not the WAN's nor netft's: a scenario that sees one says so.
    public var relayCounts: WANRelay.Counts {
        var total = WANRelay.Counts()
        for wan in interSiteLinks {
            guard let data = FileManager.default.contents(atPath: relayStatsPath(wan)),
                let counts = try? JSONDecoder().decode(WANRelay.Counts.self, from: data)
            else { continue }
            total.relayed += counts.relayed
            total.dropped += counts.dropped
            total.droppedInSocket += counts.droppedInSocket
        }
        return total
    }

    /// Takes network `k`'s inter-site link down or up (the router's side loses
    /// its carrier); the nodes' own links stay up.
    public func setInterSiteLink(network k: Int, up: Bool) throws {
        guard k < interSiteLinks.count else { throw LabError("network \(k + 1) has no inter-site link (--topology sites)") }
        try Shell.run(["ip", "-n", interSiteLinks[k], "link", "set", "near", up ? "up" : "down"])
    }

    /// Node i reaches the other half of network `k` through the router.
    func routeOtherHalf(network k: Int, node i: Int, namespace: String, device: String) throws {
        let mine = half(ofNode: i)
        try Shell.run([
            "ip", "-n", namespace, "route", "replace", "\(spec.underlay.subnet(network: k, half: 1 - mine))",
            "via", "\(routerAddress(network: k, half: mine))", "dev", device,
        ])
    }
}
