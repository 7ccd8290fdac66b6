import Foundation
import NetFTFabric
import Glibc
import NetFTDataplane

/// Real cluster software on the lab: corosync 3 (Debian's, kronosnet
/// transport) in every node namespace, each with a private mount namespace
/// for its runtime files (its pid file and state paths are compiled in).
/// It is never a host service: the lab starts it, and it goes with the lab.
///
/// Placements, so a report shows side by side what netft adds:
/// - `netft`: one knet link on the node's virtual address (netft0): netft is
///   corosync's only redundancy;
/// - `plain`: one knet link on the node's net1 address, no netft under it;
/// - `knet`: corosync's own redundancy, two knet links (net1 and net2 addresses).
public final class CorosyncStack {
    public enum Placement: String, CaseIterable, Sendable { case netft, plain, knet }

    public let placement: Placement
    let fabric: ClusterFabric
    private var processes: [String: Process] = [:]
    /// corosync's own ports (knet links 0 and 1): the lab's firewall drops them too.
    public static let ports = "5405-5412"

    public init(fabric: ClusterFabric, placement: Placement) throws {
        self.fabric = fabric
        self.placement = placement
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/corosync") else {
            throw LabError("corosync is not installed (/usr/sbin/corosync): run scripts/install-deps.sh")
        }
        for node in fabric.nodes { try start(node) }
    }

    deinit { stop() }

    func directory(_ node: ClusterFabric.Node) -> String { "\(fabric.logDirectory)/corosync/\(node.name)" }
    public func logPath(_ node: ClusterFabric.Node) -> String { "\(directory(node))/corosync.log" }

    /// token 1000 ms with token_coefficient 0: corosync's fast setting (its
    /// knet links ping every 250 ms and go down after 500 ms of silence).
    func configuration(for node: ClusterFabric.Node) -> String {
        var nodes = ""
        for (i, n) in fabric.nodes.enumerated() {
            let rings: [String]
            switch placement {
            case .netft: rings = ["\(n.virtualIPv4)"]
            case .plain: rings = ["\(fabric.address(network: 0, node: i))"]
            case .knet: rings = ["\(fabric.address(network: 0, node: i))", "\(fabric.address(network: 1, node: i))"]
            }
            nodes += "  node {\n"
            for (k, ring) in rings.enumerated() { nodes += "    ring\(k)_addr: \(ring)\n" }
            nodes += "    nodeid: \(n.id)\n    name: \(n.name)\n  }\n"
        }
        return """
            totem {
              version: 2
              cluster_name: netftlab
              transport: knet
              token: 1000
              token_coefficient: 0
              crypto_cipher: none
              crypto_hash: none
            }
            nodelist {
            \(nodes)}
            quorum {
              provider: corosync_votequorum
            }
            logging {
              to_logfile: yes
              logfile: \(logPath(node))
              to_stderr: no
              to_syslog: no
              timestamp: hires
            }

            """
    }

    private func start(_ node: ClusterFabric.Node) throws {
        try FileManager.default.createDirectory(atPath: directory(node), withIntermediateDirectories: true)
        let config = "\(directory(node))/corosync.conf"
        try configuration(for: node).write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        // Only the network namespace is the node's; the mount namespace is corosync's own.
        process.arguments = [
            "--net=\(NetworkNamespace.path(node.namespace))", "unshare", "--mount", "--propagation", "private", "sh", "-c",
            "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib/corosync && exec /usr/sbin/corosync -f -c \(config)",
        ]
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: { FileManager.default.createFile(atPath: "\(directory(node))/stdout.log", contents: nil); return "\(directory(node))/stdout.log" }()))
        process.standardOutput = out
        process.standardError = out
        try process.run()
        processes[node.name] = process
    }

    public func stop() {
        for (_, p) in processes where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline && processes.values.contains(where: \.isRunning) { usleep(10_000) }
        for (_, p) in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        processes.removeAll()
    }

    func log(_ node: ClusterFabric.Node) -> String { (try? String(contentsOfFile: logPath(node), encoding: .utf8)) ?? "" }

    /// Membership changes (new rings) every node has logged so far.
    public var memberships: Int { fabric.nodes.map { log($0).components(separatedBy: "A new membership").count - 1 }.reduce(0, +) }

    /// knet link downs every node has logged so far.
    public var linkDowns: Int {
        fabric.nodes.map { n in log(n).split(separator: "\n").filter { $0.contains("[KNET") && $0.contains("is down") }.count }.reduce(0, +)
    }

    /// Whether every node's latest quorum line lists every member.
    public var formed: Bool {
        let all = fabric.nodes.count
        return fabric.nodes.allSatisfy { n in
            log(n).split(separator: "\n").last { $0.contains("[QUORUM] Members[") }?.contains("Members[\(all)]:") ?? false
        }
    }

    public func waitFormed(seconds: Double) -> Bool { fabric.wait(seconds: seconds) { formed } }
}
