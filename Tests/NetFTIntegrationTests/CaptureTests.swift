import Foundation
import Glibc
import NetFTDataplane
import NetFTFabric
import NetFTLab
import NetFTTestSupport
import Testing

/// `netft capture` in a node's namespace writes a pcapng that tshark, with
/// dist/netft.lua, decodes: heartbeat requests and replies on every route with
/// rising sequences and replies acknowledging the requests they answer, data
/// frames with the inner ICMP decoded, and the adapter's inner packets.
@Suite("Capture and dissect", .serialized)
struct CaptureTests {
    static let dissector = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("dist/netft.lua").path

    struct Row {
        var interface: String
        var type: Int
        var sender: Int
        var route: String
        var seq: UInt64
        var ack: UInt64
        var icmp: String
    }

    @Test func tsharkReadsTypeRouteSequenceAndAck() throws {
        try requireKernelLab()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark") else { throw Missing(description: "/usr/bin/tshark is missing: run scripts/install-deps.sh") }
        var spec = ClusterFabric.Spec()
        spec.dataplane = .udp  // every frame passes the kernel's packet taps (see netft capture --help)
        let fabric = try upFabric(spec, tag: "cap")
        defer { fabric.tearDown() }
        let node1 = fabric.node("node1"), node2 = fabric.node("node2")
        let file = "\(fabric.workDirectory)/node1.pcapng"

        // Pings cross the tunnel while the capture runs.
        let ping = Process()
        ping.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        ping.arguments = ["--net=\(NetworkNamespace.path(node1.namespace))", "ping", "-c", "30", "-i", "0.05", "-q", "\(node2.virtualIPv4)"]
        ping.standardOutput = FileHandle.nullDevice
        try ping.run()
        let capture = try runNetft(["capture", "-w", file, "--adapter", "--duration", "2"], namespace: node1.namespace)
        ping.waitUntilExit()
        #expect(capture.status == 0, "\(capture.stderr)")
        #expect(capture.stdout.contains("heartbeat_request:") && capture.stdout.contains("data:"), "\(capture.stdout)")
        var info = stat()
        #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o600, "a capture holds cluster traffic: owner only")

        let decoded = try runProgram([
            "/usr/bin/tshark", "-X", "lua_script:\(Self.dissector)", "-r", file, "-T", "fields", "-E", "separator=|",
            "-e", "frame.interface_name", "-e", "netft.type", "-e", "netft.sender", "-e", "netft.route", "-e", "netft.seq", "-e", "netft.ack", "-e", "icmp.type",
        ])
        #expect(decoded.status == 0 && !decoded.stderr.contains("Lua: Error"), "\(decoded.stderr)")
        let tshark = decoded.stdout
        let rows = tshark.split(separator: "\n").map { line -> Row in
            let c = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init) + Array(repeating: "", count: 7)
            return Row(interface: c[0], type: Int(c[1]) ?? 0, sender: Int(c[2]) ?? 0, route: c[3], seq: UInt64(c[4]) ?? 0, ack: UInt64(c[5]) ?? 0, icmp: c[6])
        }
        let netft = rows.filter { $0.type != 0 }
        #expect(!netft.isEmpty, "tshark decoded no netft frame:\n\(tshark.prefix(2000))")

        // Every route of node1 carries decoded requests and replies.
        let routeIDs = fabric.routes("node1").map { String(format: "0x%08x", $0.id) }
        #expect(routeIDs.count == 2)
        for route in routeIDs {
            let requests = netft.filter { $0.route == route && $0.type == 1 && $0.sender == 1 }
            let replies = netft.filter { $0.route == route && $0.type == 2 && $0.sender == 2 }
            #expect(requests.count >= 10, "route \(route): \(requests.count) requests from node1")
            // A route's sequence rises with every frame its sender sends.
            #expect(zip(requests, requests.dropFirst()).allSatisfy { $0.seq < $1.seq }, "route \(route) sequences: \(requests.map(\.seq))")
            // A reply acknowledges the request it answers (the request may predate the capture).
            let asked = Set(requests.map(\.seq))
            let answered = replies.filter { asked.contains($0.ack) }
            #expect(answered.count >= replies.count - 1 && answered.count >= 10, "route \(route): \(answered.count) of \(replies.count) replies answer a captured request")
        }
        // Data frames with the inner ICMP decoded (signed, not encrypted: readable), and the adapter's inner packets.
        let data = netft.filter { $0.type == 3 }
        #expect(data.contains { $0.sender == 1 && $0.icmp == "8" } && data.contains { $0.sender == 2 && $0.icmp == "0" }, "data frames: \(data.prefix(5))")
        #expect(rows.contains { $0.interface == "netft0" && $0.type == 0 && $0.icmp == "8" }, "no echo request on the adapter")
        #expect(Set(netft.map(\.interface)).count == 2, "both NICs: \(Set(netft.map(\.interface)))")
    }

    /// On the xdp dataplane the capture says what the kernel's taps cannot see,
    /// and still decodes what the kernel socket receives.
    @Test func onTheXDPDataplaneTheCaptureSaysWhatItCannotSee() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "capx")
        defer { fabric.tearDown() }
        let node1 = fabric.node("node1")
        let file = "\(fabric.workDirectory)/node1.pcapng"
        let capture = try runNetft(["capture", "-w", file, "--count", "20", "--duration", "5"], namespace: node1.namespace)
        #expect(capture.status == 0, "\(capture.stderr)")
        #expect(capture.stderr.contains("bypasses the kernel's packet taps"), "\(capture.stderr)")
        #expect(capture.stdout.contains("wrote 20 frames"), "\(capture.stdout)")
        let decoded = try runProgram(["/usr/bin/tshark", "-X", "lua_script:\(Self.dissector)", "-r", file, "-T", "fields", "-e", "netft.sender", "-e", "netft.type"])
        let senders = decoded.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        // What the kernel socket receives: the peer's heartbeat requests and replies.
        #expect(senders.contains { $0 == ["2", "1"] } && senders.contains { $0 == ["2", "2"] }, "\(decoded.stdout.prefix(500))")
    }
}
