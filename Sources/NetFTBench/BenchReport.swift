import Foundation
import NetFTFabric

/// The benchmark's results: a stable JSON interface for other harnesses
/// (docs/BENCHMARKS.md), plus Markdown and an SVG chart.
public struct BenchReport: Codable, Sendable {
    public struct Machine: Codable, Sendable {
        public var kernel: String
        public var cpu_count: Int
        public var cpu_model: String
    }

    public struct Figure: Codable, Sendable {
        public var name: String
        public var unit: String
        public var runs: [Double]
        public var min: Double
        public var median: Double
        public var max: Double
        /// Why this figure does not measure what its name says (nil: it does).
        public var invalid: String?

        public init(name: String, unit: String, runs: [Double]) {
            self.name = name
            self.unit = unit
            self.runs = runs
            let sorted = runs.sorted()
            min = sorted.first ?? 0
            max = sorted.last ?? 0
            median = sorted.isEmpty ? 0 : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
    }

    public var machine: Machine
    public var netft_version: String
    public var quick: Bool
    public var notes: [String]
    public var results: [Figure]

    public func figure(_ name: String) -> Figure? { results.first { $0.name == name } }

    static func currentMachine() -> Machine {
        var info = utsname()
        uname(&info)
        let kernel = withUnsafeBytes(of: info.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }.map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? "unknown"
        return Machine(kernel: kernel, cpu_count: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), cpu_model: model)
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    func ratio(_ a: String, _ b: String) -> String {
        guard let x = figure(a)?.median, let y = figure(b)?.median, y > 0 else { return "-" }
        return String(format: "%.2f", x / y)
    }

    public func markdown() -> String {
        var out = "Machine: \(machine.cpu_count) x \(machine.cpu_model), Linux \(machine.kernel); netft \(netft_version)\(quick ? " (--quick)" : "").\n\n"
        out += "| figure | unit | min | median | max | runs |\n|---|---|---:|---:|---:|---:|\n"
        for f in results {
            let name = f.invalid.map { "`\(f.name)` **invalid: \($0)**" } ?? "`\(f.name)`"
            out += "| \(name) | \(f.unit) | \(Self.format(f.min)) | \(Self.format(f.median)) | \(Self.format(f.max)) | \(f.runs.count) |\n"
        }
        out += "\nRatios of medians, same run:\n\n| ratio | value |\n|---|---:|\n"
        for size in ["64", "1400"] {
            out += "| pps \(size) B xdp / udp | \(ratio("throughput.pps.\(size).xdp", "throughput.pps.\(size).udp")) |\n"
            out += "| pps \(size) B xdp / veth | \(ratio("throughput.pps.\(size).xdp", "throughput.pps.\(size).veth")) |\n"
        }
        out += "| TCP xdp / udp | \(ratio("throughput.tcp_gbps.xdp", "throughput.tcp_gbps.udp")) |\n"
        out += "| TCP xdp / veth | \(ratio("throughput.tcp_gbps.xdp", "throughput.tcp_gbps.veth")) |\n"
        out += "| TCP encrypt / sign (xdp) | \(ratio("throughput.tcp_gbps.xdp.encrypt", "throughput.tcp_gbps.xdp")) |\n"
        let goals = self.goals()
        if !goals.isEmpty {
            out += "\nGoals (ratios of medians in this run):\n\n| goal | value | |\n|---|---:|---|\n"
            for g in goals { out += "| \(g.goal) | \(g.value) | \(g.met ? "met" : "**not met**") |\n" }
        }
        if !notes.isEmpty { out += "\nNotes:\n\n" + notes.map { "- \($0)\n" }.joined() }
        return out
    }

    /// The datapath goals (issue 12), each met or not in this run; a goal
    /// whose figures are missing or invalid is not listed.
    public func goals() -> [(goal: String, value: String, met: Bool)] {
        var out: [(String, String, Bool)] = []
        func median(_ name: String) -> Double? {
            guard let f = figure(name), f.invalid == nil else { return nil }
            return f.median
        }
        func ratioGoal(_ goal: String, _ a: String, _ b: String, atLeast bound: Double) {
            guard let x = median(a), let y = median(b), y > 0 else { return }
            out.append((goal, String(format: "%.2f", x / y), x / y >= bound))
        }
        ratioGoal("TCP xdp >= 25% of plain veth", "throughput.tcp_gbps.xdp", "throughput.tcp_gbps.veth", atLeast: 0.25)
        ratioGoal("TCP udp >= 20% of plain veth", "throughput.tcp_gbps.udp", "throughput.tcp_gbps.veth", atLeast: 0.20)
        ratioGoal("TCP xdp >= udp", "throughput.tcp_gbps.xdp", "throughput.tcp_gbps.udp", atLeast: 1)
        ratioGoal("64 B pps xdp >= udp", "throughput.pps.64.xdp", "throughput.pps.64.udp", atLeast: 1)
        ratioGoal("1400 B pps xdp >= udp", "throughput.pps.1400.xdp", "throughput.pps.1400.udp", atLeast: 1)
        ratioGoal("64 B pps xdp >= 55% of plain veth", "throughput.pps.64.xdp", "throughput.pps.64.veth", atLeast: 0.55)
        ratioGoal("TCP encrypt >= 50% of sign (xdp)", "throughput.tcp_gbps.xdp.encrypt", "throughput.tcp_gbps.xdp", atLeast: 0.5)
        if let empty = median("datapath.fill_ring_empty.tcp.xdp") { out.append(("fill_ring_empty (TCP, xdp) = 0", Self.format(empty), empty == 0)) }
        if let share = median("datapath.kernel_share.tcp.xdp") { out.append(("kernel_share (TCP, xdp) < 0.01", String(format: "%.4f", share), share < 0.01)) }
        for kind in ["xdp", "udp"] {
            if let a = median("hotpath.allocations_per_packet.\(kind)") { out.append(("0 allocations per packet, both daemons (\(kind))", String(format: "%.4f", a), a == 0)) }
        }
        return out
    }

    static func format(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1000 { return String(format: "%.0f", v) }
        if abs(v) >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.3f", v)
    }

    /// A grouped bar chart of the throughput figures, each group scaled to its own maximum.
    public func svg() -> String {
        let groups: [(String, String)] = [("pps 64 B", "throughput.pps.64"), ("pps 1400 B", "throughput.pps.1400"), ("TCP Gbit/s", "throughput.tcp_gbps")]
        let kinds = ["xdp", "udp", "veth"]
        let colors = ["xdp": "#1f77b4", "udp": "#ff7f0e", "veth": "#7f7f7f"]
        let width = 640, height = 320, groupWidth = 200, bar = 50
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<text x=\"10\" y=\"16\" font-size=\"14\">netft throughput, median of runs (bars scaled per group)</text>\n"
        for (g, (title, prefix)) in groups.enumerated() {
            let values = kinds.map { figure("\(prefix).\($0)")?.median ?? 0 }
            let top = values.max() ?? 1
            for (k, kind) in kinds.enumerated() {
                let h = top > 0 ? Int(Double(220) * values[k] / top) : 0
                let x = 20 + g * groupWidth + k * (bar + 8)
                s += "<rect x=\"\(x)\" y=\"\(270 - h)\" width=\"\(bar)\" height=\"\(h)\" fill=\"\(colors[kind]!)\"/>\n"
                s += "<text x=\"\(x + bar / 2)\" y=\"\(265 - h)\" text-anchor=\"middle\">\(Self.format(values[k]))</text>\n"
                s += "<text x=\"\(x + bar / 2)\" y=\"285\" text-anchor=\"middle\">\(kind)</text>\n"
            }
            s += "<text x=\"\(20 + g * groupWidth + 80)\" y=\"305\" text-anchor=\"middle\" font-size=\"12\">\(title)</text>\n"
        }
        return s + "</svg>\n"
    }
}
