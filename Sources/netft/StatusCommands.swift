import ArgumentParser
import Foundation
import NetFTDaemon

/// Options shared by status, routes and nodes.
struct ControlOptions: ParsableArguments {
    @Option(help: "The daemon's control socket: a path, or @name in the abstract namespace. Default: the daemon of this network namespace (@netft/control, then /run/netft/netft.sock).")
    var control: String?
    @Flag(help: "Print JSON instead of a table.") var json = false

    func ask(_ request: String = "status") throws -> Data {
        do {
            return try control.map { try ControlClient.ask(request, path: $0) } ?? ControlClient.askLocal(request)
        } catch {
            throw RuntimeFailure("\(error)")
        }
    }

    /// The node's status, decoded as the daemon encodes it.
    func fetch() throws -> NodeStatus { try NodeStatus.decode(try ask()) }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the node: adapter, dataplane, peers, drops.")
    @OptionGroup var options: ControlOptions

    func run() throws {
        if options.json { return print(String(decoding: try options.ask(), as: UTF8.self)) }
        let s = try options.fetch()
        print("node \(s.node) (id \(s.node_id)) in cluster \(s.cluster)")
        print("adapter \(s.adapter) \(s.virtual_ipv4) \(s.virtual_ipv6) mtu \(s.mtu)")
        print("dataplane \(s.dataplane)\(s.dataplane_reason.map { " (\($0))" } ?? "")")
        print("peers: \(s.nodes.filter(\.reachable).count) of \(s.nodes.count) reachable; routes: \(s.routes.filter { $0.state == "up" }.count) of \(s.routes.count) up")
        let drops = s.drops.filter { $0.value > 0 }
        if !drops.isEmpty { print("drops: " + drops.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) }
        for w in s.warnings { print("warning: \(w)") }
    }
}

struct Routes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every route: state, diagnosis, RTT, loss, traffic.")
    @OptionGroup var options: ControlOptions

    func run() throws {
        let routes = try options.fetch().routes
        if options.json { return print(String(decoding: NodeStatus.encode(routes), as: UTF8.self)) }
        Table.print(
            ["PEER", "NETWORK", "LOCAL", "REMOTE", "STATE", "ACTIVE", "HEARTBEAT", "RTT ms", "LOSS", "TX", "RX", "REASON"],
            routes.map { r in
                [
                    r.peer, r.network, r.real_local, r.real_remote, r.state, r.active ? "*" : "",
                    // Delay x Threshold, and whether the cross-subnet (routed) settings apply.
                    "\(r.delay_ms)x\(r.threshold)\(r.cross_subnet ? " routed" : "")",
                    String(format: "%.3f", r.rtt_ms), String(format: "%.0f%%", r.loss * 100), "\(r.frames_sent)", "\(r.frames_received)", r.reason ?? "",
                ]
            })
    }
}

struct Nodes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every peer node: reachable, virtual addresses, routes up.")
    @OptionGroup var options: ControlOptions

    func run() throws {
        let nodes = try options.fetch().nodes
        if options.json { return print(String(decoding: NodeStatus.encode(nodes), as: UTF8.self)) }
        Table.print(
            ["NODE", "ID", "REACHABLE", "VIRTUAL IPv4", "VIRTUAL IPv6", "ROUTES UP"],
            nodes.map { n in
                [n.name, "\(n.id)", n.reachable ? "yes" : "no", n.virtual_ipv4, n.virtual_ipv6, "\(n.routes_up)/\(n.routes)"]
            })
    }
}

enum Table {
    static func print(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        for row in [header] + rows {
            Swift.print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}
