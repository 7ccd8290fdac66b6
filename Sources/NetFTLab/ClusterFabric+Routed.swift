import Foundation
import NetFTCore

/// The routed topology: each network is two subnets (the halves of its
/// flat subnet), each with its own switch, joined by a router namespace
/// (forwarding on, its own MACs). Node i sits in half i % 2, so node1 and
/// node2 talk through the router (cross-subnet routes) and node1 and node3
/// do not. The router has host 126 in each half.
extension ClusterFabric {
    public enum Topology: String, Sendable, CaseIterable {
        /// One subnet and one switch per network.
        case flat
        /// Two subnets per network joined by a router.
        case routed
    }

    static let routerHost = 126

    /// Which half of a routed network node i is in (0 when flat).
    public func half(ofNode i: Int) -> Int { spec.topology == .routed ? i % 2 : 0 }

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
                try Shell.run(["ip", "-n", router, "link", "add", device, "mtu", "\(spec.mtu)", "type", "veth", "peer", "name", "rt", "mtu", "\(spec.mtu)", "netns", sw])
                try Shell.run(["ip", "-n", sw, "link", "set", "rt", "master", "br0", "up"])
                try addAddress(routerAddress(network: k, half: half), in: router, device: device)
                try Shell.run(["ip", "-n", router, "link", "set", device, "up"])
            }
        }
    }

    /// Node i reaches the other half of network `k` through the router.
    func routeOtherHalf(network k: Int, node i: Int, namespace: String, device: String) throws {
        let mine = half(ofNode: i)
        try Shell.run([
            "ip", "-n", namespace, "route", "replace", spec.underlay.subnet(network: k, half: 1 - mine),
            "via", "\(routerAddress(network: k, half: mine))", "dev", device,
        ])
    }
}
