import CNetFTShims
import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import NetFTCore
import NetFTDataplane

/// One cluster node, assembled: the instance lock first (before any side
/// effect), then the dataplane, the virtual adapter and the route table, and
/// the three places work happens:
/// - the datapath thread (`Datapath`): rings, adapter, heartbeats;
/// - the control thread (`ControlPlane`): netlink, signals, the route map;
/// - SwiftNIO's event loop: the control socket and the metrics endpoint.
/// They talk only through mailboxes, so nothing outside the datapath can stall it.
public final class NodeRuntime {
    public struct Options: Sendable {
        public var dataplane: DataplaneKind? = nil  // nil: xdp, falling back to udp
        public var adapterName = "netft0"
        public var controlPath = "/run/netft/netft.sock"
        public var pinRoot = XDPClassifier.defaultPinRoot
        public var logFormat = LogFormat.cluster
        /// Where the configuration came from, for SIGHUP.
        public var configPath: String?
        /// Prometheus endpoint, e.g. 127.0.0.1:9343 (nil: none).
        public var metrics: String?
        /// How long the datapath may stall before the watchdog says so.
        public var watchdogMilliseconds: UInt64 = 1000
        /// Stop when this process exits (a supervisor, the lab).
        public var stopWithPID: pid_t?
        /// Frames in the AF_XDP UMEM (2 KiB each).
        public var umemFrames = 8192
        /// What the key file held (raw bytes, hex, a passphrase), for the start line.
        public var keyForm: KeyFile.Form?
        public init() {}
    }

    let me: ClusterConfig.Node
    let log: Logger
    let lock: InstanceLock
    let signals: Int32
    let datapath: Datapath
    let control: ControlPlane
    let group: MultiThreadedEventLoopGroup
    let controlServer: ControlServer
    let metricsServer: MetricsServer?

    public init(config: ClusterConfig, node: String?, key: ClusterKey?, options: Options) throws {
        // Before any thread exists, so every thread inherits the mask and the
        // control plane alone reads them; a closed log pipe must not kill the node.
        signal(SIGPIPE, SIG_IGN)
        signals = netft_signals_open()
        guard signals >= 0 else { throw SystemError("open signalfd", returned: signals) }
        let ifm = try InterfaceManager()
        me = try NodeRuntime.whoAmI(config: config, node: node, interfaces: ifm)
        let meNode = me
        var logger = Logger(label: "netft") { _ in NodeLogHandler(node: meNode.name, format: options.logFormat) }
        logger.logLevel = .info
        log = logger
        lock = try InstanceLock(node: me.name)

        let plan = TopologyPlanner.plan(config: config, localNode: me, interfaces: ifm.localInterfaces)
        for w in plan.warnings { logger.warning("[IM] \(w)") }
        guard !plan.interfaces.isEmpty else {
            throw RuntimeError("node \(me.name) has none of its configured addresses (\(me.addresses.map(\.description).joined(separator: ", "))) on an interface of this host")
        }
        let links = plan.interfaces.map { i in DataplaneLink(name: i.name, index: ifm.link(named: i.name)?.index ?? 0, address: i.address) }
        NodeRuntime.removeLeftoverPins(options.pinRoot, links: links.map(\.name), log: logger)
        let (dataplane, reason) = try NodeRuntime.openDataplane(options, links: links, config: config)
        if let reason { logger.warning("[NETFT] using the udp dataplane: \(reason)") }
        if let xdp = dataplane as? XDPDataplane {
            for note in xdp.attachNotes { logger.warning("[NETFT] \(note)") }
            for (link, why) in zip(links, xdp.fallbackReasons) {
                if let why { logger.warning("[NETFT] \(link.name) carries its frames through the kernel socket: \(why)") }
            }
            // As the kernel reports each socket (XDP_OPTIONS), not as asked.
            let (sockets, zeroCopy) = xdp.socketModes
            logger.info("[NETFT] AF_XDP bound in \(xdp.bindMode == .zeroCopy ? "zero-copy" : "copy") mode: the kernel runs \(zeroCopy) of \(sockets) sockets zero-copy\(zeroCopy < sockets ? " (the driver has no zero-copy)" : "")")
        }

        let adapter = try NodeRuntime.openAdapter(config: config, me: me, options: options, links: plan.interfaces, interfaces: ifm, dataplane: dataplane, log: logger)
        let mirror: RouteMirror?
        do {
            mirror = try RouteMirror(pinRoot: options.pinRoot)
        } catch {
            logger.warning("[NETFT] no pinned route map for bpftool: \(error)")
            mirror = nil
        }

        let inbox = try Mailbox<DatapathCommand>()
        control = try ControlPlane(
            log: logger, datapath: inbox, interfaces: ifm, links: links, mirror: mirror, signals: signals, lock: lock,
            configPath: options.configPath, stopWithPID: options.stopWithPID, config: config, me: me)

        let watchdog = Watchdog(boundMilliseconds: options.watchdogMilliseconds, log: logger)
        let toControl = control.mailbox
        datapath = try Datapath.assemble(
            config: config, me: me, key: key, plan: plan, dataplane: dataplane, adapter: adapter, unusableLinks: control.unusableLinks, log: logger,
            facts: .init(dataplaneReason: reason, warnings: plan.warnings), mailbox: inbox, watchdog: watchdog,
            routesChanged: { toControl.post(.routesChanged) })
        datapath.linksAttached = { toControl.post(.linksAttached($0)) }
        // The classifiers pass only our routes' remote addresses, each NIC its own.
        if let xdp = dataplane as? XDPDataplane { try xdp.admitOnly(datapath.admittedSources) }

        // Privileged set-up is done (adapter, XDP, sockets, pins, netlink):
        // keep only what the running node uses. Threads started from here on
        // (SwiftNIO's, which block every signal, the control plane, the
        // watchdog) inherit the reduced sets; the few before are asked by signal.
        do {
            try Capabilities.limit()
            logger.info("[NETFT] set-up done: keeping only \(Capabilities.kept.map(\.name).joined(separator: ", ")), no_new_privs")
        } catch {
            // This thread has dropped by then; a thread that blocks the signal
            // (one a library started with its own mask) keeps what it had.
            logger.warning("[NETFT] \(error): not every thread could be limited; a thread that blocks signals keeps the capabilities the node started with until it exits")
        }
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let adapterName = adapter.name
        do {
            controlServer = try ControlServer(path: options.controlPath, group: group) { request, loop in
                switch request {
                case "status", "routes", "nodes":
                    return NodeRuntime.status(inbox, on: loop, adapter: adapterName).map { [UInt8](NodeStatus.encode($0)) }
                        .recover { Array("{\"error\": \"\($0)\"}\n".utf8) }
                case "reload":
                    return NodeRuntime.reload(toControl, on: loop)
                default:
                    return loop.makeSucceededFuture(Array("{\"error\": \"unknown request '\(request)': ask status, routes, nodes or reload\"}\n".utf8))
                }
            }
            if let endpoint = options.metrics {
                let metrics = NodeMetrics()
                metricsServer = try MetricsServer(listen: endpoint, group: group) { loop in
                    NodeRuntime.status(inbox, on: loop, adapter: adapterName).map { metrics.render($0) }
                }
                logger.info("[NETFT] Prometheus metrics on http://\(endpoint)/metrics")
            } else {
                metricsServer = nil
            }
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        logger.info("[NETFT] netft \(me.name) (id \(me.id)) starting: adapter \(adapter.name) \(VirtualAddresses.ipv4(cluster: config.cluster, node: me.id)) \(VirtualAddresses.ipv6(cluster: config.cluster, node: me.id)) mtu \(adapter.mtu), dataplane \(dataplane.kind.rawValue), session \(ClusterLog.hex(datapath.engine.sessions.localID)), security \(config.security)\(key.map { " (key \($0.fingerprint)\(options.keyForm == .passphrase ? ", a passphrase stretched with Argon2id" : ""))" } ?? ""), control \(options.controlPath) and @\(ControlServer.abstractName)")
        if controlServer.abstractChannel == nil {
            let holder = controlServer.abstractHolder.map { "pid \($0)" } ?? "another process"
            logger.warning("[NETFT] @\(ControlServer.abstractName) is held by \(holder) in this network namespace: `netft status` without --control reaches that daemon; this one answers at \(options.controlPath)")
        }
    }

    deinit { close(signals) }

    /// Runs until SIGTERM/SIGINT (or the watched process exits).
    public func run() {
        control.start()
        datapath.run()
        control.stop()
        controlServer.close()
        metricsServer?.close()
        try? group.syncShutdownGracefully()
        LogSink.shared.flush()
    }

    /// Lossless failover's copies: one ring per peer, allocated once (nil: off).
    static func retention(_ config: ClusterConfig, me: ClusterConfig.Node) -> [NodeID: RetentionRing]? {
        guard config.losslessFailover else { return nil }
        var rings: [NodeID: RetentionRing] = [:]
        for peer in config.nodes where peer.id != me.id { rings[peer.id] = RetentionRing(capacity: config.losslessBufferPackets) }
        return rings
    }

    /// The datapath's status, or a failure if it does not answer within a second (stalled).
    static func status(_ inbox: Mailbox<DatapathCommand>, on loop: any EventLoop, adapter: String) -> EventLoopFuture<NodeStatus> {
        let promise = loop.makePromise(of: NodeStatus.self)
        inbox.post(.status { promise.succeed($0) })
        // Whichever comes second is ignored.
        loop.scheduleTask(in: .seconds(1)) { promise.fail(RuntimeError("the datapath did not answer within 1 s (stalled?)")) }
        return promise.futureResult.map { status in
            // The kernel's side of the adapter: what the stack dropped because the
            // datapath did not read in time (the one loss netft cannot count itself).
            // A netlink dump answers at once; it stays off the datapath thread.
            var status = status
            if let link = (try? Netlink()).flatMap({ try? $0.links() })?.first(where: { $0.name == adapter }) {
                status.drops["adapter_queue_full"] = link.txDropped
            }
            return status
        }
    }

    /// `netft reload`: the control plane reloads as on SIGHUP and the datapath
    /// says what it applied: {"applied": bool, "summary": text}.
    static func reload(_ control: Mailbox<ControlPlane.Message>, on loop: any EventLoop) -> EventLoopFuture<[UInt8]> {
        let promise = loop.makePromise(of: [UInt8].self)
        control.post(.reload { applied, summary in
            let body = try? JSONSerialization.data(withJSONObject: ["applied": applied, "summary": summary], options: [.sortedKeys])
            promise.succeed(Array(body ?? Data()) + [0x0A])
        })
        loop.scheduleTask(in: .seconds(5)) { promise.fail(RuntimeError("the reload was not answered within 5 s")) }
        return promise.futureResult.recover { Array("{\"error\": \"\($0)\"}\n".utf8) }
    }

    static func whoAmI(config: ClusterConfig, node: String?, interfaces: InterfaceManager) throws -> ClusterConfig.Node {
        switch config.localNode(named: node, hostAddresses: Set(interfaces.localInterfaces.map(\.address))) {
        case .success(let me): return me
        case .failure(let why): throw RuntimeError(why.description)
        }
    }

    static func openDataplane(_ options: Options, links: [DataplaneLink], config: ClusterConfig) throws -> (Dataplane, String?) {
        func xdp() throws -> XDPDataplane {
            try XDPDataplane(
                links: links, port: config.port, pinRoot: options.pinRoot, umemFrames: options.umemFrames,
                occupied: config.occupiedNIC == .refuse ? .refuse : .useKernelSocket)
        }
        switch options.dataplane {
        case .udp?:
            return (try SocketDataplane(links: links, port: config.port), nil)
        case .xdp?:
            return (try xdp(), nil)
        case nil:
            do {
                return (try xdp(), nil)
            } catch {
                return (try SocketDataplane(links: links, port: config.port), "AF_XDP could not attach: \(error)")
            }
        }
    }

    /// The adapter's MTU leaves room for netft's outer headers on the smallest
    /// link, and is never more than one dataplane buffer carries.
    static func openAdapter(
        config: ClusterConfig, me: ClusterConfig.Node, options: Options, links: [TopologyPlanner.LocalInterface], interfaces: InterfaceManager,
        dataplane: Dataplane, log: Logger
    ) throws -> VirtualAdapter {
        let smallest = Int(links.compactMap { interfaces.link(named: $0.name)?.mtu }.min() ?? 1500)
        let outer = OuterHeaders.ipAndUDP(ipv4: links.allSatisfy(\.address.isIPv4))
        let inner = Wire.headerSize + config.security.tagSize
        let frame = min(smallest - outer, dataplane.largestFrame)
        if smallest - outer > dataplane.largestFrame {
            log.info("[NETFT] links allow \(smallest)-byte packets, but a \(dataplane.kind.rawValue) dataplane buffer carries \(dataplane.largestFrame)-byte frames: adapter MTU \(frame - inner)")
        }
        return try VirtualAdapter(
            name: options.adapterName, ipv4: VirtualAddresses.ipv4(cluster: config.cluster, node: me.id),
            ipv6: VirtualAddresses.ipv6(cluster: config.cluster, node: me.id), mtu: UInt32(frame - inner), netlink: try Netlink())
    }

    /// Pins a netft process left when it could not stop cleanly (SIGKILL).
    /// Only called with the instance lock held, so no live daemon owns them.
    static func removeLeftoverPins(_ root: String, links: [String], log: Logger) {
        var removed: [String] = []
        if unlink("\(root)/routes") == 0 { removed.append("\(root)/routes") }
        for link in links {
            let path = "\(root)/\(link)"
            for pin in ["prog", "stats", "config", "xsks"] where unlink("\(path)/\(pin)") == 0 { removed.append("\(path)/\(pin)") }
            rmdir(path)
        }
        if !removed.isEmpty {
            log.warning("[NETFT] removed \(removed.count) pins left by a netft run that did not stop cleanly (under \(root))")
        }
    }

    struct RuntimeError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
