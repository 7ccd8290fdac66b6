import Foundation
import NetFTCore
import NetFTDataplane

/// Gathers what `netft validate` judges, on this host and in its network
/// namespace: the configuration, the interfaces (netlink), their XDP features
/// (generic netlink), the firewall (libnftables), and reachability, either
/// from probes against the peers' validate runs or, when a daemon holds the
/// port, from the running daemon's routes.
public enum NetworkValidation {
    public enum Failure: Error, CustomStringConvertible {
        /// The configuration is refused: the operator must fix it (exit 2).
        case configuration(String)
        /// Validation could not run (exit 1).
        case runtime(String)
        public var description: String {
            switch self {
            case .configuration(let why), .runtime(let why): why
            }
        }
    }

    public static func run(configPath: String, node: String?, milliseconds: Int) throws(Failure) -> ValidationReport {
        let config: ClusterConfig
        do {
            config = try ConfigLoader.load(path: configPath)
        } catch {
            throw .configuration("configuration refused: \(error)")
        }
        let interfaces: [ValidationFacts.Interface]
        do {
            interfaces = try localInterfaces()
        } catch {
            throw .runtime("cannot list this host's interfaces: \(error)")
        }
        let me = try whoAmI(config, node: node, interfaces: interfaces)
        var firewall: [ValidationFacts.FirewallFinding] = []
        var firewallError: String?
        do {
            firewall = HostFirewall.findings(ruleset: try HostFirewall.rulesetJSON(), port: config.port)
        } catch {
            firewallError = "\(error)"
        }
        var probes: [ValidationFacts.RouteProbe]?
        var live: [ValidationFacts.LiveRoute]?
        do {
            let prober = try ValidationProber(links: probeLinks(config, me: me, interfaces: interfaces), node: me.id, port: config.port)
            probes = prober.run(milliseconds: milliseconds)
        } catch let busy as ValidationProber.PortBusy {
            live = try liveRoutes(busy)
        } catch {
            throw .runtime("cannot probe: \(error)")
        }
        let facts = ValidationFacts(
            config: config, me: me, interfaces: interfaces, probes: probes, liveRoutes: live, firewall: firewall, firewallError: firewallError,
            heartbeatDelayMilliseconds: config.heartbeat.settings(crossSubnet: false).delay.value)
        return NetworkValidator.validate(facts)
    }

    static func localInterfaces() throws(SystemError) -> [ValidationFacts.Interface] {
        let netlink = try Netlink()
        let addresses = try netlink.addresses()
        return try netlink.links().map { link in
            ValidationFacts.Interface(
                name: link.name, isUp: link.isUp, hasCarrier: link.hasCarrier, mtu: link.mtu,
                addresses: addresses.filter { $0.interfaceIndex == link.index }.map { ($0.address, $0.prefixLength) },
                xdpFeatures: try? XDPFeatures.of(interfaceIndex: link.index, name: link.name))
        }
    }

    static func whoAmI(_ config: ClusterConfig, node: String?, interfaces: [ValidationFacts.Interface]) throws(Failure) -> ClusterConfig.Node {
        switch config.localNode(named: node, hostAddresses: Set(interfaces.flatMap { $0.addresses.map(\.address) })) {
        case .success(let me): return me
        case .failure(let why): throw .runtime(why.description)
        }
    }

    /// One probe link per cluster network where this node's address is on an interface.
    static func probeLinks(_ config: ClusterConfig, me: ClusterConfig.Node, interfaces: [ValidationFacts.Interface]) -> [ValidationProber.Link] {
        config.networks.filter { $0.role == .cluster }.compactMap { network in
            guard let address = me.addresses.first(where: network.contains),
                let nic = interfaces.first(where: { $0.addresses.contains { $0.address == address } })
            else { return nil }
            let peers = config.nodes.filter { $0.id != me.id }.compactMap { peer in peer.addresses.first(where: network.contains).map { (peer.name, $0) } }
            return ValidationProber.Link(network: network.name, address: address, mtu: nic.mtu, peers: peers)
        }
    }

    /// The port is held: take the running daemon's routes instead of probing.
    static func liveRoutes(_ busy: ValidationProber.PortBusy) throws(Failure) -> [ValidationFacts.LiveRoute] {
        let data: Data
        do {
            data = try ControlClient.askLocal("status")
        } catch {
            throw .runtime("\(busy), and no netft daemon of this network namespace answers to report its routes: \(error)")
        }
        let status: NodeStatus
        do {
            status = try JSONDecoder().decode(NodeStatus.self, from: data)
        } catch {
            throw .runtime("\(busy); the daemon's status could not be read (\(error)): is it another netft version?")
        }
        return status.routes.map {
            .init(network: $0.network, peer: $0.peer, local: $0.real_local, remote: $0.real_remote, state: $0.state, reason: $0.reason, rttMilliseconds: $0.rtt_ms)
        }
    }
}
