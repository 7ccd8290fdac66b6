/// Judges one node's networks from what was measured: the counterpart of the
/// Windows cluster network validation. Pure: facts in, checks out.
public enum NetworkValidator {
    /// NETDEV_XDP_ACT_* bits (include/uapi/linux/netdev.h).
    public enum XDPFeature {
        public static let basic: UInt64 = 1, redirect: UInt64 = 2, zeroCopy: UInt64 = 8
    }

    public static func validate(_ facts: ValidationFacts) -> ValidationReport {
        var checks = networkCount(facts)
        let clusterNetworks = facts.config.networks.filter { $0.role == .cluster }
        var nics: [String: ValidationFacts.Interface] = [:]  // network -> the NIC holding this node's address
        for network in clusterNetworks {
            let (check, nic) = nicCheck(network, facts)
            checks.append(check)
            if let nic { nics[network.name] = nic }
        }
        checks += sharedSubnets(facts, clusterNetworks)
        checks += xdpChecks(nics)
        if let live = facts.liveRoutes {
            checks += live.map(liveRouteCheck)
        } else {
            for probe in facts.probes ?? [] { checks += routeChecks(probe, nic: nics[probe.network], facts) }
        }
        checks += firewallChecks(facts)
        return ValidationReport(cluster: facts.config.cluster, node: facts.me.name, mode: facts.liveRoutes == nil ? "probes" : "daemon", checks: checks)
    }

    static func networkCount(_ facts: ValidationFacts) -> [ValidationReport.Check] {
        let cluster = facts.config.networks.filter { $0.role == .cluster }
        switch cluster.count {
        case 0: return [.init("networks", "cluster", .fail, "no network has role cluster: netft has nothing to carry its traffic")]
        case 1: return [.init("networks", "cluster", .warning, "only one cluster network (\(cluster[0].name)): a single point of failure, one NIC, cable or switch takes the node off the cluster")]
        default: return [.init("networks", "cluster", .pass, "\(cluster.count) cluster networks: \(cluster.map(\.name).joined(separator: ", "))")]
        }
    }

    static func nicCheck(_ network: ClusterConfig.Network, _ facts: ValidationFacts) -> (ValidationReport.Check, ValidationFacts.Interface?) {
        let subject = network.label
        guard let address = facts.me.addresses.first(where: network.contains) else {
            return (.init("nic", subject, .fail, "\(facts.me.name) has no configured address in this network"), nil)
        }
        guard let nic = facts.interfaces.first(where: { $0.addresses.contains { $0.address == address } }) else {
            return (.init("nic", subject, .fail, "\(address) is on no interface of this host"), nil)
        }
        if !nic.isUp { return (.init("nic", subject, .fail, "\(nic.name) (\(address)) is administratively down"), nic) }
        if !nic.hasCarrier { return (.init("nic", subject, .fail, "\(nic.name) (\(address)) is up but has no carrier (cable, switch port or peer down)"), nic) }
        return (.init("nic", subject, .pass, "\(nic.name) \(address) up, mtu \(nic.mtu)"), nic)
    }

    /// Two NICs in one cluster subnet: the kernel sends that subnet's traffic out of one of them.
    static func sharedSubnets(_ facts: ValidationFacts, _ networks: [ClusterConfig.Network]) -> [ValidationReport.Check] {
        networks.compactMap { network in
            let holders = facts.interfaces.filter { $0.addresses.contains { network.contains($0.address) } }.map(\.name)
            guard holders.count > 1 else { return nil }
            return .init(
                "subnet", network.label, .fail,
                "\(holders.joined(separator: " and ")) all have addresses in this subnet: the kernel picks one of them for all of it, so the networks are not independent")
        }
    }

    static func xdpChecks(_ nics: [String: ValidationFacts.Interface]) -> [ValidationReport.Check] {
        Set(nics.values.map(\.name)).sorted().compactMap { name in
            guard let nic = nics.values.first(where: { $0.name == name }) else { return nil }
            guard let features = nic.xdpFeatures else {
                return .init("xdp", name, .warning, "the kernel does not report XDP features (Linux < 6.3): netft will try native XDP and fall back to generic or the udp dataplane")
            }
            let native = features & XDPFeature.basic != 0 && features & XDPFeature.redirect != 0
            if !native {
                return .init("xdp", name, .warning, "generic XDP only (the driver has no native XDP with redirect): AF_XDP runs on skbs, the udp dataplane may be as fast")
            }
            if features & XDPFeature.zeroCopy != 0 { return .init("xdp", name, .pass, "native XDP, AF_XDP zero-copy") }
            return .init("xdp", name, .pass, "native XDP, AF_XDP copy mode (the driver has no zero-copy)")
        }
    }

    static func routeChecks(_ p: ValidationFacts.RouteProbe, nic: ValidationFacts.Interface?, _ facts: ValidationFacts) -> [ValidationReport.Check] {
        let subject = "\(p.network) \(facts.me.name) \(p.local) -> \(p.peer) \(p.remote)"
        let port = facts.config.port
        var checks: [ValidationReport.Check] = []
        let out = p.replies > 0, heard = p.requestsHeard > 0
        switch (out, heard) {
        case (true, _):
            checks.append(.init("reachability", subject, .pass, "udp \(port) both ways: \(p.replies) of \(p.requestsSent) probes answered"))
        case (false, true):
            checks.append(.init("reachability", subject, .fail, "udp \(port) from here to \(p.peer) is blocked: \(p.peer)'s probes arrive but none of \(p.requestsSent) sent from here was answered"))
        case (false, false):
            checks.append(.init(
                "reachability", subject, .fail,
                "nothing in either direction: \(p.requestsSent) probes unanswered and none arrived from \(p.peer) (run netft validate on \(p.peer) at the same time; otherwise the path or udp \(port) is blocked)"))
        }
        if out, !p.roundTripNanoseconds.isEmpty {
            let ms = p.roundTripNanoseconds.map { Double($0) / 1e6 }
            let average = ms.reduce(0, +) / Double(ms.count), worst = ms.max() ?? 0
            let text = "round trip \(milliseconds(average)) ms average, \(milliseconds(worst)) ms worst over \(ms.count) probes"
            let verdict: ValidationReport.Verdict = worst > Double(facts.heartbeatDelayMilliseconds) ? .warning : .pass
            checks.append(.init("rtt", subject, verdict, verdict == .pass ? text : text + ": above the heartbeat delay of \(facts.heartbeatDelayMilliseconds) ms, replies will count as missed"))
        }
        if let nic, out || heard {
            checks.append(mtuCheck(p, local: nic.mtu, subject: subject))
        }
        return checks
    }

    static func mtuCheck(_ p: ValidationFacts.RouteProbe, local: UInt32, subject: String) -> ValidationReport.Check {
        if let remote = p.remoteMTU, remote != local {
            return .init("mtu", subject, .fail, "mtu \(local) here, \(remote) on \(p.peer): frames larger than \(min(local, remote)) bytes are dropped on one side")
        }
        if p.fullSent > 0 && p.fullReplies == 0 && p.replies > 0 {
            return .init("mtu", subject, .fail, "small probes pass but none of \(p.fullSent) full-size (\(p.fullSize)-byte) probes came back: a hop on the path has a smaller mtu than \(local)")
        }
        if p.fullReplies > 0 { return .init("mtu", subject, .pass, "mtu \(local) both ends; \(p.fullSize)-byte probes pass with DF set") }
        return .init("mtu", subject, .pass, "mtu \(local) both ends")
    }

    static func liveRouteCheck(_ r: ValidationFacts.LiveRoute) -> ValidationReport.Check {
        let subject = "\(r.network) \(r.local) -> \(r.peer) \(r.remote)"
        if r.state == "up" { return .init("reachability", subject, .pass, "route up in the running daemon, round trip \(milliseconds(r.rttMilliseconds)) ms") }
        return .init("reachability", subject, .fail, "route \(r.state) in the running daemon\(r.reason.map { ": \($0)" } ?? "")")
    }

    static func firewallChecks(_ facts: ValidationFacts) -> [ValidationReport.Check] {
        if let error = facts.firewallError { return [.init("firewall", "nftables", .warning, "could not read the ruleset: \(error)")] }
        guard !facts.firewall.isEmpty else { return [.init("firewall", "nftables", .pass, "no rule or policy drops udp \(facts.config.port)")] }
        return facts.firewall.map {
            .init("firewall", $0.location, .fail, "\($0.hook) hook: `\($0.rule)` drops udp \(facts.config.port) (heartbeats on the kernel path, the whole udp dataplane)")
        }
    }

    /// Three decimals, without Foundation.
    static func milliseconds(_ value: Double) -> String {
        let thousandths = Int((value * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}
