import Foundation
import Glibc
import NetFTCore
import Testing

@testable import NetFTDaemon

@Suite("Configuration")
struct ConfigLoaderTests {
    static func path(_ name: String) throws -> String {
        try #require(Bundle.module.url(forResource: name, withExtension: "yaml", subdirectory: "Configs")).path
    }

    @Test func theShippedExampleLoads() throws {
        let config = try ConfigLoader.load(path: try Self.path("example"))
        #expect(config.cluster == "prod-cluster" && config.port == 3343 && config.security == .sign)
        #expect(config.networks.map(\.name) == ["cluster-a", "cluster-b"])
        #expect(config.nodes.map(\.id) == [1, 2, 3])
        #expect(config.heartbeat.settings(crossSubnet: false) == HeartbeatSettings(delay: 1000, threshold: 5))
    }

    @Test func theFastClearExampleLoads() throws {
        let config = try ConfigLoader.load(path: try Self.path("fast-clear"))
        #expect(config.security == .none && config.plumbAllCrossSubnetRoutes)
        #expect(config.heartbeat.settings(crossSubnet: false).delay == 20)
        #expect(config.heartbeat.settings(crossSubnet: false).threshold == 5)
        #expect(config.networks[1].priority == 5)
    }

    static let base = """
        cluster: c
        security: none
        networks:
          - {name: a, subnet: 198.18.1.0/24}
          - {name: b, subnet: 198.18.2.0/24}
        nodes:
          - {name: n1, id: 1, addresses: [198.18.1.1, 198.18.2.1]}
          - {name: n2, id: 2, addresses: [198.18.1.2, 198.18.2.2]}
        """

    static let bad: [(String, Int, String)] = [
        ("", 1, "the file is empty"),
        ("cluster: [unclosed", 2, "not valid YAML"),
        ("- just\n- a list", 1, "must be a mapping"),
        (base.replacingOccurrences(of: "cluster: c\n", with: ""), 1, "missing 'cluster'"),
        (base + "\ncolour: blue", 9, "unknown key 'colour'"),
        (base.replacingOccurrences(of: "security: none", with: "security: paranoid"), 2, "security 'paranoid' is not one of none, sign, encrypt"),
        (base.replacingOccurrences(of: "security: none", with: "security: sign"), 1, "needs 'key_file'"),
        (base + "\nport: 70000", 9, "port 70000 is outside 1-65535"),
        (base + "\nport: many", 9, "port must be a whole number"),
        (base + "\nheartbeat: {SameSubnetDelay: 100}", 9, "SameSubnetDelay 100 ms is outside 250-2000 ms"),
        (base + "\nheartbeat: {CrossSubnetThreshold: 500}", 9, "CrossSubnetThreshold 500 is outside 3-120"),
        (base + "\nheartbeat: {profile: turbo}", 9, "profile 'turbo' is not one of default, fast"),
        (base + "\nheartbeat: {Delay: 100}", 9, "unknown key 'Delay' in heartbeat"),
        (base.replacingOccurrences(of: "198.18.2.0/24", with: "198.18.2.0/33"), 5, "subnet '198.18.2.0/33' is not an address/prefix"),
        (base.replacingOccurrences(of: "198.18.2.0/24", with: "198.18.0.0/16"), 5, "overlaps network a"),
        (base.replacingOccurrences(of: "{name: b,", with: "{name: a,"), 5, "network name 'a' is already used on line 4"),
        (base.replacingOccurrences(of: "id: 2,", with: "id: 1,"), 8, "node id 1 is already node n1's"),
        (base.replacingOccurrences(of: "name: n2", with: "name: n1"), 8, "node name 'n1' is used twice"),
        (base.replacingOccurrences(of: "198.18.2.2]", with: "198.18.9.2]"), 8, "address 198.18.9.2 of node n2 is on none of the configured networks"),
        (base.replacingOccurrences(of: "198.18.2.2]", with: "198.18.2.1]"), 8, "also node n1's"),
        (base.replacingOccurrences(of: "198.18.2.2]", with: "198.18.2.x]"), 8, "'198.18.2.x' is not an IPv4 or IPv6 address"),
        (base.replacingOccurrences(of: "  - {name: n2, id: 2, addresses: [198.18.1.2, 198.18.2.2]}", with: ""), 7, "at least two nodes"),
        (base.replacingOccurrences(of: "{name: n2, id: 2,", with: "{name: n2,"), 8, "node n2 needs an 'id'"),
        (base.replacingOccurrences(of: "{name: a, subnet: 198.18.1.0/24}", with: "{name: a, subnet: 198.18.1.0/24, role: backup}"), 4, "role 'backup' is not one of cluster, none"),
        (base + "\nplumb_all_cross_subnet_routes: maybe", 9, "must be true or false"),
        (base.replacingOccurrences(of: "{name: a, subnet: 198.18.1.0/24}", with: "{name: a, subnets: [198.18.1.0/25, 198.18.1.64/26]}"), 4, "subnet 198.18.1.64/26 of network a overlaps its subnet 198.18.1.0/25"),
        (base.replacingOccurrences(of: "{name: a, subnet: 198.18.1.0/24}", with: "{name: a, subnet: 198.18.1.0/24, subnets: [198.18.3.0/24]}"), 4, "'subnet' (one) or 'subnets'"),
        (base.replacingOccurrences(of: "{name: a, subnet: 198.18.1.0/24}", with: "{name: a, subnets: [198.18.1.0/25, 198.18.2.128/25]}"), 5, "overlaps network a (198.18.1.0/25, 198.18.2.128/25)"),
        (base + "\nheartbeat: {FastCrossSubnetDelay: 5}", 9, "FastCrossSubnetDelay 5 ms is outside 10-249 ms"),
    ]

    @Test("bad configurations are refused with the line and reason", arguments: bad.filter { $0.1 > 0 })
    func refused(text: String, line: Int, reason: String) {
        #expect {
            try ConfigLoader.parse(text, file: "test.yaml")
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.file == "test.yaml" && e.line == line && e.reason.contains(reason)
        }
    }

    @Test func atLeastFifteenBadConfigurations() { #expect(Self.bad.filter { $0.1 > 0 }.count >= 15) }

    @Test func aMissingConfigurationSaysWhy() {
        #expect {
            try ConfigLoader.load(path: "/nonexistent/netft-\(getpid()).yaml")
        } throws: { error in
            "\(error)" == "/nonexistent/netft-\(getpid()).yaml:0: cannot read the file: No such file or directory"
        }
    }

    @Test func keyFilesReadableByOthersAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netft-key-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("cluster.key").path
        _ = FileManager.default.createFile(atPath: key, contents: Data("0123456789abcdef0123".utf8), attributes: [.posixPermissions: 0o644])
        #expect {
            try KeyFile.load(path: key, cluster: "c")
        } throws: { error in
            "\(error)".contains("readable by others (mode 644)")
        }
        chmod(key, 0o640)
        #expect {
            try KeyFile.load(path: key, cluster: "c")
        } throws: { error in
            "\(error)".contains("readable by its group (mode 640)")
        }
        chmod(key, 0o600)
        _ = try KeyFile.load(path: key, cluster: "c")
        _ = FileManager.default.createFile(atPath: key, contents: Data("short".utf8), attributes: [.posixPermissions: 0o600])
        #expect(throws: KeyFile.Refused.self) { try KeyFile.load(path: key, cluster: "c") }
    }
}

@Suite("Topology manager")
struct TopologyPlannerTests {
    static func config() throws -> ClusterConfig {
        try ConfigLoader.parse(ConfigLoaderTests.base.replacingOccurrences(of: "nodes:", with: """
            nodes:
              - {name: n3, id: 3, addresses: [198.18.1.3, 198.18.2.3]}
            """))
    }

    @Test func oneRoutePerInterfacePairOnTheSameNetwork() throws {
        let config = try Self.config()
        let me = config.node(named: "n1")!
        let plan = TopologyPlanner.plan(config: config, localNode: me, interfaces: [
            .init(name: "eth0", address: IPAddress("198.18.1.1")!), .init(name: "eth1", address: IPAddress("198.18.2.1")!),
            .init(name: "lo", address: IPAddress("127.0.0.1")!),
        ])
        #expect(plan.routes.count == 4, "2 peers x 2 networks")
        #expect(Set(plan.routes.map(\.peer)) == [2, 3])
        #expect(plan.routes.allSatisfy { !$0.crossSubnet })
        #expect(plan.warnings.isEmpty)
        let r = plan.routes.first { $0.peer == 2 && $0.network == "a" }!
        #expect(r.realLocal.description == "198.18.1.1:~3343~" && r.realRemote.description == "198.18.1.2:~3343~")
        #expect(r.virtualRemote.address == VirtualAddresses.ipv4(cluster: "c", node: 2))
    }

    @Test func twoInterfacesOnOneSubnetAndASingleNetworkAreWarnedAbout() throws {
        let config = try Self.config()
        let plan = TopologyPlanner.plan(config: config, localNode: config.node(named: "n1")!, interfaces: [
            .init(name: "eth0", address: IPAddress("198.18.1.1")!), .init(name: "eth9", address: IPAddress("198.18.1.1")!),
        ])
        #expect(plan.warnings.contains { $0.contains("using eth0, ignoring eth9") })
        #expect(plan.warnings.contains { $0.contains("single point of failure") })
        #expect(plan.routes.allSatisfy { $0.localInterface == "eth0" })
    }

    @Test("a network of two routed subnets: routes between them are cross-subnet, with the cross-subnet settings, at the network's priority")
    func routedSubnetsOfOneNetwork() throws {
        let config = try ConfigLoader.parse("""
            cluster: c
            security: none
            heartbeat: {CrossSubnetDelay: 2000, CrossSubnetThreshold: 20}
            networks:
              - {name: a, subnets: [198.18.1.0/25, 198.18.1.128/25], priority: 100}
              - {name: b, subnet: 198.18.2.0/24, priority: 200}
            nodes:
              - {name: n1, id: 1, addresses: [198.18.1.1, 198.18.2.1]}
              - {name: n2, id: 2, addresses: [198.18.1.130, 198.18.2.2]}
              - {name: n3, id: 3, addresses: [198.18.1.3, 198.18.2.3]}
            """)
        #expect(config.networks[0].label == "a (198.18.1.0/25, 198.18.1.128/25)")
        let plan = TopologyPlanner.plan(config: config, localNode: config.node(named: "n1")!, interfaces: [
            .init(name: "eth0", address: IPAddress("198.18.1.1")!), .init(name: "eth1", address: IPAddress("198.18.2.1")!),
        ])
        #expect(plan.routes.count == 4, "same-network pairs only")
        let across = try #require(plan.routes.first { $0.peer == 2 && $0.network == "a" })
        #expect(across.crossSubnet && across.priority == 100)
        #expect(across.heartbeat.delay == 2000 && across.heartbeat.threshold == 20)
        let inside = try #require(plan.routes.first { $0.peer == 3 && $0.network == "a" })
        #expect(!inside.crossSubnet && inside.heartbeat.delay == 1000)
        #expect(plan.routes.filter { $0.network == "b" }.allSatisfy { !$0.crossSubnet })
    }

    @Test func crossSubnetRoutesOnlyWhenPlumbed() throws {
        var config = try Self.config()
        config.plumbAllCrossSubnetRoutes = true
        let plan = TopologyPlanner.plan(config: config, localNode: config.node(named: "n1")!, interfaces: [
            .init(name: "eth0", address: IPAddress("198.18.1.1")!), .init(name: "eth1", address: IPAddress("198.18.2.1")!),
        ])
        #expect(plan.routes.count == 8)
        #expect(plan.routes.filter(\.crossSubnet).allSatisfy { $0.priority > 1000 })
    }
}
