import ArgumentParser
import Foundation
import Glibc
import NetFTCore
import NetFTDataplane
import NetFTFabric
import NetFTLab

extension LabScenario: ExpressibleByArgument {}
extension CorosyncStack.Placement: ExpressibleByArgument {}

/// Cluster software the lab runs on top of netft.
enum LabStack: String, ExpressibleByArgument, CaseIterable { case none, corosync }
extension ClusterConfig.Profile: ExpressibleByArgument {}
extension ClusterFabric.Underlay: ExpressibleByArgument {}
extension ClusterFabric.Topology: ExpressibleByArgument {}

struct Lab: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a whole cluster on this machine and replay the field's failures.",
        discussion: """
            Builds a namespace per node and a switch namespace (a bridge) per network,
            joins them with veths (addresses in 198.18.0.0/15, or 2001:db8::/32 with --underlay ipv6), starts a netft daemon per
            node with a generated configuration and key, waits until every route is up,
            pings every virtual address from every node, then runs the scenarios:

              link-down   node1's NIC on net1 goes down during a stream, then returns
              firewall    UDP 3343 dropped for node1 on net1, the active network, links up
              asymmetric  node1's frames on net1 lost, node2's still arrive
              firewall-standby, asymmetric-standby   the same on net2, which idles
              flapping    node1's net1 link down/up every 300 ms for 3 s
              total-loss  node1 loses every network, then net2 returns
              restart     node1's daemon restarted during traffic
              router-failure  (--topology routed or sites) net1's router stops forwarding, links up
              inter-site-link (--topology sites) net1's link between the sites goes down

            --topology routed splits every network into two subnets (one bit longer:
            198.18.k.0/25 and 198.18.k.128/25) with a switch each, joined by a router
            namespace; odd nodes sit in the first, even nodes in the second. node1 and
            node2 then talk through the router: their routes are cross-subnet (the
            CrossSubnet heartbeat settings, FastCrossSubnet in the fast profile) and
            the fast path sends to the router's MAC. node1 and node3 share a subnet.

            --topology sites is routed with the second subnet at another site: the
            router reaches it over an inter-site link that delays every frame by
            --wan-delay-ms each way (a relay namespace; the kernel has no netem), so
            node1 -> node2 has a WAN's round trip and node1 -> node3 a LAN's.

            Each reports detection time, time until traffic flows again, packets lost,
            packets resent by lossless failover, the diagnosis, and pass or fail. Exit status 1 if any scenario fails.
            Everything is torn down at the end, on failure and on Ctrl-C, unless --keep.
            Leftovers of a run that was killed are removed at the next start.

            JSON (--json): {"passed": bool, "scenarios": [{"name", "passed", "detect_ms",
            "recover_ms", "lost_packets", "resent_packets", "diagnosis", "expectation",
            "failures"}], "underlay", "routes", "converge_ms" (first daemon start to every
            route up), ...}.
            Needs root.
            """,
        subcommands: [Show.self, Exec.self, WANRelayCommand.self],
        defaultSubcommand: nil
    )

    @Option(help: "Nodes in the cluster (2-16).") var nodes = 3
    @Option(help: "Networks, each a switch (2-4).") var networks = 2
    @Option(help: "Heartbeat profile: fast (25 ms x 4) or default (Windows: 1000 ms x 5).") var profile = ClusterConfig.Profile.fast
    @Option(help: "Dataplane: xdp or udp.") var dataplane = DataplaneKind.xdp
    @Option(help: "Address family of the physical networks, the tunnel's outer headers: ipv4 (198.18.k.0/24) or ipv6 (2001:db8:0:k::/64, the documentation range, inside the lab's namespaces only). The virtual adapter carries IPv4 and IPv6 either way.")
    var underlay = ClusterFabric.Underlay.ipv4
    @Option(help: "flat (a switch per network), routed (each network two subnets joined by a router namespace) or sites (routed, the second subnet behind an inter-site link with latency).")
    var topology = ClusterFabric.Topology.flat
    @Option(help: "With --topology sites: one-way delay of each inter-site link, in ms (1-500).") var wanDelayMs: UInt64 = 10
    @Option(name: .customLong("scenario"), help: "Run only this scenario (repeatable). Default: all.") var scenarios: [LabScenario] = []
    @Option(help: "Cluster software on every node: none, or corosync (3, kronosnet, one link on the node's virtual address). Each scenario then also reports corosync's new rings and knet link downs, and passes only with 0 new rings (total-loss: the member must leave and return).")
    var stack = LabStack.none
    @Option(help: "With corosync: run it without netft for comparison: plain (one link on the net1 address) or knet (corosync's own two links). Reported, never failed.")
    var baseline: CorosyncStack.Placement?
    @Flag(help: "Print the results as JSON on standard output.") var json = false
    @Option(help: "Write an HTML report to FILE: the summary table and, per scenario, a timeline of every node's route states and the test stream's gaps.")
    var report: String?
    @Flag(help: "Leave the fabric running; `netft lab show` describes it, `netft lab --down` removes it.") var keep = false
    @Flag(help: "Tear down a lab left by --keep (its logs stay).") var down = false
    @Option(help: "Keep each lab's daemon and corosync logs under DIR/<lab tag>/ (they outlive the lab and --down; a restarted daemon appends).")
    var logs = "/var/log/netft/lab"

    /// Where every lab records itself while it exists (one JSON file each).
    static let records = "/run/netft/labs"

    func validate() throws {
        guard (2...16).contains(nodes) else { throw ValidationError("--nodes must be 2-16") }
        guard (2...4).contains(networks) else { throw ValidationError("--networks must be 2-4") }
        guard (1...500).contains(wanDelayMs) else { throw ValidationError("--wan-delay-ms must be 1-500") }
        if baseline == .netft { throw ValidationError("--baseline takes plain or knet (netft is what --stack corosync runs)") }
        if stack == .none && baseline != nil { throw ValidationError("--baseline needs --stack corosync") }
        for scenario in scenarios where !scenario.applies(to: topology) {
            throw ValidationError("scenario \(scenario.rawValue) needs --topology \(scenario == .interSiteLink ? "sites" : "routed or sites") (a \(topology.rawValue) lab has no \(scenario == .interSiteLink ? "inter-site link" : "router"))")
        }
    }

    func run() throws {
        guard getuid() == 0 else { throw RuntimeFailure("netft lab needs root (network namespaces, XDP, TUN)") }
        if down {
            // Kept labs, and whatever runs that were killed left behind.
            let kept = ClusterFabric.records(in: Lab.records).filter { $0.kept.kept || !ClusterFabric.creatorAlive($0.kept) }
            for (path, lab) in kept { ClusterFabric.tearDown(lab, record: path) }
            let swept = ClusterFabric.sweepLeftovers(records: Lab.records)
            if kept.isEmpty && swept.isEmpty { return print("no kept lab and no leftovers to tear down") }
            return print("torn down: \(kept.count) recorded lab\(kept.count == 1 ? "" : "s"), \(swept.count) leftover namespace\(swept.count == 1 ? "" : "s")")
        }
        let swept = ClusterFabric.sweepLeftovers(records: Lab.records)
        let out = Progress(live: !json && isatty(STDOUT_FILENO) != 0)
        if !swept.isEmpty { out.line("removed \(swept.count) namespaces left by a killed run") }

        var spec = ClusterFabric.Spec()
        spec.nodes = nodes
        spec.networks = networks
        spec.profile = profile
        spec.dataplane = dataplane
        spec.underlay = underlay
        spec.topology = topology
        spec.wanDelayMilliseconds = wanDelayMs
        spec.daemonsOutliveCreator = keep
        spec.recordDirectory = Lab.records
        spec.logRoot = logs
        let runner = try LabRunner(spec: spec, binary: Lab.selfPath(), progress: { out.step($0) })
        // Ctrl-C, SIGTERM, a dropped terminal (SIGHUP) and a closed pipe (SIGPIPE) all tear down.
        nonisolated(unsafe) let fabric = runner.fabric  // tearDown is safe from any thread, once
        Interrupt.install { fabric.tearDown() }
        defer { if !keep { runner.fabric.tearDown() } }

        let unreachable = try runner.bringUp()
        if stack == .corosync || baseline != nil { try runner.startStack(baseline ?? .netft) }
        var results: [ScenarioResult] = []
        for scenario in scenarios.isEmpty ? LabScenario.all(on: topology) : scenarios {
            let result = runner.run(scenario)
            results.append(result)
            out.line("\(result.passed ? "PASS" : "FAIL") \(result.name): \(result.diagnosis)" + (result.failures.isEmpty ? "" : " -- " + result.failures.joined(separator: "; ")))
        }
        let report = LabReport(
            passed: unreachable.isEmpty && results.allSatisfy(\.passed), nodes: nodes, networks: networks, profile: profile.rawValue,
            dataplane: dataplane.rawValue, underlay: underlay.rawValue, topology: topology.rawValue, routes: runner.fabric.routeCount, converge_ms: runner.convergeMilliseconds,
            reachability: unreachable.map { "unreachable: \($0)" },
            stack: runner.stack.map { "corosync " + ["netft": "over netft", "plain": "on plain net1 addresses (no netft)", "knet": "on its own two knet links (no netft)"][$0.placement.rawValue]! },
            scenarios: results)
        out.finish()
        if let path = self.report {
            let page = LabHTMLReport.page(report, generated: ISO8601DateFormatter().string(from: Date()))
            do {
                try page.write(toFile: path, atomically: true, encoding: .utf8)
            } catch {
                throw RuntimeFailure("cannot write the report to \(path): \(error.localizedDescription)")
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            Lab.printSummary(report, elapsed: out.elapsed)
            print("logs: \(runner.fabric.logDirectory)")
            if let path = self.report { print("report: \(path)") }
        }
        if keep {
            let state = runner.fabric.keep()
            if !json {
                print("\nThe lab keeps running. Enter a node and ask its daemon:")
                let n = state.nodes[0]
                print("  netft lab exec \(n.name) -- netft status     # in \(n.namespace); finds the node's daemon by itself")
                print("  netft lab show --json     # every node's namespace, addresses and control socket")
                print("  netft lab --down          # remove it")
            }
        }
        if !report.passed { throw ExitCode(1) }
    }

    /// The newest lab left running by --keep.
    static func loadKept() -> ClusterFabric.Kept? {
        ClusterFabric.records(in: records).map(\.kept).filter(\.kept).last
    }

    static func selfPath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    static func printSummary(_ r: LabReport, elapsed: Double) {
        print("\nnetft lab: \(r.nodes) nodes x \(r.networks) networks (\(r.underlay)\(r.topology == "flat" ? "" : ", \(r.topology)")), \(r.dataplane) dataplane, \(r.profile) profile, \(String(format: "%.1f", elapsed)) s")
        if let converge = r.converge_ms { print("converged: all \(r.routes) routes up \(converge) ms after the first daemon started") }
        if let stack = r.stack { print("cluster software: \(stack); RINGS = corosync's new rings during the scenario") }
        for u in r.reachability { print("  \(u)") }
        Table.print(
            ["SCENARIO", "RESULT", "DETECT ms", "RECOVER ms", "LOST", "RESENT", "RINGS", "KNET DOWN", "DIAGNOSIS"],
            r.scenarios.map { s in
                [s.name, s.passed ? "pass" : "FAIL", s.detect_ms.map(String.init) ?? "-", s.recover_ms.map(String.init) ?? "-",
                 s.lost_packets.map(String.init) ?? "-", s.resent_packets.map(String.init) ?? "-",
                 s.ring_reformations.map(String.init) ?? "-", s.knet_link_downs.map(String.init) ?? "-", s.diagnosis]
            })
        print(r.passed ? "all scenarios passed" : "some scenarios FAILED")
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Describe a lab left running by --keep.",
            discussion: """
                A table of every node: namespace, virtual addresses, control socket, log,
                then the configuration and the log directory (kept after --down).
                `netft lab --json show` (or `netft lab show --json`) prints it as JSON,
                with each node's log file. Exit status 1 when no kept lab exists.
                """)
        // `--json` after `show` is parsed as the lab's own flag.
        @ParentCommand var lab: Lab

        func run() throws {
            guard let kept = Lab.loadKept() else { throw RuntimeFailure("no kept lab: run `netft lab --keep` first") }
            if lab.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                return print(String(decoding: try encoder.encode(kept), as: UTF8.self))
            }
            Table.print(["NODE", "NAMESPACE", "VIRTUAL IPv4", "VIRTUAL IPv6", "CONTROL", "LOG"], kept.nodes.map {
                [$0.name, $0.namespace, $0.virtual_ipv4, $0.virtual_ipv6, $0.control_socket, $0.log]
            })
            print("configuration: \(kept.config)")
            if let logs = kept.logs { print("logs: \(logs) (kept after `netft lab --down`)") }
        }
    }
}

/// A runtime problem (not a usage mistake): printed as one line, exit status 1, no usage text.
struct RuntimeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The live progress line on a terminal; plain lines otherwise.
final class Progress: @unchecked Sendable {
    let live: Bool
    let start = Date()
    init(live: Bool) { self.live = live }
    var elapsed: Double { Date().timeIntervalSince(start) }

    func step(_ text: String) {
        let stamp = String(format: "[%6.1fs]", elapsed)
        if live {
            FileHandle.standardOutput.write(Data("\r\u{1B}[K\(stamp) \(text)".utf8))
        } else {
            FileHandle.standardError.write(Data("\(stamp) \(text)\n".utf8))
        }
    }

    func line(_ text: String) {
        if live { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        FileHandle.standardError.write(Data(String(format: "[%6.1fs] ", elapsed).utf8 + Data("\(text)\n".utf8)))
    }

    func finish() { if live { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) } }
}

/// SIGINT, SIGTERM, SIGHUP, SIGPIPE: run the teardown, then exit 128 + the
/// signal. The handler only writes the signal number to a pipe (all a signal
/// handler may safely do); a thread of its own reads it and tears down.
enum Interrupt {
    nonisolated(unsafe) static var pipeIn: Int32 = -1
    static func install(_ teardown: @escaping @Sendable () -> Void) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return }
        pipeIn = ends[1]
        let out = ends[0]
        Thread {
            var signal: Int32 = 0
            guard read(out, &signal, 4) == 4 else { return }
            teardown()
            _exit(128 + signal)
        }.start()
        // A parent may have started us with these blocked (the mask is inherited): unblock them.
        var wanted = sigset_t()
        sigemptyset(&wanted)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&wanted, sig) }
        pthread_sigmask(SIG_UNBLOCK, &wanted, nil)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] {
            signal(sig) { s in
                var number = s
                _ = write(Interrupt.pipeIn, &number, 4)
            }
        }
    }
}
