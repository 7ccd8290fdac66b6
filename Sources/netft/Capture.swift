import ArgumentParser
import Foundation
import NetFTDaemon
import NetFTDataplane

struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write this node's netft traffic to a pcapng file (libpcap).",
        discussion: """
            Captures on the node's cluster NICs (asked of this network namespace's daemon,
            or given with --interface), filtered to the netft UDP port, and with --adapter
            the virtual adapter too (the inner packets), all in one pcapng file with each
            frame tagged by interface. Stops after --count frames, --duration seconds, or
            Ctrl-C, and prints what it wrote per frame type.

            Read it with the dissector (installed as /usr/local/share/netft/netft.lua,
            in the repository as dist/netft.lua):
              tshark -X lua_script:/usr/local/share/netft/netft.lua -r node1.pcapng
            It shows every header field (type, route, sequence, ack, ...), the route
            reports, and the inner IP packet of data frames that are not encrypted.

            On the xdp dataplane, frames the AF_XDP sockets carry bypass the kernel's
            packet taps: a capture on the node holds only what the kernel socket carries
            (heartbeats, replies and hellos received, replies sent). The command says so;
            for every frame, run the daemon with --dataplane udp or capture on the far
            side of the link (in the lab: the switch namespace's port).
            """
    )

    @Option(name: [.customShort("w"), .long], help: "The pcapng file to write (mode 0600: it holds cluster traffic).") var write: String
    @Option(name: [.short, .customLong("interface")], help: "Capture this interface (repeatable). Default: the daemon's cluster NICs.")
    var interfaces: [String] = []
    @Flag(help: "Also capture the virtual adapter: the inner packets, before sealing and after opening.") var adapter = false
    @Option(help: "The netft UDP port. Default: the daemon's, else 3343.") var port: UInt16?
    @Option(name: .shortAndLong, help: "Stop after this many frames.") var count: Int?
    @Option(help: "Stop after this many seconds.") var duration: Double?
    @Option(help: "The daemon's control socket (see netft status --help). Default: the daemon of this network namespace.") var control: String?

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be more than 0 seconds") }
    }

    func run() throws {
        let daemon = try? askDaemon()
        if interfaces.isEmpty && daemon == nil {
            throw RuntimeFailure("no netft daemon answers in this network namespace to name its NICs: give them with --interface (e.g. -i eth0 -i eth1)")
        }
        let nics = interfaces.isEmpty ? daemon!.links.map(\.name) : interfaces
        let udpPort = port ?? daemon?.udpPort ?? 3343
        var sources = nics.map { CaptureRecorder.Source(interface: $0, filter: "udp port \(udpPort)", description: "netft underlay") }
        if adapter {
            guard let name = daemon?.adapter else { throw RuntimeFailure("--adapter needs the daemon, to name its virtual adapter") }
            sources.append(CaptureRecorder.Source(interface: name, filter: nil, description: "netft virtual adapter (inner packets)"))
        }
        for link in daemon?.links ?? [] where link.path == "af_xdp" && nics.contains(link.name) {
            warn("\(link.name) carries frames by AF_XDP, which bypasses the kernel's packet taps: this capture holds only what its kernel socket carries (heartbeats, replies and hellos received, replies sent), not data, acks or the requests sent by AF_XDP. For every frame, run the daemon with --dataplane udp or capture on the far side of the link.")
        }
        let recorder: CaptureRecorder
        do {
            recorder = try CaptureRecorder(sources: sources, output: write, application: NetFT.version)
        } catch {
            throw RuntimeFailure("\(error)")
        }
        warn("capturing on \(sources.map(\.interface).joined(separator: ", ")) (udp port \(udpPort)) into \(write)\(count == nil && duration == nil ? "; Ctrl-C stops" : "")")
        let limits = CaptureRecorder.Limits(frames: count, milliseconds: duration.map { Int($0 * 1000) })
        let summary: CaptureRecorder.Summary
        do {
            summary = try recorder.record(limits)
        } catch {
            throw RuntimeFailure("\(error)")
        }
        print("wrote \(summary.frames) frames (\(summary.bytes) bytes) to \(write)")
        for (name, frames) in summary.perType.sorted(by: { $0.key < $1.key }) { print("  \(name): \(frames)") }
        for (name, frames) in summary.perInterface.sorted(by: { $0.key < $1.key }) { print("  on \(name): \(frames)") }
    }

    private struct DaemonFacts {
        var links: [(name: String, path: String)]
        var adapter: String
        var udpPort: UInt16?
    }

    private func askDaemon() throws -> DaemonFacts {
        let data = try control.map { try ControlClient.ask("status", path: $0) } ?? ControlClient.askLocal("status")
        let status = try NodeStatus.decode(data)
        return DaemonFacts(links: status.links.map { ($0.name, $0.path) }, adapter: status.adapter, udpPort: status.udp_port)
    }

    private func warn(_ line: String) { FileHandle.standardError.write(Data("netft: \(line)\n".utf8)) }
}
