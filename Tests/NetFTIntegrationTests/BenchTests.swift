import Foundation
import Glibc
import Testing

/// `netft bench --quick` in CI: every figure is produced (values are for the
/// benchmark, not for tests), in the documented JSON shape.
@Suite("Benchmark harness", .serialized)
struct BenchTests {
    static let expected: [String] = {
        var names: [String] = []
        for kind in ["xdp", "udp", "veth"] {
            names += ["throughput.pps.64.\(kind)", "throughput.pps.1400.\(kind)", "throughput.tcp_gbps.\(kind)"]
            // --quick takes too few samples for a p99.9 (20,000): it is not reported.
            for p in ["p50", "p99"] { names += ["latency.rtt_us.\(p).low.\(kind)", "latency.rtt_us.\(p).half_peak.\(kind)"] }
            names += ["latency.lost_probes.low.\(kind)", "latency.lost_probes.half_peak.\(kind)"]
        }
        names += ["hotpath.allocations_per_packet.xdp", "hotpath.allocations_per_packet.udp", "throughput.tcp_gbps.xdp.encrypt"]
        for run in ["tcp", "pps64"] {
            names += ["datapath.kernel_share.\(run).xdp", "datapath.fill_ring_empty.\(run).xdp"]
            for kind in ["xdp", "udp"] { names += ["datapath.segments_per_read.\(run).\(kind)", "datapath.segments_per_write.\(run).\(kind)"] }
        }
        names += ["heartbeat.saturated.false_failovers", "heartbeat.saturated.loss_ratio_max"]
        for profile in ["fast", "default"] {
            for suffix in ["", ".without_lossless"] {  // lossless failover is the default
                names += [
                    "failover.detect_ms.\(profile).under_load\(suffix)", "failover.recover_ms.\(profile)\(suffix)",
                    "failover.lost_packets.\(profile)\(suffix)", "failover.undetected_cuts.\(profile)\(suffix)",
                ]
            }
        }
        names += ["failover.retention_bytes_per_node"]
        names += ["heartbeat.cpu_percent.routes_10", "heartbeat.cpu_percent.routes_100", "heartbeat.cpu_percent.routes_1000"]
        names += ["heartbeat.cpu_percent.routes_1000.answer_only", "heartbeat.control_frames_per_s.routes_1000"]
        return names
    }()

    @Test func quickBenchProducesEveryFigure() throws {
        try requireKernelLab()
        let dir = "/tmp/netft-bench-test-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: netftBinary)
        process.arguments = ["bench", "--quick", "--runs", "2", "--json", "\(dir)/bench.json", "--markdown", "\(dir)/bench.md", "--plot", "\(dir)/bench.svg"]
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        try process.run()
        let log = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "netft bench failed:\n\(String(decoding: log.suffix(3000), as: UTF8.self))")
        let data = try #require(FileManager.default.contents(atPath: "\(dir)/bench.json"))
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let machine = try #require(report["machine"] as? [String: Any])
        #expect(machine["kernel"] is String && machine["cpu_count"] is Int && machine["cpu_model"] is String)
        #expect(report["netft_version"] is String)
        let results = try #require(report["results"] as? [[String: Any]])
        let names = Set(results.compactMap { $0["name"] as? String })
        for name in Self.expected { #expect(names.contains(name), "figure \(name) missing") }
        for r in results {
            let runs = r["runs"] as? [Double] ?? []
            #expect(!runs.isEmpty && r["unit"] is String && r["min"] is Double && r["median"] is Double && r["max"] is Double, "\(r["name"] ?? "?")")
        }
        #expect((try? String(contentsOfFile: "\(dir)/bench.svg", encoding: .utf8))?.hasPrefix("<svg") == true)
        let markdown = (try? String(contentsOfFile: "\(dir)/bench.md", encoding: .utf8)) ?? ""
        #expect(markdown.contains("xdp / veth") && markdown.contains("Goals"))
        #expect(!names.contains { $0.hasPrefix("latency.rtt_us.p99_9") }, "no p99.9 from a quick run's few samples")
    }
}
