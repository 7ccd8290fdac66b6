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

    func fetch() throws -> [String: Any] {
        let data = try ask()
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw RuntimeFailure("the daemon answered something that is not JSON")
        }
        if let error = object["error"] as? String { throw RuntimeFailure("the daemon refused: \(error)") }
        return object
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the node: adapter, dataplane, peers, drops.")
    @OptionGroup var options: ControlOptions

    func run() throws {
        if options.json { return print(String(decoding: try options.ask(), as: UTF8.self)) }
        let s = try options.fetch()
        print("node \(s["node"] ?? "?") (id \(s["node_id"] ?? "?")) in cluster \(s["cluster"] ?? "?")")
        print("adapter \(s["adapter"] ?? "?") \(s["virtual_ipv4"] ?? "") \(s["virtual_ipv6"] ?? "") mtu \(s["mtu"] ?? "")")
        print("dataplane \(s["dataplane"] ?? "?")\((s["dataplane_reason"] as? String).map { " (\($0))" } ?? "")")
        let nodes = s["nodes"] as? [[String: Any]] ?? []
        let routes = s["routes"] as? [[String: Any]] ?? []
        print("peers: \(nodes.filter { $0["reachable"] as? Bool == true }.count) of \(nodes.count) reachable; routes: \(routes.filter { $0["state"] as? String == "up" }.count) of \(routes.count) up")
        let drops = (s["drops"] as? [String: Any] ?? [:]).filter { ($0.value as? Int ?? 0) > 0 }
        if !drops.isEmpty { print("drops: " + drops.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) }
        for w in s["warnings"] as? [String] ?? [] { print("warning: \(w)") }
    }
}

struct Routes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every route: state, diagnosis, RTT, loss, traffic.")
    @OptionGroup var options: ControlOptions

    func run() throws {
        let s = try options.fetch()
        let routes = s["routes"] as? [[String: Any]] ?? []
        if options.json { return print(String(decoding: try JSONSerialization.data(withJSONObject: routes, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)) }
        Table.print(
            ["PEER", "NETWORK", "LOCAL", "REMOTE", "STATE", "ACTIVE", "HEARTBEAT", "RTT ms", "LOSS", "TX", "RX", "REASON"],
            routes.map { r in
                [
                    "\(r["peer"] ?? "")", "\(r["network"] ?? "")", "\(r["real_local"] ?? "")", "\(r["real_remote"] ?? "")",
                    "\(r["state"] ?? "")", (r["active"] as? Bool ?? false) ? "*" : "",
                    // Delay x Threshold, and whether the cross-subnet (routed) settings apply.
                    "\(r["delay_ms"] ?? 0)x\(r["threshold"] ?? 0)\((r["cross_subnet"] as? Bool ?? false) ? " routed" : "")",
                    String(format: "%.3f", r["rtt_ms"] as? Double ?? 0), String(format: "%.0f%%", (r["loss"] as? Double ?? 0) * 100),
                    "\(r["frames_sent"] ?? 0)", "\(r["frames_received"] ?? 0)", "\(r["reason"] as? String ?? "")",
                ]
            })
    }
}

struct Nodes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every peer node: reachable, virtual addresses, routes up.")
    @OptionGroup var options: ControlOptions

    func run() throws {
        let s = try options.fetch()
        let nodes = s["nodes"] as? [[String: Any]] ?? []
        if options.json { return print(String(decoding: try JSONSerialization.data(withJSONObject: nodes, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)) }
        Table.print(
            ["NODE", "ID", "REACHABLE", "VIRTUAL IPv4", "VIRTUAL IPv6", "ROUTES UP"],
            nodes.map { n in
                [
                    "\(n["name"] ?? "")", "\(n["id"] ?? "")", (n["reachable"] as? Bool ?? false) ? "yes" : "no",
                    "\(n["virtual_ipv4"] ?? "")", "\(n["virtual_ipv6"] ?? "")", "\(n["routes_up"] ?? 0)/\(n["routes"] ?? 0)",
                ]
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
