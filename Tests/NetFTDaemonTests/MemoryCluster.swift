import Foundation
import Logging
import NetFTCore
import NetFTDataplane
import NetFTTestSupport
import Synchronization

@testable import NetFTDaemon

/// Whole nodes in one test process: each a real `Datapath` (engine, sealed
/// frames, lossless failover, status) on its own thread, over an in-memory
/// dataplane and adapter joined by a `MemoryNetwork`. No root, no devices.
final class MemoryCluster {
    let fabric = MemoryNetwork()
    let config: ClusterConfig
    private(set) var nodes: [String: MemoryNode] = [:]

    let key: ClusterKey
    /// Networks every node has an address on.
    let networks: Int
    /// The stepped nodes' clock (nil: threads on the host's clock).
    let clock: ManualClock?

    /// Nodes `node1...nodeN`, each with an address on every network (198.18.k.n), fast heartbeats.
    /// `configured`: how many of the networks the configuration lists at first (all by default);
    /// every node has an address on each network anyway, as a host has NICs netft does not use.
    /// `stepped`: no threads; the nodes run on `clock`, which only `advance` moves
    /// (simulated time: deterministic, and as fast as the machine goes).
    init(
        nodes count: Int = 2, networks: Int = 2, configured: Int? = nil, security: SecurityLevel = .encrypt, lossless: Bool = true,
        stepped: Bool = false
    ) throws {
        config = Self.config(nodes: count, networks: configured ?? networks, security: security, lossless: lossless)
        self.networks = networks
        clock = stepped ? ManualClock() : nil
        key = try ClusterKey(secret: (0..<32).map { _ in UInt8.random(in: 0...255) })
        do {
            for me in config.nodes { try start(me, config: config) }
        } catch {
            stop()
            throw error
        }
    }

    /// The configuration every node of such a cluster reads.
    static func config(nodes count: Int, networks: Int = 2, security: SecurityLevel = .encrypt, lossless: Bool = true) -> ClusterConfig {
        var config = ClusterConfig(cluster: "memory")
        config.security = security
        config.losslessFailover = lossless
        config.heartbeat.profile = .fast
        config.networks = (1...networks).map { .init(name: "net\($0)", subnet: .v4(0xC612_0000 | UInt32($0) << 8), prefixLength: 24, priority: $0 * 100) }
        config.nodes = (1...count).map { n in
            .init(name: "node\(n)", id: NodeID(n), addresses: (1...networks).map { .v4(0xC612_0000 | UInt32($0) << 8 | UInt32(n)) })
        }
        return config
    }

    /// Starts node `me` of `config` (a node that joins later reads a newer configuration).
    func start(_ me: ClusterConfig.Node, config: ClusterConfig) throws {
        let host = (1...networks).map { IPAddress.v4(0xC612_0000 | UInt32($0) << 8 | UInt32(me.id)) }
        nodes[me.name] = try MemoryNode(config: config, me: me, host: host, key: key, fabric: fabric, clock: clock)
    }

    /// Stepped: moves the clock `milliseconds` forward, one millisecond at a
    /// time, every node taking a few passes each (frames cross, are answered,
    /// and the answers cross back within the millisecond).
    func advance(milliseconds: Int, each: (Int) -> Void = { _ in }) {
        guard let clock else { return }
        for ms in 0..<milliseconds {
            each(ms)
            clock.advance(nanoseconds: 1_000_000)
            for _ in 0..<3 { for node in nodes.values { node.step() } }
        }
    }

    subscript(name: String) -> MemoryNode { nodes[name]! }

    func stop() { for node in nodes.values { node.stop() } }

    deinit { stop() }

    /// Waits until `condition` holds, at most `seconds`.
    func wait(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = MonotonicClock.seconds + seconds
        while MonotonicClock.seconds < deadline {
            if condition() { return true }
            usleep(2_000)
        }
        return condition()
    }

    /// Every route of every node Up.
    func allRoutesUp(seconds: Double = 3) -> Bool {
        if clock != nil {
            advance(milliseconds: 300)
            return nodes.values.allSatisfy { $0.status()?.routes.allSatisfy { $0.state == "up" } ?? false }
        }
        return wait(seconds: seconds) { nodes.values.allSatisfy { $0.status()?.routes.allSatisfy { $0.state == "up" } ?? false } }
    }
}

/// One node: its datapath thread, its memory port and adapter, and its log lines.
final class MemoryNode: @unchecked Sendable {  // the datapath stays on its thread; the rest is locked or immutable
    let me: ClusterConfig.Node
    let dataplane: MemoryDataplane
    let adapter: MemoryAdapter
    let mailbox: Mailbox<DatapathCommand>
    let logs = LogLines()
    private let done = DispatchSemaphore(value: 0)
    private let running = Mutex(true)

    /// The host's interfaces, whether netft uses them or not.
    let hostLinks: [DataplaneLink]

    /// Stepped: the datapath, run by `step` on the test's thread (nil: it runs on its own thread).
    private let stepped: UncheckedBox<Datapath>?

    init(config: ClusterConfig, me: ClusterConfig.Node, host: [IPAddress], key: ClusterKey, fabric: MemoryNetwork, clock: ManualClock? = nil) throws {
        self.me = me
        hostLinks = MemoryDataplane.hostLinks(host)
        let plan = TopologyPlanner.plan(config: config, localNode: me, interfaces: hostLinks.map { .init(name: $0.name, address: $0.address) })
        dataplane = try MemoryDataplane(links: hostLinks.filter { l in plan.interfaces.contains { $0.name == l.name } }, port: config.port, fabric: fabric)
        adapter = try MemoryAdapter()
        mailbox = try Mailbox()
        let lines = logs
        var log = Logger(label: "netft-\(me.name)") { _ in lines }
        log.logLevel = .info
        let now: @Sendable () -> Instant
        if let clock { now = { clock.now } } else { now = { Instant.now } }
        let datapath = try Datapath.assemble(
            config: config, me: me, key: key, plan: plan, dataplane: dataplane, adapter: adapter, log: log,
            facts: .init(dataplaneReason: nil, warnings: plan.warnings), mailbox: mailbox,
            watchdog: Watchdog(boundMilliseconds: 1000, log: log), clock: now, routesChanged: {})
        let box = UncheckedBox(datapath)
        guard clock == nil else {
            stepped = box
            return
        }
        stepped = nil
        let finished = done
        let thread = Thread {
            box.value.run()
            finished.signal()
        }
        thread.name = "netft-\(me.name)"
        thread.start()
    }

    /// The node as `netft status` would show it (nil: the datapath did not answer within a second).
    func status() -> NodeStatus? {
        let answer = Mutex<NodeStatus?>(nil)
        let ready = DispatchSemaphore(value: 0)
        mailbox.post(.status { s in
            answer.withLock { $0 = s }
            ready.signal()
        })
        step()
        guard ready.wait(timeout: .now() + 1) == .success else { return nil }
        return answer.withLock { $0 }
    }

    /// Reloads as SIGHUP would, from `running` to `fresh`: true when applied.
    func reload(from running: ClusterConfig, to fresh: ClusterConfig) throws -> (applied: Bool, summary: String) {
        let interfaces = hostLinks.map { TopologyPlanner.LocalInterface(name: $0.name, address: $0.address) }
        let host = hostLinks
        let plan = try ReloadPlan.make(
            fresh: fresh, running: running, me: me, links: dataplane.links, interfaces: interfaces, interfaceIndex: { name in host.first { $0.name == name }?.index })
        let answer = Mutex<(Bool, String)?>(nil)
        let ready = DispatchSemaphore(value: 0)
        mailbox.post(.reload(plan) { applied, summary in
            answer.withLock { $0 = (applied, summary) }
            ready.signal()
        })
        guard ready.wait(timeout: .now() + 2) == .success, let (applied, summary) = answer.withLock({ $0 }) else { return (false, "no answer") }
        return (applied, summary)
    }

    func route(to peer: String, network: String) -> NodeStatus.RouteInfo? {
        status()?.routes.first { $0.peer == peer && $0.network == network }
    }

    /// Stepped: one pass of the datapath, not waiting for anything.
    func step() { stepped?.value.pass(maxWait: 0) }

    func stop() {
        guard stepped == nil else { return }
        guard running.withLock({ let was = $0; $0 = false; return was }) else { return }
        mailbox.post(.stop(reason: "test over"))
        _ = done.wait(timeout: .now() + 5)
    }
}

struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A swift-log handler that keeps every line, for tests to read.
final class LogLines: LogHandler, @unchecked Sendable {
    private let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) { lines.withLock { $0.append("\(event.message)") } }

    var all: [String] { lines.withLock { $0 } }
    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
}

/// Time that moves only when a test says so.
final class ManualClock: Sendable {
    private let time = Mutex(Instant(nanoseconds: 1_000_000_000))
    var now: Instant { time.withLock { $0 } }
    func advance(nanoseconds: UInt64) { time.withLock { $0.nanoseconds += nanoseconds } }
}
