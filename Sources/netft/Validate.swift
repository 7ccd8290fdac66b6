import ArgumentParser
import Foundation
import NetFTCore
import NetFTDaemon

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate this node's cluster networks before going live (or while live).",
        discussion: """
            The counterpart of the Windows cluster network validation, for one node's
            view: at least two cluster networks (one is a single point of failure), the
            NIC holding this node's address on each network up with carrier, no two NICs
            in one cluster subnet, XDP support per NIC (native or generic; AF_XDP
            zero-copy or copy), host nftables rules or policies that drop the netft port,
            and per route (this node's address to each peer's on the same network): UDP
            reachability in both directions, round-trip time against the heartbeat delay,
            and matching MTUs (both ends' NIC MTU, and full-size probes with DF set).

            Before going live, run it on every node at the same time: each run probes the
            others for --duration seconds (up to twice as long while a peer has not
            answered yet, as when its run starts late) and answers their probes, then
            goes on answering for half of --duration, so runs that start apart still meet. With the daemon
            running it cannot bind the port, so reachability comes from the daemon's
            routes instead.

            Prints a table (or --json), writes --html FILE. Exit status: 0 no check
            failed (warnings allowed), 1 a check failed or validation could not run,
            2 the configuration is refused (file, line and reason printed).
            """
    )

    @Option(name: .shortAndLong, help: "The cluster configuration (YAML). Default: $NETFT_CONFIG (set by `netft lab exec`), else /etc/netft/netft.yaml.")
    var config: String?
    @Option(help: "This node's name (default: the node owning one of this host's addresses).") var node: String?
    @Option(help: "Seconds to probe and answer the peers' probes (longer while a peer is silent; then half as long answering only).") var duration = 3.0
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "Also write the report as an HTML page to this file.") var html: String?

    func validate() throws {
        guard duration >= 0.5 && duration <= 600 else { throw ValidationError("--duration must be between 0.5 and 600 seconds") }
    }

    func run() throws {
        let report: ValidationReport
        do {
            let path = config ?? ProcessInfo.processInfo.environment["NETFT_CONFIG"] ?? "/etc/netft/netft.yaml"
            report = try NetworkValidation.run(configPath: path, node: node, milliseconds: Int(duration * 1000))
        } catch {
            FileHandle.standardError.write(Data("netft: \(error)\n".utf8))
            if case .configuration = error { throw ExitCode(2) }
            throw ExitCode(1)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("validation of \(report.node) in cluster \(report.cluster) (reachability from \(report.mode))")
            Table.print(["VERDICT", "CHECK", "SUBJECT", "DETAIL"], report.checks.map { [$0.verdict.rawValue.uppercased(), $0.check, $0.subject, $0.detail] })
            print("\(report.verdict.rawValue): \(report.count(.pass)) pass, \(report.count(.warning)) warning, \(report.count(.fail)) fail")
        }
        if let html {
            let page = ValidationHTML.page([report], generated: ISO8601DateFormatter().string(from: Date()))
            do {
                try page.write(toFile: html, atomically: true, encoding: .utf8)
            } catch {
                throw RuntimeFailure("cannot write \(html): \(error.localizedDescription)")
            }
        }
        if report.verdict == .fail { throw ExitCode(1) }
    }
}
