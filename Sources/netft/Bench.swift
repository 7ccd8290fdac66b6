import ArgumentParser
import Foundation
import Glibc
import NetFTFabric
import NetFTBench
import NetFTLab

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure netft against its own baselines, side by side, in one run.",
        discussion: """
            Builds lab fabrics (namespaces, switches, daemons as in production) and measures,
            each figure repeated (min/median/max):
              throughput  UDP packets/s at 64 and 1400 B, TCP Gbit/s: xdp, udp, plain veth
              latency     UDP round trip p50/p99/p99.9 (HdrHistogram), low load and 50% of peak
              failover    silent path cuts per profile: detect, until traffic flows, lost
              heartbeats  false failovers and heartbeat loss with the tunnel saturated
              hot path    heap allocations per packet (malloc counter preloaded into the daemons)
              heartbeat   CPU of one node at 10, 100, 1000 routes
              convergence 16 nodes x 3 networks: first daemon start to all 720 routes up
            --json writes the stable JSON (docs/BENCHMARKS.md), --markdown a table with the
            xdp/udp and xdp/veth ratios, --plot an SVG chart. Needs root.
            """
    )

    @Flag(help: "CI-sized: short runs, 2 cuts per profile, 3 s of saturation, heartbeat cost up to 1000 routes, no convergence lab (unless --only convergence).") var quick = false
    @Option(help: "Runs per figure (at least 5 for published figures).") var runs = 5
    @Option(help: "Link cuts per heartbeat profile.") var cuts = 20
    @Option(help: "Seconds of saturated tunnel while heartbeats are watched.") var saturate = 60.0
    @Option(help: "Only these groups (repeatable): throughput, failover, heartbeat, convergence. Default: all.") var only: [String] = []
    @Option(name: .customLong("heartbeat-routes"), help: "Route counts the heartbeat group measures (repeatable, even). Default: 10, 100, 1000, 4000.")
    var heartbeatRoutes: [Int] = []
    @Option(help: "Write the results as JSON here.") var json: String?
    @Option(help: "Write a Markdown table here.") var markdown: String?
    @Option(help: "Write an SVG chart of the throughput figures here.") var plot: String?

    func run() throws {
        guard getuid() == 0 else { throw ValidationError("netft bench needs root (network namespaces, XDP, TUN)") }
        ClusterFabric.sweepLeftovers(records: Lab.records)
        var options = BenchRunner.Options()
        options.quick = quick
        options.runs = max(1, runs)
        options.failoverCuts = cuts
        options.saturatedSeconds = quick ? 3 : saturate
        if quick {
            // CI-sized: no 16-node lab (it saturates 2 cores for a minute), no 4000-route rig.
            options.groups.remove("convergence")
            options.heartbeatRoutes = [10, 100, 1000]
        }
        if !heartbeatRoutes.isEmpty {
            guard heartbeatRoutes.allSatisfy({ $0 >= 2 && $0 % 2 == 0 && $0 <= 8000 }) else {
                throw ValidationError("--heartbeat-routes takes even counts from 2 to 8000 (two networks, one route per peer on each)")
            }
            options.heartbeatRoutes = heartbeatRoutes
        }
        if !only.isEmpty {
            let unknown = Set(only).subtracting(BenchRunner.allGroups)
            guard unknown.isEmpty else { throw ValidationError("unknown group \(unknown.sorted().joined(separator: ", ")): choose from \(BenchRunner.allGroups.sorted().joined(separator: ", "))") }
            options.groups = Set(only)
        }
        let counter = URL(fileURLWithPath: Lab.selfPath()).deletingLastPathComponent().appendingPathComponent("libNetFTMallocCounter.so").path
        options.mallocCounter = FileManager.default.fileExists(atPath: counter) ? counter : nil
        let out = Progress(live: isatty(STDOUT_FILENO) != 0)
        let report = try BenchRunner(options: options, binary: Lab.selfPath(), progress: { out.step($0) }).run()
        out.finish()
        if let json { try report.json().write(to: URL(fileURLWithPath: json)) }
        if let markdown { try report.markdown().write(toFile: markdown, atomically: true, encoding: .utf8) }
        if let plot { try report.svg().write(toFile: plot, atomically: true, encoding: .utf8) }
        print(report.markdown())
    }
}
