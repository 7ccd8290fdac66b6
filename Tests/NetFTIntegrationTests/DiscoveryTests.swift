import Foundation
import Glibc
import NetFTDaemon
import NetFTFabric
import NetFTLab
import Testing

/// `netft status` inside a node's network namespace finds that node's daemon
/// with no flags (the abstract control socket belongs to the namespace), the
/// peer's credentials stand in for file permissions, and with no daemon the
/// error says so and how to start one.
@Suite("Finding the daemon", .serialized)
struct DiscoveryTests {
    @Test func statusWithNoFlagsReachesTheNodesOwnDaemon() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .udp
        let fabric = try upFabric(spec, tag: "disc")
        defer { fabric.tearDown() }
        var fingerprints: Set<String> = []
        for node in fabric.nodes {
            let result = try runNetft(["status", "--json"], namespace: node.namespace)
            #expect(result.status == 0, "\(result.stderr)")
            let status = try? NodeStatus.decode(Data(result.stdout.utf8))
            // Each namespace answers with its own node: the name is per network namespace.
            #expect(status?.node == node.name, "\(result.stdout.prefix(300))")
            if let fingerprint = status?.key_fingerprint { fingerprints.insert(fingerprint) }
        }
        #expect(fingerprints.count == 1, "every node names the same key: \(fingerprints)")
        let routes = try runNetft(["routes"], namespace: fabric.nodes[0].namespace)
        #expect(routes.status == 0 && routes.stdout.contains("PEER") && routes.stdout.contains("node2"), "\(routes.stdout)\(routes.stderr)")
        // JSON paths are written as paths, not "\/tmp".
        let nodes = try runNetft(["nodes", "--json"], namespace: fabric.nodes[0].namespace)
        #expect(nodes.status == 0 && !nodes.stdout.contains("\\/"), "\(nodes.stdout)")

        // Anyone but root (or the daemon's user) is refused by credentials, with the reason.
        let stranger = try runNetft(["status"], as: 65534, namespace: fabric.nodes[0].namespace)
        #expect(stranger.status == 1, "\(stranger.stdout)\(stranger.stderr)")
        #expect(stranger.stderr.contains("permission denied: uid 65534"), "\(stranger.stderr)")
    }

    @Test func withNoDaemonTheErrorSaysHowToStartOne() throws {
        try requireKernelLab()
        let namespace = "nftdisc\(getpid())"
        try Shell.run(["ip", "netns", "add", namespace])
        defer { try? Shell.run(["ip", "netns", "del", namespace], allowFailure: true) }
        let result = try runNetft(["status"], namespace: namespace)
        #expect(result.status == 1)
        #expect(result.stderr.contains("no netft daemon answers in this network namespace") && result.stderr.contains("netft run --config"), "\(result.stderr)")
        #expect(!result.stderr.contains("USAGE"), "a runtime problem prints no usage: \(result.stderr)")
    }

    @Test func keygenPrintsTheFingerprintTheDaemonShows() throws {
        try requireKernelLab()
        let dir = "/tmp/netft-keygen-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try runNetft(["keygen", "--output", "\(dir)/k"])
        #expect(first.status == 0 && first.stdout.contains("mode 0600), fingerprint "), "\(first.stdout)\(first.stderr)")
        let again = try runNetft(["keygen", "--output", "\(dir)/k"])
        #expect(again.status == 1 && again.stderr.contains("does not replace a key (pass --force to)"), "\(again.stderr)")
        #expect(try runNetft(["keygen", "--output", "\(dir)/k", "--force"]).status == 0)
    }
}
