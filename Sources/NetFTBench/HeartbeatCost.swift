import Foundation
import CNetFTShims
import Glibc
import NetFTCore
import NetFTFabric
import NetFTDaemon
import NetFTDataplane

/// The heartbeat cost of a node with many routes: node1 runs the real
/// daemon; the peers are synthetic but speak real heartbeats over the real
/// path (a responder namespace holding every peer's addresses runs one real
/// NodeEngine per peer). Symmetric, as in production, the peers also send
/// their own requests every Delay, which node1 answers; answer-only, they
/// only answer node1's (half the work). Measures the daemon's CPU time per second.
public final class HeartbeatCost {
    let tag: String
    let node: String
    let responder: String
    let work: String
    let peers: Int
    let binary: String
    /// The peers request too (production), not only answer.
    let symmetric: Bool
    var daemon: Process?

    static func address(network k: Int, host j: Int) -> IPAddress {
        // node1 is host 0; peers 1...; network k is 198.(18 + k).0.0/16.
        .v4(UInt32(198) << 24 | UInt32(18 + k) << 16 | UInt32(1 + j / 250) << 8 | UInt32(1 + j % 250))
    }

    public init(peers: Int, binary: String, symmetric: Bool = true) throws {
        self.peers = peers
        self.symmetric = symmetric
        self.binary = binary
        tag = "\(ClusterFabric.prefix)\(ClusterFabric.label("hbco"))\(getpid())x\(UInt16.random(in: 0...999))"
        node = "\(tag)-node1"
        responder = "\(tag)-peers"
        work = "/tmp/netft-\(tag)"
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try build()
        } catch {
            tearDown()
            throw error
        }
    }

    deinit { tearDown() }

    private func build() throws {
        try Shell.run(["ip", "netns", "add", node])
        try Shell.run(["ip", "netns", "add", responder])
        var batch = ""
        // node1 knows every peer's MAC (the responder's veth) from permanent
        // entries: the kernel's neighbour table holds 1024 learned entries for
        // the whole host (gc_thresh3, every namespace together), fewer than
        // 2000 peers on two networks. Permanent entries do not count.
        var neighbours = ""
        for k in 0..<2 {
            let mac = "02:4e:46:00:0\(k):02"
            try Shell.run(["ip", "-n", node, "link", "add", "eth\(k)", "type", "veth", "peer", "name", "eth\(k)", "address", mac, "netns", responder])
            try Shell.run(["ip", "-n", node, "addr", "add", "\(Self.address(network: k, host: 0))/16", "dev", "eth\(k)"])
            for j in 1...peers {
                batch += "addr add \(Self.address(network: k, host: j))/16 dev eth\(k)\n"
                neighbours += "neigh replace \(Self.address(network: k, host: j)) lladdr \(mac) dev eth\(k) nud permanent\n"
            }
            for ns in [node, responder] { try Shell.run(["ip", "-n", ns, "link", "set", "eth\(k)", "up"]) }
        }
        try batch.write(toFile: "\(work)/addresses", atomically: true, encoding: .utf8)
        try Shell.run(["ip", "-n", responder, "-batch", "\(work)/addresses"])
        try neighbours.write(toFile: "\(work)/neighbours", atomically: true, encoding: .utf8)
        try Shell.run(["ip", "-n", node, "-batch", "\(work)/neighbours"])
        _ = try KeyFile.generate(path: "\(work)/key", replace: true)
        var config = ClusterConfig(cluster: tag)
        config.keyFile = "\(work)/key"
        (config.heartbeat.sameSubnet.delay, config.heartbeat.sameSubnet.threshold) = (1000, 5)
        config.networks = [
            .init(name: "net1", subnet: .v4(0xC612_0000), prefixLength: 16, priority: 100),  // 198.18.0.0/16
            .init(name: "net2", subnet: .v4(0xC613_0000), prefixLength: 16, priority: 200),  // 198.19.0.0/16
        ]
        config.nodes = (0...peers).map { j in
            ClusterConfig.Node(name: "n\(j + 1)", id: NodeID(j + 1), addresses: [Self.address(network: 0, host: j), Self.address(network: 1, host: j)])
        }
        try ConfigWriter.write(config, to: "\(work)/netft.yaml")
    }

    public struct Measurement: Sendable {
        /// node1's CPU time, percent of one core.
        public var cpuPercent: Double
        /// Heartbeat frames (requests, replies, hellos) node1's classifiers passed to it, per second.
        public var controlFramesPerSecond: Double
    }

    /// Runs node1's daemon and the synthetic peers; measures node1 over
    /// `seconds`, once every route is up.
    public func measure(seconds: Double) throws -> Measurement {
        let config = try ConfigLoader.load(path: "\(work)/netft.yaml")
        let key = try KeyFile.load(path: "\(work)/key", cluster: config.cluster).key
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--net=/run/netns/\(node)", binary, "run", "--config", "\(work)/netft.yaml", "--node", "n1",
                             "--dataplane", "xdp", "--control", "\(work)/n1.sock", "--pin-root", "\(XDPClassifier.defaultPinRoot)/\(tag)",
                             // An interrupted bench takes its daemon with it.
                             "--stop-with-pid", "\(getpid())"]
        process.standardOutput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: "\(work)/n1.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: "\(work)/n1.log")
        try process.run()
        daemon = process
        let stop = Atomic64()
        let peersThread = NetworkNamespace.spawn(responder) { [peers, symmetric] () throws -> Void in
            try Self.answer(config: config, key: key, peers: peers, symmetric: symmetric, stop: stop)
        }
        defer {
            stop.value = 1
            _ = try? peersThread.join(seconds: 5)
        }
        let routes = 2 * peers
        let deadline = Date().addingTimeInterval(30)
        var up = 0
        while Date() < deadline {
            if let status = self.status() {
                up = status.routes.filter { $0.state == "up" }.count
                if up == routes { break }
            }
            usleep(200_000)
        }
        guard up == routes else {
            let log = (try? String(contentsOfFile: "\(work)/n1.log", encoding: .utf8)) ?? ""
            throw LabError("only \(up) of \(routes) synthetic routes came up; the daemon's log ends:\n\(log.suffix(2000))")
        }
        let pid = process.processIdentifier
        let c0 = controlFrames(), t0 = ProcessCPU.nanoseconds(pid), w0 = Date()
        usleep(UInt32(seconds * 1e6))
        // The counters are read outside the CPU window: a status of thousands
        // of routes is JSON the node spends milliseconds on.
        let t1 = ProcessCPU.nanoseconds(pid), w1 = Date(), c1 = controlFrames()
        let wall = w1.timeIntervalSince(w0)
        return Measurement(cpuPercent: Double(t1 - t0) / (wall * 1e9) * 100, controlFramesPerSecond: Double(c1 - c0) / wall)
    }

    /// Control frames node1's classifiers have passed to it so far.
    private func controlFrames() -> UInt64 {
        (status()?.datapath ?? [:]).filter { $0.key.hasSuffix("_pass_control") }.values.reduce(0, +)
    }

    /// node1's status, or nil if it does not answer.
    private func status() -> NodeStatus? {
        guard let data = try? ControlClient.ask("status", path: "\(work)/n1.sock") else { return nil }
        return try? NodeStatus.decode(data)
    }

    /// The synthetic peers: a NodeEngine each, answering node1's heartbeats
    /// and, when `symmetric`, sending their own on each route's schedule.
    static func answer(config: ClusterConfig, key: ClusterKey, peers: Int, symmetric: Bool, stop: Atomic64) throws {
        var engines: [NodeEngine] = []
        var byRoute: [RouteID: Int] = [:]
        let node1 = config.nodes[0]
        for j in 1...peers {
            let me = config.nodes[j]
            var table = RouteTable(localNode: me.id)
            for k in 0..<2 {
                let local = me.addresses[k], remote = node1.addresses[k]
                let id = Route.id(between: local, and: remote)
                table.add(Route(
                    id: id, peer: node1.id, peerName: node1.name, network: "net\(k + 1)", localInterface: "eth\(k)",
                    realLocal: Endpoint(local), realRemote: Endpoint(remote), virtualLocal: Endpoint(.v4(0)), virtualRemote: Endpoint(.v4(0)),
                    priority: k, heartbeat: config.heartbeat.settings(crossSubnet: false)), now: Instant(nanoseconds: MonotonicClock.nanoseconds))
                byRoute[id] = engines.count
            }
            engines.append(NodeEngine(table: table, security: config.security, key: key))
        }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var size: Int32 = 16 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = UInt16(3343).bigEndian
        _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
        defer { buffer.deallocate() }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        // From the peer's own address, not the namespace's first one: node1
        // accepts a frame for a route only from the route's remote address.
        func send(_ length: Int, on route: RouteID, engine i: Int) {
            guard let path = engines[i].table.path(of: route), case .v4(let source) = path.local, case .v4(let node1) = path.remote.address else { return }
            var to = sockaddr_in()
            to.sin_family = sa_family_t(AF_INET)
            to.sin_port = path.remote.port.bigEndian
            to.sin_addr.s_addr = node1.bigEndian
            _ = withUnsafePointer(to: &to) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { netft_udp_sendto_from(fd, buffer.baseAddress, length, $0, socklen_t(MemoryLayout<sockaddr_in>.size), source.bigEndian) }
            }
        }
        var due: [RouteID] = []
        while stop.value == 0 {
            if poll(&pfd, 1, symmetric ? 5 : 50) > 0 {
                while true {
                    let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
                    guard n > 0 else { break }
                    guard let header = try? FrameCodec.readHeader(buffer, length: n), let i = byRoute[header.route] else { continue }
                    let now = Instant(nanoseconds: MonotonicClock.nanoseconds)
                    // The synthetic peers trust the path (nil); node1, the one measured, checks it.
                    if case .reply(let replyLength, let route) = engines[i].receive(buffer, length: n, from: nil, now: now) {
                        send(replyLength, on: route, engine: i)
                    }
                }
            }
            guard symmetric else { continue }
            let now = Instant(nanoseconds: MonotonicClock.nanoseconds)
            for i in engines.indices {
                guard let deadline = engines[i].table.nextDeadline, deadline <= now else { continue }
                due.removeAll(keepingCapacity: true)
                engines[i].table.tick(now: now) { due.append($0) }
                _ = engines[i].table.drainEvents()
                for route in due {
                    if engines[i].helloDue(on: route, now: now), let length = try? engines[i].hello(on: route, into: buffer, now: now) {
                        send(length, on: route, engine: i)
                    }
                    if let length = try? engines[i].heartbeatRequest(on: route, into: buffer, now: now) { send(length, on: route, engine: i) }
                }
            }
        }
    }

    public func tearDown() {
        if let daemon, daemon.isRunning {
            daemon.terminate()
            let end = Date().addingTimeInterval(5)
            while daemon.isRunning && Date() < end { usleep(10_000) }
            if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) }
        }
        daemon = nil
        for ns in [node, responder] { try? Shell.run(["ip", "netns", "del", ns], allowFailure: true) }
        ClusterFabric.removeTree("\(XDPClassifier.defaultPinRoot)/\(tag)")
        try? FileManager.default.removeItem(atPath: work)
    }
}
