import CNetFTShims
import Foundation
import Glibc
import Logging
import NetFTCore
import NetFTDataplane

/// One cluster node: the virtual adapter, the dataplane, the route table and
/// the control socket, driven by one thread that polls them all and a timer.
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
        /// How long the event loop may stall before the watchdog says so.
        public var watchdogMilliseconds: UInt64 = 1000
        public init() {}
    }

    let config: ClusterConfig
    let me: ClusterConfig.Node
    let options: Options
    let log: Logger
    var engine: NodeEngine
    let interfaces: InterfaceManager
    let adapter: VirtualAdapter
    let port: DataplanePort
    let dataplaneReason: String?
    let control: ControlServer
    let lock: InstanceLock
    let signals: Int32
    let mirror: RouteMirror?
    let watchdog: Watchdog
    let metrics: NodeMetrics?
    var mirroredAt = Instant.zero
    let started = Instant.now
    var warnings: [String]
    /// Per route: which dataplane link and remote endpoint carry it.
    var routeLinks: [RouteID: (link: Int, remote: Endpoint)] = [:]
    /// Inner destination address -> peer node.
    var peersByVirtualAddress: [IPAddress: NodeID] = [:]
    /// Last known usability of each dataplane link, to log changes only.
    var linkUsable: [String: Bool] = [:]
    /// Allocations on the packet path and packets handled, when a malloc
    /// counter is preloaded (netft bench); nil otherwise.
    let mallocCount: (@convention(c) () -> UInt64)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "netft_malloc_thread_count") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) () -> UInt64).self)
    }()
    var hotPathMallocs: UInt64 = 0
    var hotPathPackets: UInt64 = 0
    /// Lossless failover (opt-in): kept copies, and per route the data frames received since our last ack.
    let retention: RetentionRing?
    var ackDue: [RouteID: (count: Int, since: Instant)] = [:]
    var resent: UInt64 = 0
    var noRouteDrops: UInt64 = 0
    var noPeerDrops: UInt64 = 0
    var running = true

    public init(config: ClusterConfig, node: String?, key: ClusterKey?, options: Options) throws {
        self.config = config
        self.options = options
        let ifm = try InterfaceManager()
        interfaces = ifm
        let local = Set(ifm.localInterfaces.map(\.address))
        let meNode: ClusterConfig.Node
        if let node {
            guard let found = config.node(named: node) else { throw RuntimeError("node '\(node)' is not in the configuration (nodes: \(config.nodes.map(\.name).joined(separator: ", ")))") }
            meNode = found
        } else {
            guard let found = config.nodes.first(where: { !local.isDisjoint(with: $0.addresses) }) else {
                throw RuntimeError("no configured node owns an address of this host: pass --node NAME")
            }
            meNode = found
        }
        me = meNode
        var logger = Logger(label: "netft") { _ in NodeLogHandler(node: meNode.name, format: options.logFormat) }
        logger.logLevel = .info
        log = logger
        lock = try InstanceLock(path: options.controlPath + ".lock", node: meNode.name)

        let plan = TopologyManager.plan(config: config, localNode: meNode, interfaces: ifm.localInterfaces)
        warnings = plan.warnings
        for w in plan.warnings { logger.warning("[IM] \(w)") }
        guard !plan.interfaces.isEmpty else { throw RuntimeError("node \(meNode.name) has none of its configured addresses (\(meNode.addresses.map(\.description).joined(separator: ", "))) on an interface of this host") }

        let links = plan.interfaces.map { i in
            DataplaneLink(name: i.name, index: ifm.link(named: i.name)?.index ?? 0, address: i.address)
        }
        let (openedPort, reason) = try NodeRuntime.openDataplane(options.dataplane, links: links, config: config, pinRoot: options.pinRoot)
        port = openedPort
        dataplaneReason = reason
        if let reason { logger.warning("[NETFT] using the udp dataplane: \(reason)") }

        // The adapter's MTU leaves room for netft's outer headers on the smallest link.
        let smallest = plan.interfaces.compactMap { ifm.link(named: $0.name)?.mtu }.min() ?? 1500
        let overhead = (plan.interfaces.contains { !$0.address.isIPv4 } ? 40 : 20) + 8 + Wire.headerSize + config.security.tagSize
        let v4 = VirtualAddresses.ipv4(cluster: config.cluster, node: meNode.id)
        let v6 = VirtualAddresses.ipv6(cluster: config.cluster, node: meNode.id)
        adapter = try VirtualAdapter(name: options.adapterName, ipv4: v4, ipv6: v6, mtu: smallest - UInt32(overhead), netlink: try Netlink())
        control = try ControlServer(path: options.controlPath)
        do {
            mirror = try RouteMirror(pinRoot: options.pinRoot)
        } catch {
            logger.warning("[NETFT] no pinned route map for bpftool: \(error)")
            mirror = nil
        }
        watchdog = Watchdog(boundMilliseconds: options.watchdogMilliseconds, log: logger)
        metrics = try options.metrics.map { try NodeMetrics(listen: $0) }
        signals = netft_signals_open()
        guard signals >= 0 else { throw SystemError("open signalfd", returned: signals) }

        let now = Instant.now
        let epoch = UInt32(truncatingIfNeeded: time(nil))
        retention = config.losslessFailover ? RetentionRing(capacity: 4096) : nil
        var table = RouteTable(localNode: me.id, epoch: epoch, unackedCapacity: config.losslessFailover ? 1024 : 256)
        for route in plan.routes {
            table.add(route, now: now)
            if let link = links.firstIndex(where: { $0.name == route.localInterface }) { routeLinks[route.id] = (link, route.realRemote) }
        }
        let theKey = try key ?? ClusterKey(secret: Array("netft security level none: unused".utf8))
        engine = NodeEngine(table: table, security: config.security, key: theKey)
        for peer in config.nodes where peer.id != me.id {
            peersByVirtualAddress[VirtualAddresses.ipv4(cluster: config.cluster, node: peer.id)] = peer.id
            peersByVirtualAddress[VirtualAddresses.ipv6(cluster: config.cluster, node: peer.id)] = peer.id
        }
        for i in plan.interfaces {
            let usable = ifm.isUsable(interface: i.name, address: i.address)
            linkUsable[i.name] = usable
            if !usable { engine.table.linkChanged(interface: i.name, up: false, now: now) }
        }
        if let m = metrics { logger.info("[NETFT] Prometheus metrics on http://\(m.server.address)/metrics") }
        logger.info("[NETFT] netft \(me.name) (id \(me.id)) starting: adapter \(adapter.name) \(v4) \(v6) mtu \(adapter.mtu), dataplane \(port.kind.rawValue), security \(config.security), control \(options.controlPath)")
        logEvents()
    }

    deinit { close(signals) }

    static func openDataplane(_ wanted: DataplaneKind?, links: [DataplaneLink], config: ClusterConfig, pinRoot: String) throws -> (DataplanePort, String?) {
        switch wanted {
        case .udp?:
            return (try UDPPort(links: links, port: config.port), nil)
        case .xdp?:
            return (try XDPPort(links: links, port: config.port, pinRoot: pinRoot), nil)
        case nil:
            do {
                return (try XDPPort(links: links, port: config.port, pinRoot: pinRoot), nil)
            } catch {
                return (try UDPPort(links: links, port: config.port), "AF_XDP could not attach: \(error)")
            }
        }
    }

    // MARK: The loop

    public func run() {
        var fds = [pollfd]()
        let portDescriptors = port.descriptors
        for fd in portDescriptors { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        fds.append(pollfd(fd: adapter.fileDescriptor, events: Int16(POLLIN), revents: 0))
        let netlinkSlot = fds.count
        fds.append(pollfd(fd: interfaces.monitor.fileDescriptor, events: Int16(POLLIN), revents: 0))
        let controlSlot = fds.count
        fds.append(pollfd(fd: control.fd, events: Int16(POLLIN), revents: 0))
        let signalSlot = fds.count
        fds.append(pollfd(fd: signals, events: Int16(POLLIN), revents: 0))
        let metricsSlot = fds.count
        if let metrics { fds.append(pollfd(fd: metrics.server.fd, events: Int16(POLLIN), revents: 0)) }
        var requests: [RouteID] = []
        requests.reserveCapacity(64)

        watchdog.start()
        defer { watchdog.stop() }
        while running {
            watchdog.alive()
            let now = Instant.now
            let wait = engine.table.nextDeadline.map { $0 > now ? Int32(min(($0.nanoseconds - now.nanoseconds) / 1_000_000 + 1, 200)) : 0 } ?? 200
            for i in fds.indices { fds[i].revents = 0 }
            _ = poll(&fds, nfds_t(fds.count), wait)
            var work = true
            // Drain frames and packets until both are quiet, so a busy tunnel
            // still gets its heartbeats out each pass.
            var passes = 0
            while work && passes < 64 {
                work = false
                passes += 1
                let mallocsBefore = mallocCount?() ?? 0
                let received = receiveFrames()
                let forwarded = forwardAdapterPackets()
                if received + forwarded > 0 {
                    work = true
                    if let mallocCount {
                        // Only the frame and packet handling: heartbeats, events and control are apart.
                        hotPathMallocs &+= mallocCount() &- mallocsBefore
                        hotPathPackets &+= UInt64(received + forwarded)
                    }
                }
                port.flush()
                sendHeartbeats(&requests)
            }
            if fds[netlinkSlot].revents != 0 { followInterfaces() }
            if fds[controlSlot].revents != 0 { control.serve(answer) }
            if fds[signalSlot].revents != 0 { handleSignals() }
            if let metrics, fds[metricsSlot].revents != 0 {
                metrics.server.serve {
                    metrics.refresh(snapshot(), watchdogStalls: watchdog.stalls.load(ordering: .relaxed))
                    return metrics.registry.emitToBuffer()
                }
            }
            if retention != nil { sendAcks() }
            // The pinned route map follows every event at once, and RTT and loss every 5 s.
            if logEvents() || Instant.now.since(mirroredAt) > 5_000_000_000 { mirrorRoutes() }
        }
        log.info("[NETFT] netft \(me.name) stopping: removing \(adapter.name) and detaching the dataplane")
    }

    @inline(__always)
    func receiveFrames() -> Int {
        let now = Instant.now
        return port.receive(limit: 256) { buffer, length in
            switch engine.receive(buffer, length: length, now: now) {
            case .deliver(let offset, let count, _, let route):
                adapter.write(UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)]))
                if retention != nil {
                    if let due = ackDue[route] { ackDue[route] = (due.count + 1, due.since) } else { ackDue[route] = (1, now) }
                }
                return .done
            case .reply(let replyLength, _):
                return .reply(length: replyLength)
            case .consumed, .dropped:
                return .done
            }
        }
    }

    @inline(__always)
    func forwardAdapterPackets() -> Int {
        let now = Instant.now
        var forwarded = 0
        var empty = false
        while !empty && forwarded < 256 {
            port.send { buffer in
                let room = buffer.count - FrameCodec.payloadOffset - engine.security.tagSize
                let packet = UnsafeMutableRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset..<(FrameCodec.payloadOffset + room)])
                let n = adapter.read(into: packet)
                guard n > 0 else {
                    empty = true
                    return nil
                }
                forwarded += 1
                guard let peer = peer(of: UnsafeRawBufferPointer(packet), length: n) else {
                    noPeerDrops &+= 1
                    return nil
                }
                let slot = retention?.keep(UnsafeRawBufferPointer(rebasing: packet[0..<n]))
                guard let sent = try? engine.encapsulate(to: peer, payloadLength: n, in: buffer, now: now),
                    let target = routeLinks[sent.route]
                else {
                    noRouteDrops &+= 1
                    return nil
                }
                if let slot, let retention {
                    retention.assign(slot, route: sent.route, sequence: sent.sequence)
                    _ = engine.table.recordUnacked(on: sent.route, sequence: sent.sequence, handle: slot)
                }
                return Outbound(link: target.link, remote: target.remote, length: sent.length)
            }
        }
        return forwarded
    }

    /// The peer an inner packet is for, by its destination address.
    @inline(__always)
    func peer(of packet: UnsafeRawBufferPointer, length: Int) -> NodeID? {
        guard length >= 20 else { return nil }
        switch packet[0] >> 4 {
        case 4:
            return peersByVirtualAddress[.v4(UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))]
        case 6 where length >= 40:
            let hi = UInt64(bigEndian: packet.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            let lo = UInt64(bigEndian: packet.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            return peersByVirtualAddress[.v6(hi, lo)]
        default:
            return nil
        }
    }

    func sendHeartbeats(_ requests: inout [RouteID]) {
        let now = Instant.now
        guard let next = engine.table.nextDeadline, next <= now else { return }
        requests.removeAll(keepingCapacity: true)
        engine.table.tick(now: now) { requests.append($0) }
        for route in requests {
            guard let target = routeLinks[route] else { continue }
            port.send { buffer in
                guard let length = try? engine.heartbeatRequest(on: route, into: buffer, now: now) else { return nil }
                return Outbound(link: target.link, remote: target.remote, length: length)
            }
        }
        port.flush()
    }

    func followInterfaces() {
        do {
            let changed = try interfaces.update()
            let now = Instant.now
            for name in changed {
                let used = port.links.filter { $0.name == name }
                for link in used {
                    let up = interfaces.isUsable(interface: name, address: link.address)
                    guard linkUsable[name] != up else { continue }
                    linkUsable[name] = up
                    log.info("[IM] interface \(name) (\(link.address)) is \(up ? "up" : "down")")
                    engine.table.linkChanged(interface: name, up: up, now: now)
                }
            }
        } catch {
            log.error("[IM] reading interface changes failed: \(error)")
        }
    }

    func handleSignals() {
        while true {
            let signal = netft_signals_read(signals)
            guard signal > 0 else { return }
            switch signal {
            case SIGTERM, SIGINT:
                log.info("[NETFT] signal \(signal == SIGTERM ? "SIGTERM" : "SIGINT"): shutting down")
                running = false
            case SIGHUP:
                reload()
            default:
                break
            }
        }
    }

    /// Acknowledges received data: every 32 frames, or 5 ms after the first unacknowledged one.
    func sendAcks() {
        guard !ackDue.isEmpty else { return }
        let now = Instant.now
        for (route, due) in ackDue where due.count >= 32 || now.since(due.since) >= 5_000_000 {
            ackDue[route] = nil
            guard let target = routeLinks[route] else { continue }
            port.send { buffer in
                guard let length = try? engine.ack(on: route, into: buffer, now: now) else { return nil }
                return Outbound(link: target.link, remote: target.remote, length: length)
            }
        }
        port.flush()
    }

    /// After a failover, resends what the old route never had acknowledged.
    func resendUnacknowledged(from old: RouteID, to peer: NodeID) {
        guard let retention else { return }
        var entries: [UnackedRecord.Entry] = []
        engine.table.takeUnacked(from: old) { entries.append($0) }
        let now = Instant.now
        var count = 0
        for entry in entries {
            guard let packet = retention.packet(slot: entry.handle, route: old, sequence: entry.sequence) else { continue }
            port.send { buffer in
                UnsafeMutableRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset...]).copyMemory(from: packet)
                let slot = retention.keep(packet)
                guard let sent = try? engine.encapsulate(to: peer, payloadLength: packet.count, in: buffer, now: now, flags: .resent),
                    let target = routeLinks[sent.route]
                else { return nil }
                retention.assign(slot, route: sent.route, sequence: sent.sequence)
                _ = engine.table.recordUnacked(on: sent.route, sequence: sent.sequence, handle: slot)
                count += 1
                return Outbound(link: target.link, remote: target.remote, length: sent.length)
            }
        }
        port.flush()
        resent &+= UInt64(count)
        if count > 0 { log.info("[NETFT] lossless failover: resent \(count) unacknowledged frame\(count == 1 ? "" : "s") on the new route") }
    }

    /// Logs what happened since the last call; true if anything did.
    @discardableResult
    func logEvents() -> Bool {
        let events = engine.table.drainEvents()
        for case .routeChanged(let peer, let from?, _?) in events where engine.table.status(from)?.state == .down {
            resendUnacknowledged(from: from, to: peer)
        }
        for event in events {
            let names = config.nodes
            for line in ClusterLog.lines(for: event, route: { engine.table.status($0)?.route }, node: { id in names.first { $0.id == id }?.name }) {
                log.info("\(line)")
            }
        }
        return !events.isEmpty
    }

    /// Writes every route into the pinned map bpftool reads.
    func mirrorRoutes() {
        mirroredAt = Instant.now
        guard let mirror else { return }
        for peer in engine.table.peerIDs {
            let active = engine.table.activeRoute(to: peer)
            for id in engine.table.routeIDs(to: peer) {
                guard let s = engine.table.status(id) else { continue }
                mirror.update(.init(
                    route: s.route, state: s.state, active: active == id, rttNanoseconds: s.monitor.rtt.smoothed,
                    loss: s.monitor.history.lossRate, reason: s.state == .down ? s.diagnosis?.code ?? "" : ""))
            }
        }
    }

    /// SIGHUP: re-reads the configuration and applies changed heartbeat
    /// settings to the running routes without taking any of them down.
    func reload() {
        guard let path = options.configPath else { return log.warning("[NETFT] SIGHUP: no configuration file to reload") }
        let fresh: ClusterConfig
        do {
            fresh = try ConfigLoader.load(path: path)
        } catch {
            return log.error("[NETFT] SIGHUP: configuration refused, keeping the running one: \(error)")
        }
        var changed = 0
        for peer in engine.table.peerIDs {
            for id in engine.table.routeIDs(to: peer) {
                guard let route = engine.table.status(id)?.route else { continue }
                let settings = fresh.heartbeat.settings(crossSubnet: route.crossSubnet)
                if settings != route.heartbeat {
                    engine.table.updateHeartbeat(id, settings)
                    changed += 1
                    log.info("[NETFT] SIGHUP: route \(route.realLocal.address) -> \(route.realRemote.address): Delay \(route.heartbeat.delay.value) -> \(settings.delay.value) ms, Threshold \(route.heartbeat.threshold) -> \(settings.threshold)")
                }
            }
        }
        if fresh.networks != config.networks || fresh.nodes != config.nodes || fresh.security != config.security || fresh.port != config.port {
            log.warning("[NETFT] SIGHUP: networks, nodes, security and port changes need a restart; they were not applied")
        }
        log.info("[NETFT] SIGHUP: configuration reloaded, \(changed) route\(changed == 1 ? "" : "s") with new heartbeat settings, all kept in their state")
    }

    struct RuntimeError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}


extension Instant {
    /// CLOCK_MONOTONIC now.
    static var now: Instant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Instant(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }
}
