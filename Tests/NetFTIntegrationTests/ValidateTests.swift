import Foundation
import Glibc
import Synchronization
import NetFTCore
import NetFTFabric
import NetFTLab
import NetFTTestSupport
import Testing

/// `netft validate` on every node of a lab at the same time (no daemons: the
/// runs probe each other), healthy and with each failure planted: a firewall
/// drop, two NICs in one subnet, an MTU mismatch, a NIC down, one network only.
@Suite("Network validation", .serialized)
struct ValidateTests {
    /// Every node's run, started together (or each `stagger` seconds after the
    /// one before); its exit status and decoded report.
    static func validateAll(_ fabric: ClusterFabric, extra: [String] = [], stagger: Double = 0) throws -> [String: (status: Int32, report: ValidationReport, stderr: String)] {
        let results = Mutex([String: NetFTResult]())
        let group = DispatchGroup()
        let config = fabric.configPath
        for (i, node) in fabric.nodes.enumerated() {
            let namespace = node.namespace, name = node.name
            group.enter()
            DispatchQueue.global().asyncAfter(deadline: .now() + stagger * Double(i)) {
                defer { group.leave() }
                let result = (try? runNetft(["validate", "--config", config, "--duration", "1.5", "--json"] + extra, namespace: namespace))
                    ?? NetFTResult(status: -1, stdout: "", stderr: "could not run netft")
                results.withLock { $0[name] = result }
            }
        }
        group.wait()
        return try results.withLock { all in
            try all.mapValues { r in
                guard let report = try? JSONDecoder().decode(ValidationReport.self, from: Data(r.stdout.utf8)) else {
                    throw Missing(description: "validate printed no report (exit \(r.status)): \(r.stderr) \(r.stdout.prefix(500))")
                }
                return (r.status, report, r.stderr)
            }
        }
    }

    static func checks(_ report: ValidationReport, _ kind: String, _ verdict: ValidationReport.Verdict? = nil, network: String? = nil) -> [ValidationReport.Check] {
        report.checks.filter { $0.check == kind && (verdict == nil || $0.verdict == verdict) && (network == nil || $0.subject.hasPrefix(network!)) }
    }

    @Test func aHealthyLabPassesAndEachPlantedFailureIsFound() throws {
        try requireKernelLab()
        let fabric = try ClusterFabric(spec: ClusterFabric.Spec(), binary: netftBinary, tag: "valid")
        defer { fabric.tearDown() }

        // Healthy: every check passes on every node, both ways on every route.
        var runs = try Self.validateAll(fabric)
        for (name, run) in runs {
            #expect(run.status == 0, "\(name): \(run.report.checks.filter { $0.verdict != .pass })")
            #expect(run.report.mode == "probes")
            #expect(Self.checks(run.report, "reachability", .pass).count == 2, "\(name): \(run.report.checks)")
            #expect(Self.checks(run.report, "mtu", .pass).count == 2)
            #expect(Self.checks(run.report, "rtt", .pass).count == 2)
            #expect(Self.checks(run.report, "xdp", .pass).allSatisfy { $0.detail.contains("native XDP") } && Self.checks(run.report, "xdp").count == 2, "\(Self.checks(run.report, "xdp"))")
            #expect(Self.checks(run.report, "firewall", .pass).count == 1)
            #expect(Self.checks(run.report, "networks", .pass).count == 1)
        }
        let node1 = fabric.node("node1"), node2 = fabric.node("node2")
        let netA = fabric.nodes[0].interfaces[0].name, netB = fabric.nodes[0].interfaces[1].name
        let networkNames = runs["node1"]!.report.checks.filter { $0.check == "nic" }.map { String($0.subject.split(separator: " ")[0]) }
        #expect(networkNames.count == 2)

        // A firewall on node2 drops udp 3343 coming in.
        try Shell.run(["ip", "netns", "exec", node2.namespace, "nft", "add table inet planted; add chain inet planted input { type filter hook input priority 0; }; add rule inet planted input udp dport 3343 drop"])
        runs = try Self.validateAll(fabric)
        #expect(runs["node2"]!.status == 1)
        let rule = Self.checks(runs["node2"]!.report, "firewall", .fail)
        #expect(rule.count == 1 && rule[0].subject.contains("planted chain input") && rule[0].detail.contains("udp dport 3343 drop"), "\(rule)")
        // node1 hears node2 but gets no answer: the direction is named.
        let blocked = Self.checks(runs["node1"]!.report, "reachability", .fail)
        #expect(blocked.count == 2 && blocked.allSatisfy { $0.detail.contains("from here to node2 is blocked") }, "\(blocked)")
        try Shell.run(["ip", "netns", "exec", node2.namespace, "nft", "delete table inet planted"])

        // Two of node1's NICs in one cluster subnet.
        let stray = "\(ClusterFabric.address(network: 0, node: 100))/24"
        try Shell.run(["ip", "-n", node1.namespace, "addr", "add", stray, "dev", netB])
        runs = try Self.validateAll(fabric)
        let shared = Self.checks(runs["node1"]!.report, "subnet", .fail)
        #expect(runs["node1"]!.status == 1 && shared.count == 1 && shared[0].detail.contains(netA) && shared[0].detail.contains(netB), "\(shared)")
        try Shell.run(["ip", "-n", node1.namespace, "addr", "del", stray, "dev", netB])

        // node2's second NIC has a smaller MTU: both ends see the mismatch on that network only.
        try Shell.run(["ip", "-n", node2.namespace, "link", "set", netB, "mtu", "1400"])
        runs = try Self.validateAll(fabric)
        for name in ["node1", "node2"] {
            let mtu = Self.checks(runs[name]!.report, "mtu", .fail)
            #expect(runs[name]!.status == 1 && mtu.count == 1 && mtu[0].subject.hasPrefix(networkNames[1]) && mtu[0].detail.contains("1400"), "\(name): \(mtu)")
            #expect(Self.checks(runs[name]!.report, "mtu", .pass, network: networkNames[0]).count == 1)
        }
        try Shell.run(["ip", "-n", node2.namespace, "link", "set", netB, "mtu", "1500"])

        // node1's second NIC down.
        try fabric.setLink("node1", network: 1, up: false)
        runs = try Self.validateAll(fabric)
        let nic = Self.checks(runs["node1"]!.report, "nic", .fail)
        #expect(runs["node1"]!.status == 1 && nic.count == 1 && nic[0].detail.contains("down"), "\(nic)")
        #expect(Self.checks(runs["node2"]!.report, "reachability", .fail, network: networkNames[1]).count == 1, "node2 sees network b dead")
        #expect(Self.checks(runs["node2"]!.report, "reachability", .pass, network: networkNames[0]).count == 1)
        try fabric.setLink("node1", network: 1, up: true)
    }

    @Test func oneNetworkOnlyIsASinglePointOfFailure() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.networks = 1
        let fabric = try ClusterFabric(spec: spec, binary: netftBinary, tag: "valid1")
        defer { fabric.tearDown() }
        let runs = try Self.validateAll(fabric, extra: ["--html", "\(fabric.workDirectory)/report.html"])
        for (name, run) in runs {
            let spof = Self.checks(run.report, "networks", .warning)
            #expect(spof.count == 1 && spof[0].detail.contains("single point of failure"), "\(name): \(run.report.checks)")
            #expect(run.status == 0, "a warning is not a failure: \(run.stderr)")
        }
        let html = try String(contentsOfFile: "\(fabric.workDirectory)/report.html", encoding: .utf8)
        #expect(html.contains("<table>") && html.contains("single point of failure") && html.contains("class=\"warning\""))
    }

    /// "At the same time" on real hosts means seconds apart: node2's run starts
    /// after node1's --duration has passed, and both still see every route
    /// reachable both ways (node1 probes on while node2 has not answered, then answers).
    @Test func runsThatStartApartStillMeet() throws {
        try requireKernelLab()
        let fabric = try ClusterFabric(spec: ClusterFabric.Spec(), binary: netftBinary, tag: "validl")
        defer { fabric.tearDown() }
        let runs = try Self.validateAll(fabric, stagger: 1.8)
        for (name, run) in runs {
            #expect(run.status == 0, "\(name): \(run.report.checks.filter { $0.verdict != .pass })")
            #expect(Self.checks(run.report, "reachability", .pass).count == 2, "\(name): \(Self.checks(run.report, "reachability"))")
        }
    }

    @Test func aRefusedConfigurationExitsTwoWithTheLine() throws {
        try requireKernelLab()
        let path = "/tmp/netft-validate-\(getpid()).yaml"
        try "cluster: x\nsecurity: none\nnetworks:\n  - name: a\n    subnet: 198.18.1.0/24\n  - name: b\n    subnet: 198.18.1.0/25\nnodes: []\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let result = try runNetft(["validate", "--config", path])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("overlaps network a"), "\(result.stderr)")
    }

    /// With the daemon running, the port is taken: the routes come from the daemon.
    @Test func withTheDaemonRunningRoutesComeFromIt() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "validl")
        defer { fabric.tearDown() }
        let result = try runNetft(["validate", "--config", fabric.configPath, "--json"], namespace: fabric.node("node1").namespace)
        let report = try JSONDecoder().decode(ValidationReport.self, from: Data(result.stdout.utf8))
        #expect(result.status == 0 && report.mode == "daemon", "\(result.stderr) \(report.checks)")
        #expect(Self.checks(report, "reachability", .pass).count == 2 && Self.checks(report, "reachability", .pass).allSatisfy { $0.detail.contains("route up in the running daemon") })
    }
}
