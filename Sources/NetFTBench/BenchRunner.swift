import Foundation
import Glibc
import Histogram
import NetFTCore
import NetFTFabric
import NetFTLab
import NetFTDataplane

/// `netft bench`: every figure measured side by side in one run, on lab
/// fabrics with daemons as in production, nothing mocked.
public final class BenchRunner {
    public struct Options: Sendable {
        public var quick = false
        public var runs = 5
        public var failoverCuts = 20
        public var saturatedSeconds = 60.0
        public var mallocCounter: String?
        /// Which groups to measure: throughput (with latency, allocations and saturation), failover, heartbeat.
        public var groups: Set<String> = BenchRunner.allGroups
        /// Route counts the heartbeat group measures.
        public var heartbeatRoutes = [10, 100, 1000, 4000]
        public init() {}
    }

    public static let allGroups: Set<String> = ["throughput", "failover", "heartbeat", "convergence"]
    let options: Options
    let binary: String
    let progress: (String) -> Void
    var figures: [BenchReport.Figure] = []
    var notes: [String] = []
    var seconds: Double { options.quick ? 0.4 : 2 }
    var latencySamples: Int { options.quick ? 200 : 20_000 }

    public init(options: Options, binary: String, progress: @escaping (String) -> Void) {
        self.options = options
        self.binary = binary
        self.progress = progress
    }

    func add(_ name: String, _ unit: String, _ runs: [Double]) {
        figures.append(BenchReport.Figure(name: name, unit: unit, runs: runs))
    }

    func repeated(_ label: String, _ body: () throws -> Double) rethrows -> [Double] {
        var runs: [Double] = []
        for i in 0..<options.runs {
            progress("\(label) (run \(i + 1)/\(options.runs))")
            runs.append(try body())
        }
        return runs
    }

    public func run() throws -> BenchReport {
        var peak64: [String: Double] = [:]
        for dataplane in [DataplaneKind.xdp, .udp] where options.groups.contains("throughput") {
            var spec = ClusterFabric.Spec()
            spec.dataplane = dataplane
            spec.preload = options.mallocCounter
            progress("building a 2-node fabric with the \(dataplane.rawValue) dataplane")
            let fabric = try ClusterFabric.up(spec, binary: binary, tag: "bench", seconds: 20)
            defer { fabric.tearDown() }
            let a = fabric.node("node1"), b = fabric.node("node2")
            // The ceiling is the same veths and bridge with no tunnel, measured
            // where no XDP program is attached (XDP on a veth turns off its GRO/TSO).
            let kinds: [(String, IPAddress)] = dataplane == .xdp
                ? [("xdp", b.virtualIPv4)]
                : [("udp", b.virtualIPv4), ("veth", fabric.address(network: 0, node: 1))]
            for (kind, target) in kinds {
                let tunnel = kind != "veth"
                let mallocsBefore = allocations(fabric)
                for size in [64, 1400] {
                    let before = fabric.pathCounters()
                    let runs = try repeated("\(kind): UDP \(size) B packets/s") {
                        try LoadGenerators.udpPPS(from: a.namespace, to: b.namespace, address: target, payload: size, seconds: seconds)
                    }
                    add("throughput.pps.\(size).\(kind)", "packets/s", runs)
                    if size == 64 {
                        peak64[kind] = BenchReport.Figure(name: "", unit: "", runs: runs).median
                        if tunnel { pathFigures(fabric.pathCounters().since(before), run: "pps64", kind: kind, throughput: "throughput.pps.64.\(kind)") }
                    }
                }
                let before = fabric.pathCounters()
                add("throughput.tcp_gbps.\(kind)", "Gbit/s", try repeated("\(kind): TCP Gbit/s") {
                    try LoadGenerators.tcpGbps(from: a.namespace, to: b.namespace, address: target, seconds: seconds)
                })
                if tunnel {
                    pathFigures(fabric.pathCounters().since(before), run: "tcp", kind: kind, throughput: "throughput.tcp_gbps.\(kind)")
                    // Both daemons, sender and receiver, every packet of the UDP and TCP runs.
                    if let m0 = mallocsBefore, let m1 = allocations(fabric), m1.packets > m0.packets {
                        add("hotpath.allocations_per_packet.\(kind)", "allocations/packet", [Double(m1.mallocs - m0.mallocs) / Double(m1.packets - m0.packets)])
                    }
                }
                try latency(kind: kind, fabric: fabric, target: target, peak: peak64[kind] ?? 0)
            }
            if dataplane == .xdp { try saturated(fabric) }
        }
        if options.groups.contains("throughput") { try encryptedTCP() }
        for profile in [ClusterConfig.Profile.fast, .default] where options.groups.contains("failover") {
            try failover(profile, lossless: false)
            try failover(profile, lossless: true)
        }
        for routes in options.heartbeatRoutes where options.groups.contains("heartbeat") {
            // Symmetric, as in production: every peer requests too. At 1000
            // routes also answer-only, the figure earlier runs published.
            for symmetric in routes == 1000 ? [true, false] : [true] {
                var runs: [Double] = []
                var rates: [Double] = []
                for i in 0..<(options.quick ? 1 : 3) {
                    progress("heartbeat cost: \(routes) routes at Delay 1000 ms, \(symmetric ? "symmetric" : "answer-only") (run \(i + 1))")
                    let bench = try HeartbeatCost(peers: routes / 2, binary: binary, symmetric: symmetric)
                    defer { bench.tearDown() }
                    let m = try bench.measure(seconds: options.quick ? 3 : 10)
                    runs.append(m.cpuPercent)
                    rates.append(m.controlFramesPerSecond)
                }
                let suffix = symmetric ? "" : ".answer_only"
                add("heartbeat.cpu_percent.routes_\(routes)\(suffix)", "% of one core", runs)
                add("heartbeat.control_frames_per_s.routes_\(routes)\(suffix)", "frames/s into the node", rates)
            }
        }
        for dataplane in [DataplaneKind.xdp, .udp] where options.groups.contains("convergence") {
            let runs = try repeated("convergence: 16 nodes x 3 networks, \(dataplane.rawValue) dataplane, first start to all 720 routes up") {
                try converge(nodes: 16, networks: 3, dataplane: dataplane)
            }
            add("lab.converge_ms.nodes_16" + (dataplane == .xdp ? "" : "_udp"), "ms", runs)
        }
        if options.quick { notes.append("--quick: \(latencySamples) latency samples per run, too few for a p99.9 (which needs 20,000): not reported") }
        notes.append("CPU instructions per packet: `perf stat -e instructions` reports <not supported> on this VM; not measured.")
        if options.mallocCounter == nil { notes.append("allocations per packet not measured: libNetFTMallocCounter.so was not found beside netft") }
        return BenchReport(machine: BenchReport.currentMachine(), netft_version: "0.1.0", quick: options.quick, notes: notes, results: figures)
    }

    /// Milliseconds from the first daemon's start until every route of a fresh lab is up.
    func converge(nodes: Int, networks: Int, dataplane: DataplaneKind) throws -> Double {
        var spec = ClusterFabric.Spec()
        spec.nodes = nodes
        spec.networks = networks
        spec.dataplane = dataplane
        let runner = try LabRunner(spec: spec, binary: binary, progress: { _ in })
        defer { runner.fabric.tearDown() }
        let unreachable = try runner.bringUp()
        guard unreachable.isEmpty, let ms = runner.convergeMilliseconds else { throw LabError("the \(nodes)-node lab did not converge: \(unreachable)") }
        return Double(ms)
    }

    /// Heap allocations and packets handled on the packet path, summed over every daemon (nil: no malloc counter).
    func allocations(_ fabric: ClusterFabric) -> (mallocs: Int, packets: Int)? {
        var total = (mallocs: 0, packets: 0)
        for n in fabric.nodes {
            guard let s = fabric.status(n.name), let m = s.hot_path_mallocs.map(Int.init), let p = s.hot_path_packets.map(Int.init) else { return nil }
            total.mallocs += m
            total.packets += p
        }
        return total
    }

    /// What the counters of both daemons say about a run: which path the data
    /// took and what the offloads did. An xdp figure whose data mostly took
    /// the kernel socket is not an xdp figure: it is marked invalid.
    func pathFigures(_ c: PathCounters, run: String, kind: String, throughput: String) {
        add("datapath.segments_per_read.\(run).\(kind)", "segments/read", [c.segmentsPerRead])
        add("datapath.segments_per_write.\(run).\(kind)", "segments/write", [c.segmentsPerWrite])
        if kind == "xdp" {
            add("datapath.kernel_share.\(run).xdp", "ratio", [c.kernelShare])
            add("datapath.fill_ring_empty.\(run).xdp", "frames", [Double(c.fillRingEmpty)])
            add("datapath.xsk_drops.\(run).xdp", "frames", [Double(c.xskDrops + c.txRingFull)])
            if c.kernelShare > 0.05, let i = figures.firstIndex(where: { $0.name == throughput }) {
                figures[i].invalid = String(format: "%.1f%% of the data frames took the kernel socket", c.kernelShare * 100)
            }
        } else {
            add("datapath.frames_per_receive.\(run).udp", "frames/message", [c.framesPerReceive])
            add("datapath.frames_per_send.\(run).udp", "frames/message", [c.framesPerSend])
        }
    }

    /// TCP through the xdp tunnel with `security: encrypt`, beside the signed figure.
    func encryptedTCP() throws {
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        spec.security = .encrypt
        progress("building a 2-node fabric with the xdp dataplane, security: encrypt")
        let fabric = try ClusterFabric.up(spec, binary: binary, tag: "benc", seconds: 20)
        defer { fabric.tearDown() }
        let a = fabric.node("node1"), b = fabric.node("node2")
        add("throughput.tcp_gbps.xdp.encrypt", "Gbit/s", try repeated("xdp, encrypt: TCP Gbit/s") {
            try LoadGenerators.tcpGbps(from: a.namespace, to: b.namespace, address: b.virtualIPv4, seconds: seconds)
        })
    }

    func latency(kind: String, fabric: ClusterFabric, target: IPAddress, peak: Double) throws {
        let a = fabric.node("node1"), b = fabric.node("node2")
        for (load, rate) in [("low", 0.0), ("half_peak", peak / 2)] {
            var p50: [Double] = [], p99: [Double] = [], p999: [Double] = [], lost: [Double] = []
            for i in 0..<options.runs {
                progress("\(kind): round trip at \(load == "low" ? "low load" : "50% of peak (\(Int(rate)) packets/s)") (run \(i + 1)/\(options.runs))")
                var background: NetworkNamespace.Spawned<Double>?
                if rate > 0 {
                    let duration = Double(latencySamples) * 0.0005 + 1
                    background = NetworkNamespace.spawn(a.namespace) {
                        try LoadGenerators.udpPPS(from: a.namespace, to: b.namespace, address: target, payload: 64, seconds: duration, rate: rate, port: 7400)
                    }
                    usleep(200_000)
                }
                let (samples, missing) = try LoadGenerators.udpRTT(from: a.namespace, to: b.namespace, address: target, samples: latencySamples)
                _ = try background?.join(seconds: 60)
                lost.append(Double(missing))
                var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three)
                for s in samples { histogram.record(s) }
                p50.append(Double(histogram.valueAtPercentile(50)) / 1000)
                p99.append(Double(histogram.valueAtPercentile(99)) / 1000)
                p999.append(Double(histogram.valueAtPercentile(99.9)) / 1000)
            }
            add("latency.rtt_us.p50.\(load).\(kind)", "µs", p50)
            add("latency.rtt_us.p99.\(load).\(kind)", "µs", p99)
            // A p99.9 needs 20,000 samples behind it; a quick run does not report one.
            if latencySamples >= 20_000 { add("latency.rtt_us.p99_9.\(load).\(kind)", "µs", p999) }
            add("latency.lost_probes.\(load).\(kind)", "probes", lost)
        }
    }

    /// The tunnel saturated (64 B packets as fast as they go): heartbeats must keep flowing.
    func saturated(_ fabric: ClusterFabric) throws {
        let a = fabric.node("node1"), b = fabric.node("node2")
        let downsBefore = fabric.nodes.map { fabric.routeDowns($0.name).count }.reduce(0, +)
        progress("xdp: tunnel saturated for \(Int(options.saturatedSeconds)) s: watching heartbeats")
        let pps = try LoadGenerators.udpPPS(from: a.namespace, to: b.namespace, address: b.virtualIPv4, payload: 64, seconds: options.saturatedSeconds, port: 7500)
        let downs = fabric.nodes.map { fabric.routeDowns($0.name).count }.reduce(0, +) - downsBefore
        let loss = fabric.routes("node1").map(\.loss).max() ?? 0
        add("heartbeat.saturated.false_failovers", "route downs", [Double(downs)])
        add("heartbeat.saturated.loss_ratio_max", "ratio", [loss])
        add("heartbeat.saturated.tunnel_pps", "packets/s", [pps])
    }

    /// Silent path failures (a switch dropping node1's frames on the active
    /// network) cut again and again: time to detect, until traffic flows, lost.
    func failover(_ profile: ClusterConfig.Profile, lossless: Bool) throws {
        var spec = ClusterFabric.Spec()
        spec.profile = profile
        spec.losslessFailover = lossless
        spec.dataplane = .xdp
        progress("failover (\(profile.rawValue) profile\(lossless ? ", lossless" : "")): building the fabric")
        let fabric = try ClusterFabric.up(spec, binary: binary, tag: "fail", seconds: 20)
        defer { fabric.tearDown() }
        let b = fabric.node("node2")
        let stream = try TrafficStream(from: fabric.node("node1").namespace, to: b.namespace, address: b.virtualIPv4)
        defer { stream.stop() }
        var detect: [Double] = [], recover: [Double] = [], lost: [Double] = []
        var undetected = 0
        // The fast profile's cuts are cheap: 50 of them; the Windows profile's take seconds each.
        let cuts = options.quick ? 2 : (profile == .fast ? max(50, options.failoverCuts) : options.failoverCuts)
        // Flap damping holds a restored route back (replies needed double with each
        // recent Down, up to 16 Delays): a cut made before the standby is Up again
        // is total loss, not a failover, so each cut waits for every route.
        let standbyWait: Double = profile == .fast ? 15 : 40
        for i in 0..<cuts {
            guard fabric.waitAllRoutesUp(seconds: standbyWait) else { throw LabError("routes not all up \(Int(standbyWait)) s after cut \(i)") }
            guard let active = fabric.routes("node1").first(where: { $0.active == true }),
                let network = Int(active.network.dropFirst(3)) else { throw LabError("no active route before cut \(i + 1)") }
            let k = network - 1
            progress("failover (\(profile.rawValue)): cut \(i + 1)/\(cuts) on net\(network)")
            let t0 = stream.now
            // Taken before the rule goes in, so the figure never flatters.
            let cutAt = Date()
            try fabric.cutSilently("node1", network: k)
            let detected = fabric.wait(seconds: 15) {
                fabric.routes("node1").first { $0.network == "net\(network)" }?.state == "down"
            }
            // A cut never detected is not left out: it counts as the whole wait.
            detect.append(Date().timeIntervalSince(cutAt) * 1000)
            if !detected { undetected += 1 }
            _ = stream.waitForFlow(after: stream.now, seconds: 5)
            usleep(200_000)
            let w = stream.windowUntilNow(from: t0)
            recover.append(w.longestGap * 1000)
            lost.append(Double(w.lost))
            try fabric.restoreCut(network: k)
        }
        // Lossless failover is the default: its figures carry no suffix.
        let suffix = lossless ? "" : ".without_lossless"
        add("failover.detect_ms.\(profile.rawValue).under_load\(suffix)", "ms", detect)
        add("failover.recover_ms.\(profile.rawValue)\(suffix)", "ms", recover)
        add("failover.lost_packets.\(profile.rawValue)\(suffix)", "packets", lost)
        add("failover.undetected_cuts.\(profile.rawValue)\(suffix)", "cuts", [Double(undetected)])
        if lossless, let bytes = fabric.status("node1")?.datapath["lossless_retention_bytes"] {
            add("failover.retention_bytes_per_node", "bytes", [Double(bytes)])
        }
    }
}
