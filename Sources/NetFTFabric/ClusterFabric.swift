import Foundation
import Glibc
import NetFTCore
import NetFTDaemon
import NetFTDataplane
import Synchronization

/// A whole cluster on one machine: a namespace per node, a namespace per
/// network acting as the switch (a bridge), a veth from every node to every
/// switch, addresses in 198.18.0.0/15, a generated configuration and key,
/// and a netft daemon per node. Names are unique per run; `tearDown` (also
/// on deinit) stops the daemons and removes every namespace, pin and file.
public final class ClusterFabric {
    public struct Spec: Sendable {
        public var nodes = 2
        public var networks = 2
        public var profile = ClusterConfig.Profile.fast
        public var dataplane = DataplaneKind.udp
        public var security = SecurityLevel.sign
        /// The physical networks' address family.
        public var underlay = Underlay.ipv4
        /// One segment per network, or two subnets joined by a router.
        public var topology = Topology.flat
        /// Sites: one-way latency of each network's inter-site link.
        public var wanDelayMilliseconds: UInt64 = 10
        /// lossless_failover in the generated configuration.
        public var losslessFailover = true
        /// A library to LD_PRELOAD into every daemon (the bench's malloc counter).
        public var preload: String?
        /// Port for each daemon's Prometheus endpoint on 127.0.0.1 in its namespace (nil: none).
        public var metricsPort: UInt16?
        /// Daemons stop when this process exits (`--stop-with-pid`), unless the
        /// fabric is meant to outlive it (`netft lab --keep`).
        public var daemonsOutliveCreator = false
        /// More `netft run` options for every daemon.
        public var daemonArguments: [String] = []
        /// MTU of every lab link (veths and bridges).
        public var mtu: UInt32 = 1500
        /// Receive and transmit queues of every node's veth (a multi-queue NIC).
        public var queues = 1
        /// Where the fabric records itself while it exists, so `netft lab --down`
        /// finds it even after this process was killed (nil: no record).
        public var recordDirectory: String?
        /// Where daemon and corosync logs go, in a directory per fabric that
        /// outlives its teardown (nil: inside the work directory, removed with it).
        public var logRoot: String?
        public init() {}
    }

    public struct Node: Sendable {
        public var name: String
        public var id: NodeID
        public var namespace: String
        public var interfaces: [(name: String, address: IPAddress)]
        public var controlPath: String
        public var logPath: String
        public var virtualIPv4: IPAddress
        public var virtualIPv6: IPAddress
    }

    public static let prefix = "nft"

    /// Exactly four characters, so the creator's pid after them can be read back.
    public static func label(_ tag: String) -> String { String((tag + "zzzz").prefix(4)) }
    public let spec: Spec
    public let tag: String
    public let workDirectory: String
    public let cluster: String
    public private(set) var nodes: [Node] = []
    /// The switch (bridge namespace) of each network; routed: of its first subnet, where node1 is.
    public internal(set) var switches: [String] = []
    /// Routed: the switch of each network's second subnet.
    public internal(set) var farSwitches: [String] = []
    /// Routed: the router namespace joining each network's two subnets.
    public internal(set) var routers: [String] = []
    /// Sites: the relay namespace of each network's inter-site link.
    public internal(set) var interSiteLinks: [String] = []
    /// Sites: the relay processes of the inter-site links.
    var relays: [Process] = []
    /// Whether any inter-site relay still runs (none may outlive the fabric).
    public var relaysRunning: Bool { relays.contains { $0.isRunning } }
    public let configPath: String
    public let pinRoot: String
    /// Logs of this fabric: kept after teardown when `spec.logRoot` is set.
    public let logDirectory: String
    let binary: String
    private var daemons: [String: Process] = [:]
    private var extraNamespaces: [String] = []
    private var torn = false
    /// The configuration's heartbeat section as last written.
    private var heartbeat = ClusterConfig.Heartbeat()
    /// Network priorities that differ from the default ((k + 1) x 100: net1 preferred).
    private var networkPriorities: [Int: Int] = [:]

    /// Writes the configuration again with network `k`'s priority changed (lower is preferred).
    public func setPriority(network k: Int, _ priority: Int) throws {
        networkPriorities[k] = priority
        try rewriteConfiguration(heartbeat: heartbeat)
    }
    private let tearDownClaim = Mutex(false)

    /// The address family of the lab's physical networks (the tunnel's
    /// outer headers). Network `k` (0-based) is one subnet; node i has host i+1.
    public enum Underlay: String, Sendable, CaseIterable {
        /// 198.18.(k+1).0/24.
        case ipv4
        /// 2001:db8:0:(k+1)::/64, the documentation range, inside the lab's namespaces only.
        case ipv6

        public func address(network k: Int, host: Int) -> IPAddress {
            switch self {
            case .ipv4: .v4(0xC612_0000 | UInt32(k + 1) << 8 | UInt32(host))
            case .ipv6: .v6(0x2001_0DB8_0000_0000 | UInt64(k + 1), UInt64(host))
            }
        }

        public var prefixLength: Int { self == .ipv4 ? 24 : 64 }

        /// Network `k`'s subnet.
        public func subnet(network k: Int) -> ClusterConfig.Subnet { .init(address(network: k, host: 0), prefixLength: prefixLength) }

        /// A routed network splits its subnet in two halves, one bit longer.
        public var halfPrefixLength: Int { prefixLength + 1 }

        /// Host `host` of half `half` (0 or 1) of routed network `k`.
        public func address(network k: Int, half: Int, host: Int) -> IPAddress {
            switch self {
            case .ipv4: .v4(0xC612_0000 | UInt32(k + 1) << 8 | UInt32(half * 128 + host))
            case .ipv6: .v6(0x2001_0DB8_0000_0000 | UInt64(k + 1), UInt64(half) << 63 | UInt64(host))
            }
        }

        /// Half `half` of routed network `k`.
        public func subnet(network k: Int, half: Int) -> ClusterConfig.Subnet { .init(address(network: k, half: half, host: 0), prefixLength: halfPrefixLength) }
    }

    /// Node i's address on network `k` of an IPv4 lab.
    public static func address(network k: Int, node i: Int) -> IPAddress { Underlay.ipv4.address(network: k, host: i + 1) }

    /// Node i's address on network `k` of this lab (routed: in the subnet of its half).
    public func address(network k: Int, node i: Int) -> IPAddress {
        spec.underlay.address(network: k, half: half(ofNode: i), host: i + 1)
    }

    public init(spec: Spec, binary: String, tag: String = "lab") throws {
        self.spec = spec
        self.binary = binary
        // The creator's pid is in every name, so a later run can tell a killed
        // run's leftovers (dead pid) from a fabric still in use.
        let unique = "\(getpid())x\(UInt16.random(in: 0...UInt16.max) % 1000)"
        self.tag = "\(ClusterFabric.prefix)\(ClusterFabric.label(tag))\(unique)"
        cluster = "lab-\(unique)"
        workDirectory = "/tmp/netft-\(self.tag)"
        configPath = "\(workDirectory)/netft.yaml"
        pinRoot = "\(XDPClassifier.defaultPinRoot)/\(self.tag)"
        let tag = self.tag
        logDirectory = spec.logRoot.map { "\($0)/\(tag)" } ?? workDirectory
        do {
            try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            record()
            try build()
            try writeConfiguration()
            record()
        } catch {
            tearDown()
            throw error
        }
    }

    deinit { tearDown() }

    private func build() throws {
        for k in 0..<spec.networks {
            let sw = "\(tag)-sw\(k)"
            switches.append(sw)  // listed first: a failed build still tears it down
            try makeSwitch(sw)
        }
        if spec.topology.isRouted { try buildRouters() }
        for i in 0..<spec.nodes { nodes.append(try makeNode(i)) }
    }

    /// A switch: a namespace holding one bridge, br0.
    func makeSwitch(_ namespace: String) throws {
        try Shell.run(["ip", "netns", "add", namespace])
        try Shell.run(["ip", "-n", namespace, "link", "add", "br0", "mtu", "\(spec.mtu)", "type", "bridge"])
        try Shell.run(["ip", "-n", namespace, "link", "set", "br0", "up"])
        // A switch does not run the IP firewall on what it bridges: where
        // br_netfilter is loaded (a container host), every bridged frame
        // would go through iptables hooks, a cost no real fabric has (and
        // the same for the tunnel and the plain-veth baseline). The lab's
        // own faults are bridge-family nftables rules, which do not need it.
        for family in ["iptables", "ip6tables", "arptables"] {
            try Shell.run(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-\(family)=0"], allowFailure: true)
        }
    }

    /// Node i's namespace, its veths into every switch, its addresses.
    private func makeNode(_ i: Int) throws -> Node {
            let name = "node\(i + 1)"
            let ns = "\(tag)-\(name)"
            try Shell.run(["ip", "netns", "add", ns])
            try Shell.run(["ip", "-n", ns, "link", "set", "lo", "up"])
            if spec.underlay == .ipv6 {
                // Linux flushes a NIC's IPv6 addresses when its link goes down
                // (keep_addr_on_down=0) and nothing here re-adds them, where a
                // server's network manager would: keep them, as such a server does.
                try Shell.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.keep_addr_on_down=1", "net.ipv6.conf.default.keep_addr_on_down=1"])
            }
            var interfaces: [(String, IPAddress)] = []
            for k in 0..<spec.networks {
                let ifname = "eth\(k)"
                let port = "n\(i + 1)"
                let q = ["numtxqueues", "\(spec.queues)", "numrxqueues", "\(spec.queues)"]
                let sw = switchNamespace(network: k, node: i)
                try Shell.run(["ip", "-n", ns, "link", "add", ifname, "mtu", "\(spec.mtu)"] + q + ["type", "veth", "peer", "name", port, "mtu", "\(spec.mtu)"] + q + ["netns", sw])
                try Shell.run(["ip", "-n", sw, "link", "set", port, "master", "br0", "up"])
                let address = address(network: k, node: i)
                try addAddress(address, in: ns, device: ifname)
                try Shell.run(["ip", "-n", ns, "link", "set", ifname, "up"])
                if spec.topology.isRouted { try routeOtherHalf(network: k, node: i, namespace: ns, device: ifname) }
                interfaces.append((ifname, address))
            }
            return Node(
                name: name, id: NodeID(i + 1), namespace: ns, interfaces: interfaces,
                controlPath: "\(workDirectory)/\(name).sock", logPath: "\(logDirectory)/\(name).log",
                virtualIPv4: VirtualAddresses.ipv4(cluster: cluster, node: NodeID(i + 1)),
                virtualIPv6: VirtualAddresses.ipv6(cluster: cluster, node: NodeID(i + 1)))
    }

    /// A new node on every network of the running fabric (no daemon yet):
    /// the configuration file lists it from now on. The running daemons learn
    /// of it when they reload.
    @discardableResult
    public func addNode() throws -> Node {
        let node = try makeNode((nodes.map { Int($0.id) }.max() ?? 0))
        nodes.append(node)
        record()
        try rewriteConfiguration(heartbeat: heartbeat)
        return node
    }

    /// Stops a node's daemon and removes the node: its namespace, and its
    /// entry in the configuration file.
    public func removeNode(_ name: String) throws {
        let node = node(name)
        stop(name)
        Self.stop(Set(Self.processes(in: node.namespace)))
        try Shell.run(["ip", "netns", "del", node.namespace])
        nodes.removeAll { $0.name == name }
        record()
        try rewriteConfiguration(heartbeat: heartbeat)
    }

    private func writeConfiguration() throws {
        _ = try KeyFile.generate(path: "\(workDirectory)/cluster.key", replace: true)
        var heartbeat = ClusterConfig.Heartbeat()
        heartbeat.profile = spec.profile
        try rewriteConfiguration(heartbeat: heartbeat)
    }

    /// How many of the networks the configuration lists (all by default): the
    /// nodes keep their NICs on the others, as hosts have NICs netft does not use.
    public private(set) var configuredNetworks: Int?

    /// Lists only the first `networks` networks (nil: all) and rewrites the configuration.
    public func configure(networks: Int?) throws {
        configuredNetworks = networks
        try rewriteConfiguration(heartbeat: heartbeat)
    }

    /// The configuration every node reads now.
    public var configuration: ClusterConfig {
        var config = ClusterConfig(cluster: cluster)
        config.security = spec.security
        config.keyFile = "\(workDirectory)/cluster.key"
        config.heartbeat = heartbeat
        config.losslessFailover = spec.losslessFailover
        let listed = min(configuredNetworks ?? spec.networks, spec.networks)
        config.networks = (0..<listed).map { k in
            let subnets = spec.topology.isRouted ? [0, 1].map { spec.underlay.subnet(network: k, half: $0) } : [spec.underlay.subnet(network: k)]
            return ClusterConfig.Network(name: "net\(k + 1)", subnets: subnets, priority: networkPriorities[k] ?? (k + 1) * 100)
        }
        config.nodes = nodes.map { ClusterConfig.Node(name: $0.name, id: $0.id, addresses: $0.interfaces.prefix(listed).map(\.address)) }
        return config
    }

    /// Writes the configuration again with other heartbeat settings.
    public func rewriteConfiguration(heartbeat: ClusterConfig.Heartbeat) throws {
        self.heartbeat = heartbeat
        try ConfigWriter.write(configuration, to: configPath)
    }

    /// An IPv6 address skips duplicate address detection: nothing else is on
    /// the lab's switches, and a tentative address cannot be bound for a second.
    func addAddress(_ address: IPAddress, in namespace: String, device: String) throws {
        let v6 = spec.underlay == .ipv6
        let prefix = spec.topology.isRouted ? spec.underlay.halfPrefixLength : spec.underlay.prefixLength
        try Shell.run(["ip", "-n", namespace, "addr", "add", "\(address)/\(prefix)", "dev", device] + (v6 ? ["nodad"] : []))
    }

    public func node(_ name: String) -> Node { nodes.first { $0.name == name }! }

    /// Adds a plain host (no daemon) on network `k` with host number `host`;
    /// returns its namespace. Torn down with the fabric.
    public func addHost(network k: Int, host: UInt8) throws -> (namespace: String, address: IPAddress) {
        let ns = "\(tag)-h\(host)"
        try Shell.run(["ip", "netns", "add", ns])
        extraNamespaces.append(ns)
        try Shell.run(["ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "h\(host)", "netns", switches[k]])
        try Shell.run(["ip", "-n", switches[k], "link", "set", "h\(host)", "master", "br0", "up"])
        let address = spec.underlay.address(network: k, host: Int(host))
        try addAddress(address, in: ns, device: "eth0")
        try Shell.run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        return (ns, address)
    }

    // MARK: Daemons

    public func start(_ name: String, dataplane: DataplaneKind? = nil) throws {
        let node = node(name)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = [
            "--net=\(NetworkNamespace.path(node.namespace))", binary, "run", "--config", configPath, "--node", node.name,
            "--dataplane", (dataplane ?? spec.dataplane).rawValue, "--control", node.controlPath, "--pin-root", "\(pinRoot)/\(node.name)",
        ] + (spec.metricsPort.map { ["--metrics", "127.0.0.1:\($0)"] } ?? [])
            + (spec.daemonsOutliveCreator ? [] : ["--stop-with-pid", "\(getpid())"]) + spec.daemonArguments
        // A restart appends: the log of the run before it is evidence too.
        if !FileManager.default.fileExists(atPath: node.logPath) { _ = FileManager.default.createFile(atPath: node.logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: node.logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        if let preload = spec.preload {
            var environment = ProcessInfo.processInfo.environment
            environment["LD_PRELOAD"] = preload
            process.environment = environment
        }
        try process.run()
        daemons[name] = process
        record()
    }

    public func startAll() throws { for node in nodes { try start(node.name) } }

    /// Builds a fabric, starts every daemon and waits until all routes are up
    /// (at most `seconds`); on failure it is torn down and the error carries
    /// the end of each daemon's log.
    public static func up(_ spec: Spec, binary: String, tag: String, seconds: Double = 15) throws -> ClusterFabric {
        let fabric = try ClusterFabric(spec: spec, binary: binary, tag: tag)
        do {
            try fabric.startAll()
            guard fabric.waitAllRoutesUp(seconds: seconds) else {
                throw LabError("routes did not all come up within \(Int(seconds)) s:\n" + fabric.nodes.map { "--- \($0.name)\n" + fabric.log($0.name).suffix(3000) }.joined(separator: "\n"))
            }
        } catch {
            fabric.tearDown()
            throw error
        }
        return fabric
    }

    /// Stops a daemon with `signal` and waits for it (SIGKILL after `seconds`).
    @discardableResult
    public func stop(_ name: String, signal: Int32 = SIGTERM, seconds: Double = 5) -> Int32? {
        guard let process = daemons.removeValue(forKey: name) else { return nil }
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, signal)
        let deadline = MonotonicClock.seconds + seconds
        while process.isRunning && MonotonicClock.seconds < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    public func isRunning(_ name: String) -> Bool { daemons[name]?.isRunning ?? false }

    /// The daemon's process id, while it runs.
    public func pid(_ name: String) -> Int32? { daemons[name].flatMap { $0.isRunning ? $0.processIdentifier : nil } }

    /// Sends a signal to a node's daemon.
    public func signal(_ name: String, _ signal: Int32) {
        if let pid = daemons[name]?.processIdentifier { kill(pid, signal) }
    }

    /// The daemon's status, decoded as the node encodes it, or nil if it does not answer.
    public func status(_ name: String) -> NodeStatus? {
        guard let data = try? ControlClient.ask("status", path: node(name).controlPath) else { return nil }
        return try? NodeStatus.decode(data)
    }

    public func routes(_ name: String) -> [NodeStatus.RouteInfo] { status(name)?.routes ?? [] }

    /// One of a node's counters (`datapath` or `drops`), 0 when absent.
    public func counter(_ name: String, _ key: String) -> UInt64 {
        guard let s = status(name) else { return 0 }
        return s.datapath[key] ?? s.drops[key] ?? 0
    }

    /// Routes of the whole fabric: every node to every other, on each network.
    public var routeCount: Int { nodes.count * (nodes.count - 1) * spec.networks }

    /// Waits until every route of every running daemon is up; false at the deadline.
    public func waitAllRoutesUp(seconds: Double) -> Bool {
        wait(seconds: seconds) {
            self.nodes.allSatisfy { n in
                let r = self.routes(n.name)
                return r.count == (self.nodes.count - 1) * (self.configuredNetworks ?? self.spec.networks) && r.allSatisfy { $0.state == "up" }
            }
        }
    }

    /// Polls `condition` every 10 ms until it holds or `seconds` pass.
    public func wait(seconds: Double, _ condition: () -> Bool) -> Bool {
        // The monotonic clock: a test that steps the wall clock still waits its seconds.
        let deadline = MonotonicClock.seconds + seconds
        while MonotonicClock.seconds < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    public func log(_ name: String) -> String { (try? String(contentsOfFile: node(name).logPath, encoding: .utf8)) ?? "" }

    /// The "Marking Route ... as down" lines a node logged, oldest first. A
    /// node that starts before its peers logs some for routes never yet up:
    /// a test of what an event did counts the lines after it (`dropFirst`).
    public func routeDowns(_ name: String) -> [Substring] {
        log(name).split(separator: "\n").filter { $0.contains("Marking Route from") && $0.hasSuffix("as down") }
    }

    /// Runs a command inside a node's namespace (network only); true on exit 0.
    @discardableResult
    public func exec(_ name: String, _ arguments: [String]) -> Bool {
        (try? Shell.run(["nsenter", "--net=\(NetworkNamespace.path(node(name).namespace))"] + arguments)) != nil
    }

    /// Makes the switch of network `k` deliver everything it sends to `node`
    /// on that node's receive queue `queue`, as RSS on a multi-queue NIC would
    /// for some flows: a veth hands a frame to the peer queue it was sent on,
    /// and XPS on the switch port sends from every CPU on that queue only.
    public func steerToQueue(_ node: String, network k: Int, queue: Int) throws {
        guard let i = nodes.firstIndex(where: { $0.name == node }) else { throw LabError("no node \(node)") }
        let port = "n\(i + 1)"
        // Every CPU, as sysfs writes a cpumask: 32-bit hex words, comma-separated.
        let cpus = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_CONF))))
        let words = (0..<((cpus + 31) / 32)).reversed().map { w in
            String(UInt32(truncatingIfNeeded: cpus - w * 32 >= 32 ? UInt64(UInt32.max) : (UInt64(1) << UInt64(cpus - w * 32)) - 1), radix: 16)
        }
        let all = words.joined(separator: ",")
        var script = ""
        for t in 0..<spec.queues {
            script += "echo \(t == queue ? all : "0") > /sys/class/net/\(port)/queues/tx-\(t)/xps_cpus; "
        }
        try Shell.run(["ip", "netns", "exec", switchNamespace(network: k, node: i), "sh", "-c", script])
    }

    /// A silent cut: the switch of network `k` drops everything `name` sends or
    /// receives (nftables, bridge family) while every link stays up.
    public func cutSilently(_ name: String, network k: Int) throws {
        let port = "n\(node(name).id)"
        let rules = """
            table bridge netft_cut {
              chain forward {
                type filter hook forward priority 0; policy accept;
                iifname "\(port)" drop
                oifname "\(port)" drop
              }
            }
            """
        let path = "\(workDirectory)/cut-\(k).nft"
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        try Shell.run(["ip", "netns", "exec", switchNamespace(network: k, node: name), "nft", "-f", path])
    }

    /// Ends a silent cut on network `k` (on whichever of its switches holds one).
    public func restoreCut(network k: Int) throws {
        var removed = false
        for sw in [switches[k]] + (farSwitches.indices.contains(k) ? [farSwitches[k]] : []) {
            if (try? Shell.run(["ip", "netns", "exec", sw, "nft", "delete", "table", "bridge", "netft_cut"])) != nil { removed = true }
        }
        if !removed { throw LabError("no silent cut on net\(k + 1)") }
    }

    public func setLink(_ name: String, network k: Int, up: Bool) throws {
        let node = node(name)
        try Shell.run(["ip", "-n", node.namespace, "link", "set", "eth\(k)", up ? "up" : "down"])
        // The kernel dropped the route through the router with the link; a
        // server's network manager puts it back when the link returns.
        if up && spec.topology.isRouted { try routeOtherHalf(network: k, node: Int(node.id) - 1, namespace: node.namespace, device: "eth\(k)") }
    }

    // MARK: Keeping a lab

    /// What a fabric leaves on the machine while it exists, written to
    /// `Spec.recordDirectory` as soon as it is created and again at each
    /// change: `netft lab show` reads it, and `netft lab --down` (or the next
    /// run) removes everything it names, even after its creator was killed.
    public struct Kept: Codable, Sendable {
        public struct Host: Codable, Sendable {
            public var name: String
            public var namespace: String
            public var virtual_ipv4: String
            public var virtual_ipv6: String
            public var interfaces: [[String: String]]
            public var control_socket: String
            public var log: String
            public var pid: Int32?
        }
        public var tag: String
        public var creator_pid: Int32
        /// Left running on purpose (`--keep`); otherwise a leftover once its creator is gone.
        public var kept: Bool
        public var nodes: [Host]
        public var switches: [String]
        public var work_directory: String
        /// Daemon and corosync logs; outlives `netft lab --down` when it differs from the work directory.
        public var logs: String?
        public var pin_root: String
        public var config: String
    }

    private var isKept = false

    private var description: Kept {
        Kept(
            tag: tag, creator_pid: getpid(), kept: isKept,
            nodes: nodes.map { n in
                Kept.Host(
                    name: n.name, namespace: n.namespace, virtual_ipv4: "\(n.virtualIPv4)", virtual_ipv6: "\(n.virtualIPv6)",
                    interfaces: n.interfaces.map { ["name": $0.name, "address": "\($0.address)"] }, control_socket: n.controlPath,
                    log: n.logPath, pid: daemons[n.name]?.processIdentifier)
            }, switches: switches + farSwitches + routers + interSiteLinks, work_directory: workDirectory, logs: logDirectory, pin_root: pinRoot, config: configPath)
    }

    private var recordPath: String? { spec.recordDirectory.map { "\($0)/\(tag).json" } }

    private func record() {
        guard let recordPath, let directory = spec.recordDirectory else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try? encoder.encode(description).write(to: URL(fileURLWithPath: recordPath), options: .atomic)
    }

    /// Stops owning the fabric: nothing is torn down on deinit, and the record says it was kept.
    public func keep() -> Kept {
        torn = true
        isKept = true
        record()
        return description
    }

    /// Every fabric recorded in `directory`.
    public static func records(in directory: String) -> [(path: String, kept: Kept)] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted().compactMap { name in
            let path = "\(directory)/\(name)"
            guard name.hasSuffix(".json"), let data = FileManager.default.contents(atPath: path),
                let kept = try? JSONDecoder().decode(Kept.self, from: data)
            else { return nil }
            return (path, kept)
        }
    }

    /// Whether the process that created a fabric still runs.
    public static func creatorAlive(_ kept: Kept) -> Bool { kill(kept.creator_pid, 0) == 0 || errno == EPERM }

    /// Tears down a recorded fabric: its daemons, namespaces, pins, files and record.
    public static func tearDown(_ kept: Kept, record: String? = nil) {
        var pids = Set(kept.nodes.compactMap(\.pid).filter { kill($0, 0) == 0 })
        for ns in kept.nodes.map(\.namespace) + kept.switches { pids.formUnion(processes(in: ns)) }
        stop(pids)
        for ns in kept.nodes.map(\.namespace) + kept.switches { try? Shell.run(["ip", "netns", "del", ns], allowFailure: true) }
        removeTree(kept.pin_root)
        rmdir(XDPClassifier.defaultPinRoot)
        try? FileManager.default.removeItem(atPath: kept.work_directory)
        if let record { unlink(record) }
    }

    /// SIGTERM, then SIGKILL after 3 s, to every pid; waits until they are gone.
    static func stop(_ pids: Set<Int32>) {
        for pid in pids { kill(pid, SIGTERM) }
        let deadline = MonotonicClock.seconds + 3
        while MonotonicClock.seconds < deadline && pids.contains(where: isAlive) { usleep(10_000) }
        for pid in pids where isAlive(pid) { kill(pid, SIGKILL) }
        while pids.contains(where: isAlive) { usleep(10_000) }
    }

    /// Running: a zombie has exited and released everything; only its reaper
    /// (init, for a daemon whose lab was killed) has still to collect it.
    public static func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 && !isZombie(pid) }

    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// Removes what fabrics whose creator is gone left behind: their records,
    /// daemons, namespaces, pins and work directories. Kept fabrics are spared.
    /// Returns the namespaces it removed.
    @discardableResult
    public static func sweepLeftovers(records directory: String? = nil) -> [String] {
        var spared = Set<String>()
        if let directory {
            for (path, kept) in records(in: directory) {
                if kept.kept || creatorAlive(kept) {
                    spared.insert(kept.tag)
                } else {
                    tearDown(kept, record: path)
                }
            }
        }
        func leftover(_ name: String) -> Bool {
            // nft<tag4><pid>x<rand>...
            guard name.hasPrefix(prefix), !spared.contains(where: { name.hasPrefix($0) }) else { return false }
            let body = name.dropFirst(prefix.count + 4)
            guard let x = body.firstIndex(of: "x"), let pid = Int32(body[..<x]) else { return false }
            return !(kill(pid, 0) == 0 || errno == EPERM)
        }
        var removed: [String] = []
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        let doomed = namespaces.filter(leftover)
        // Daemons entered with nsenter outlive their creator unless told otherwise: end them first.
        stop(Set(doomed.flatMap(processes(in:))))
        for ns in doomed {
            try? Shell.run(["ip", "netns", "del", ns], allowFailure: true)
            removed.append(ns)
        }
        for dir in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [] where dir.hasPrefix("netft-\(prefix)") {
            if leftover(String(dir.dropFirst("netft-".count))) { try? FileManager.default.removeItem(atPath: "/tmp/\(dir)") }
        }
        for dir in (try? FileManager.default.contentsOfDirectory(atPath: XDPClassifier.defaultPinRoot)) ?? [] where leftover(dir) {
            removeTree("\(XDPClassifier.defaultPinRoot)/\(dir)")
        }
        rmdir(XDPClassifier.defaultPinRoot)
        return removed
    }

    /// Processes whose network namespace is the named one (by inode: a daemon
    /// started with nsenter carries no trace of the name in its command line).
    static func processes(in namespace: String) -> [Int32] {
        var st = stat()
        guard stat(NetworkNamespace.path(namespace), &st) == 0 else { return [] }
        let wanted = "net:[\(st.st_ino)]"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            pid != getpid() && (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")) == wanted
        }
    }

    /// Removes a bpffs tree (pins and directories), deepest first.
    public static func removeTree(_ path: String) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        if isDirectory.boolValue {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] { removeTree("\(path)/\(entry)") }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    // MARK: Teardown

    /// Safe from any thread (a signal's teardown thread races the normal path): the first caller does it.
    public func tearDown() {
        guard tearDownClaim.withLock({ claimed in
            defer { claimed = true }
            return !claimed && !torn
        }) else { return }
        torn = true
        for name in Array(daemons.keys) { stop(name) }
        // Whatever else runs inside (corosync, a test's helpers) goes with the fabric.
        Self.stop(Set((nodes.map(\.namespace) + extraNamespaces + interSiteLinks).flatMap(Self.processes(in:))))
        for ns in nodes.map(\.namespace) + extraNamespaces + switches + farSwitches + routers + interSiteLinks {
            try? Shell.run(["ip", "netns", "del", ns], allowFailure: true)
        }
        // Pins of daemons that could not clean up (killed) go with the run.
        Self.removeTree(pinRoot)
        rmdir(XDPClassifier.defaultPinRoot)
        if ProcessInfo.processInfo.environment["NETFT_KEEP_LOGS"] == nil { try? FileManager.default.removeItem(atPath: workDirectory) }
        if let recordPath { unlink(recordPath) }
    }
}
