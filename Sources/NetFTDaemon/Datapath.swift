import Foundation
import Glibc
import Logging
import NetFTCore
import NetFTDataplane

/// The datapath thread: frames from the dataplane, packets from the virtual
/// adapter, heartbeats and their timers, and nothing else. It polls the
/// dataplane's descriptors, the adapter and its mailbox; whatever comes from
/// outside (netlink, signals, control clients, metrics scrapes) arrives as a
/// `DatapathCommand`, so no client, however slow, can delay a heartbeat.
///
/// Inbound:  dataplane -> `receiveFrames` -> engine (authenticate, window) -> adapter write / reply in place.
/// Outbound: adapter read into a dataplane buffer -> peer by inner address -> engine (route, seal) -> dataplane.
/// Timers:   `sendHeartbeats` at the route table's next deadline (heartbeats and blackhole
///           probes); `sendAcks` when Core says a peer's data is due an ack.
/// Failover: `handleEvents` right after the step that changed a route, so what
///           the old route never had acknowledged is resent before new traffic.
final class Datapath {
    var config: ClusterConfig
    let me: ClusterConfig.Node
    let log: Logger
    var engine: NodeEngine
    let adapter: any PacketAdapter
    let dataplane: Dataplane
    let mailbox: Mailbox<DatapathCommand>
    let watchdog: Watchdog
    /// Told (on this thread, cheaply) that routes changed, so the control plane mirrors them.
    let routesChanged: @Sendable () -> Void
    let started: Instant
    /// What `netft status` shows beside the routes.
    let facts: NodeFacts

    /// Per route: which dataplane link and remote endpoint carry it.
    var routeLinks: [RouteID: (link: Int, remote: Endpoint)]
    /// Inner destination address -> peer node.
    var peerDirectory: PeerDirectory
    /// Lossless failover: per peer, copies of what it has not acknowledged (nil: off).
    var retention: [NodeID: RetentionRing]?
    /// Routes a reload just removed, so the log can still name them.
    var removedRoutes: [RouteID: Route] = [:]
    var counters = Counters()
    var acksDue: [NodeID] = []
    /// Failover resends whose acknowledgement has not come yet (Datapath+Resend.swift).
    var resendWatches: [NodeID: ResendWatch] = [:]
    /// The earliest of their deadlines: the loop wakes for it.
    var resendDeadline: Instant?
    /// Allocations on the packet path, when a malloc counter is preloaded (netft bench).
    let mallocCount: (@convention(c) () -> UInt64)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "netft_malloc_thread_count") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) () -> UInt64).self)
    }()
    private var running = true
    /// The dataplane gained descriptors (a link attached by a reload): poll them from the next pass.
    var descriptorsChanged = false
    /// Protocol time: heartbeats, acks, route decisions. The host's monotonic
    /// clock, or a test's when it steps nodes itself (`pass(maxWait: 0)`).
    let clock: @Sendable () -> Instant
    var loop = LoopState()
    /// Told which links a reload attached, so the control plane follows them too.
    var linksAttached: @Sendable ([DataplaneLink]) -> Void = { _ in }
    private var commands: [DatapathCommand] = []
    /// One adapter read: a virtio-net header and up to 64 KB.
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: largestAdapterRead, alignment: 64)
    private var unsent: UnsentRead?
    /// Receive-side coalescing before the adapter write (GRO).
    let coalescer = Coalescer()

    struct Counters {
        var resent: UInt64 = 0
        /// Frames resent again because the peer's ack stalled after a failover's resend.
        var resentAgain: UInt64 = 0
        /// Failover resends still unacknowledged after `Datapath.resendAttempts`.
        var resendsAbandoned: UInt64 = 0
        /// Unacknowledged frames a failover could not resend (overwritten in the retention).
        var unrecoverable: UInt64 = 0
        var noRouteDrops: UInt64 = 0
        var noPeerDrops: UInt64 = 0
        /// Adapter reads deferred because the dataplane had no free buffer (UMEM exhausted).
        var backPressure: UInt64 = 0
        var hotPathMallocs: UInt64 = 0
        var hotPathPackets: UInt64 = 0
        /// Adapter reads, and the wire segments they became (TSO/USO in software).
        var adapterReads: UInt64 = 0
        var adapterReadSegments: UInt64 = 0
        /// Reads whose virtio-net header or headers could not be segmented.
        var offloadMalformed: UInt64 = 0
        /// Adapter writes the kernel refused.
        var adapterWriteErrors: UInt64 = 0
        /// Segments larger than a dataplane buffer (an MTU above what the adapter was given).
        var segmentTooLarge: UInt64 = 0
        /// The loop's own stalls, apart from the host's: the longest pass (our work,
        /// from poll's return to the next poll) and the latest a timed wake-up came
        /// (the scheduler's delay), and how many came over 10 ms late.
        var longestPass: UInt64 = 0
        var longestLateWake: UInt64 = 0
        var lateWakes: UInt64 = 0
    }

    /// What is left of an adapter read when the dataplane ran out of buffers.
    struct UnsentRead {
        var plan: SegmentPlan
        var peer: NodeID
        var length: Int
        var next: Int
    }

    /// Facts fixed at start, for the status document.
    struct NodeFacts {
        var dataplaneReason: String?
        var warnings: [String]
    }

    init(
        config: ClusterConfig, me: ClusterConfig.Node, log: Logger, engine: NodeEngine, adapter: any PacketAdapter, dataplane: Dataplane,
        routeLinks: [RouteID: (link: Int, remote: Endpoint)], retention: [NodeID: RetentionRing]?, facts: NodeFacts,
        mailbox: Mailbox<DatapathCommand>, watchdog: Watchdog, clock: @escaping @Sendable () -> Instant = { .now },
        routesChanged: @escaping @Sendable () -> Void
    ) {
        self.clock = clock
        started = clock()
        self.config = config
        self.me = me
        self.log = log
        self.engine = engine
        self.adapter = adapter
        self.dataplane = dataplane
        self.routeLinks = routeLinks
        self.retention = retention
        self.facts = facts
        self.mailbox = mailbox
        self.watchdog = watchdog
        self.routesChanged = routesChanged
        peerDirectory = PeerDirectory(config, me: me.id)
        commands.reserveCapacity(16)
        acksDue.reserveCapacity(config.nodes.count)
    }

    deinit { readBuffer.deallocate() }

    // MARK: The loop

    func run() {
        watchdog.start()
        defer { watchdog.stop() }
        while running { pass() }
        log.info("[NETFT] netft \(me.name) stopping: removing \(adapter.name) and detaching the dataplane")
    }

    /// The loop's own state between passes.
    struct LoopState {
        /// The dataplane's descriptors, then the adapter's, then the mailbox's.
        var fds: [pollfd] = []
        var adapterSlot = 0
        var mailboxSlot = 0
        var requests: [RouteID] = []
        var backedOff = false
        var started = false
    }

    private func buildPollSet() {
        loop.fds = dataplane.descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        loop.fds.append(pollfd(fd: adapter.fileDescriptor, events: Int16(POLLIN), revents: 0))
        loop.fds.append(pollfd(fd: mailbox.fd, events: Int16(POLLIN), revents: 0))
        (loop.adapterSlot, loop.mailboxSlot) = (loop.fds.count - 2, loop.fds.count - 1)
    }

    /// One pass of the loop: wait for a descriptor (at most until the next
    /// timer, or `maxWait` ms: 0 when a test steps the node on its own
    /// clock), then drain frames, packets, timers and commands.
    func pass(maxWait: Int32? = nil) {
        if !loop.started {
            loop.started = true
            loop.requests.reserveCapacity(64)
            buildPollSet()
            handleEvents()
        }
        if descriptorsChanged {
            descriptorsChanged = false
            buildPollSet()
        }
        watchdog.alive()
        let now = clock()
        // With no free buffer, the adapter is not polled (its queue holds the
        // packets) and the loop wakes each millisecond to reclaim completions.
        loop.fds[loop.adapterSlot].events = loop.backedOff ? 0 : Int16(POLLIN)
        let limit: Int32 = maxWait ?? (loop.backedOff ? 1 : 200)
        // No array here: this runs on every pass of the loop.
        var deadline = engine.table.nextDeadline
        if let ack = engine.nextAckDeadline, deadline.map({ ack < $0 }) ?? true { deadline = ack }
        if let resend = resendDeadline, deadline.map({ resend < $0 }) ?? true { deadline = resend }
        let wait = deadline.map { $0 > now ? Int32(min(($0.nanoseconds - now.nanoseconds) / 1_000_000 + 1, UInt64(limit))) : 0 } ?? limit
        for i in loop.fds.indices { loop.fds[i].revents = 0 }
        // The loop's health is measured on the host's clock, whatever `clock` says.
        let asleep = MonotonicClock.nanoseconds
        let ready = poll(&loop.fds, nfds_t(loop.fds.count), wait)
        let woke = MonotonicClock.nanoseconds
        if ready == 0 { noteWake(after: woke - asleep, asked: wait) }
        defer { counters.longestPass = max(counters.longestPass, MonotonicClock.nanoseconds - woke) }
        let adapterSlot = loop.adapterSlot
        for i in 0..<adapterSlot where loop.fds[i].revents != 0 { dataplane.readable(loop.fds[i].fd) }
        // Drain frames and packets until both are quiet, so a busy tunnel
        // still gets its heartbeats out each pass.
        var passes = 0
        var work = true
        var checked = woke
        while work && passes < 64 {
            passes += 1
            // The kernel sockets (heartbeats) are read only when poll says so:
            // while busy, ask again each millisecond, so a burst of data
            // never keeps a heartbeat waiting (no syscall per pass).
            if passes > 1 && MonotonicClock.nanoseconds - checked > 1_000_000 {
                checked = MonotonicClock.nanoseconds
                _ = poll(&loop.fds, nfds_t(adapterSlot), 0)
                for i in 0..<adapterSlot where loop.fds[i].revents != 0 { dataplane.readable(loop.fds[i].fd) }
            }
            var mallocs = mallocCount?() ?? 0
            let received = receiveFrames()
            if engine.table.hasPendingEvents {
                // Events (a failover's resend and its log lines) are not the packet path.
                counters.hotPathMallocs &+= (mallocCount?() ?? 0) &- mallocs
                handleEvents()
                mallocs = mallocCount?() ?? 0
            }
            let (forwarded, starved) = forwardAdapterPackets()
            loop.backedOff = starved
            work = received + forwarded > 0 && !starved
            dataplane.flush()
            if received + forwarded > 0, let mallocCount {
                // Frames in, packets out and the flush that sends them; heartbeats and commands are apart.
                counters.hotPathMallocs &+= mallocCount() &- mallocs
                counters.hotPathPackets &+= UInt64(received + forwarded)
            }
            sendHeartbeats(&loop.requests)
            if engine.table.hasPendingEvents { handleEvents() }
            sendAcks()
        }
        if resendDeadline != nil { retryStalledResends() }
        if loop.fds[loop.mailboxSlot].revents != 0 { handleCommands() }
        if engine.table.hasPendingEvents { handleEvents() }
    }

    /// A timed wake-up that came later than asked: the thread was not run (host load).
    @inline(__always)
    func noteWake(after slept: UInt64, asked milliseconds: Int32) {
        let late = slept &- min(slept, UInt64(milliseconds) * 1_000_000)
        counters.longestLateWake = max(counters.longestLateWake, late)
        if late > 10_000_000 { counters.lateWakes &+= 1 }
    }

    @inline(__always)
    func receiveFrames() -> Int {
        let now = clock()
        let handled = dataplane.receive(limit: 256) { buffer, length, path in
            switch engine.receive(buffer, length: length, from: path, now: now) {
            case .deliver(let offset, let count, _, _):
                coalescer.add(UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)])) { writeAdapter($0, $1) }
                return .done
            case .reply(let replyLength, _):
                return .reply(length: replyLength)
            case .consumed, .dropped:
                return .done
            }
        }
        // A run never outlives its receive batch.
        coalescer.flush { writeAdapter($0, $1) }
        return handled
    }

    /// One packet to the kernel; a refusal (a malformed coalesced packet, a full queue) is counted, never silent.
    @inline(__always)
    func writeAdapter(_ header: VirtioNetHeader, _ packet: UnsafeRawBufferPointer) {
        if !adapter.write(header, packet) { counters.adapterWriteErrors &+= 1 }
    }

    /// Reads the adapter (a packet or a 64 KB super-packet) and sends it as
    /// wire-sized segments, each written straight into a dataplane buffer;
    /// `starved` when the dataplane had no buffer to lend (counted; what is
    /// left of the read waits in `unsent` for the next pass, nothing is lost).
    @inline(__always)
    func forwardAdapterPackets() -> (forwarded: Int, starved: Bool) {
        let now = clock()
        var forwarded = 0
        while forwarded < 256 {
            if unsent == nil {
                let n = adapter.read(into: readBuffer)
                guard n > 0 else { break }
                counters.adapterReads &+= 1
                guard n > VirtioNetHeader.size else {
                    counters.offloadMalformed &+= 1
                    continue
                }
                let packet = UnsafeRawBufferPointer(rebasing: readBuffer[VirtioNetHeader.size..<n])
                guard let peer = peerDirectory.peer(of: packet, length: packet.count) else {
                    counters.noPeerDrops &+= 1
                    continue
                }
                guard let plan = try? SegmentPlan(packet, header: VirtioNetHeader(UnsafeRawBufferPointer(readBuffer))) else {
                    counters.offloadMalformed &+= 1
                    continue
                }
                unsent = UnsentRead(plan: plan, peer: peer, length: n, next: 0)
            }
            while let read = unsent, read.next < read.plan.count {
                let packet = UnsafeRawBufferPointer(rebasing: readBuffer[VirtioNetHeader.size..<read.length])
                let lent = dataplane.send { buffer in
                    let room = buffer.count - FrameCodec.payloadOffset - engine.security.tagSize
                    let area = UnsafeMutableRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset..<(FrameCodec.payloadOffset + room)])
                    let n = read.plan.write(read.next, of: packet, into: area)
                    guard n > 0 else {
                        counters.segmentTooLarge &+= 1
                        return nil
                    }
                    // The copy is taken before sealing (encryption works in place), under
                    // the stream sequence the frame is about to get.
                    if let ring = retention?[read.peer], let sent = engine.streams[read.peer]?.sent, let acknowledged = engine.streams[read.peer]?.acknowledged {
                        ring.keep(UnsafeRawBufferPointer(rebasing: area[0..<n]), sequence: sent &+ 1, acknowledged: acknowledged)
                    }
                    guard let sent = try? engine.encapsulate(to: read.peer, payloadLength: n, in: buffer, now: now),
                        let target = routeLinks[sent.route]
                    else {
                        counters.noRouteDrops &+= 1
                        return nil
                    }
                    return Outbound(link: target.link, remote: target.remote, length: sent.length)
                }
                if !lent {
                    counters.backPressure &+= 1
                    return (forwarded, true)
                }
                unsent!.next += 1
                forwarded += 1
                counters.adapterReadSegments &+= 1
            }
            unsent = nil
        }
        return (forwarded, false)
    }

    func sendHeartbeats(_ requests: inout [RouteID]) {
        let now = clock()
        guard let next = engine.table.nextDeadline, next <= now else { return }
        requests.removeAll(keepingCapacity: true)
        engine.table.tick(now: now) { requests.append($0) }
        for route in requests {
            guard let target = routeLinks[route] else { continue }
            if engine.helloDue(on: route, now: now) {
                dataplane.sendControl { buffer in
                    guard let length = try? engine.hello(on: route, into: buffer, now: now) else { return nil }
                    return Outbound(link: target.link, remote: target.remote, length: length)
                }
            }
            // Before the handshake there is no traffic key: the request is not sent (the tick still counts it).
            dataplane.sendControl { buffer in
                guard let length = try? engine.heartbeatRequest(on: route, into: buffer, now: now) else { return nil }
                return Outbound(link: target.link, remote: target.remote, length: length)
            }
        }
        dataplane.flush()
    }

    /// Acknowledges received data when Core says it is due (every 32 frames,
    /// or 5 ms after the first), on the route the data came in on.
    func sendAcks() {
        let now = clock()
        engine.acksDue(now: now) { acksDue.append($0) }
        guard !acksDue.isEmpty else { return }
        for peer in acksDue {
            dataplane.sendControl { buffer in
                guard let (route, length) = try? engine.ack(to: peer, into: buffer, now: now), let target = routeLinks[route] else { return nil }
                return Outbound(link: target.link, remote: target.remote, length: length)
            }
        }
        acksDue.removeAll(keepingCapacity: true)
        dataplane.flush()
    }

    /// Resends after failovers, logs every event, and tells the control plane
    /// (which mirrors the routes). Called right after the step that made them.
    func handleEvents() {
        let events = engine.table.drainEvents()
        for peer in engine.peersToResend(after: events) { resendUnacknowledged(to: peer) }
        let names = config.nodes
        for event in events {
            for line in ClusterLog.lines(for: event, route: { engine.table.status($0)?.route ?? removedRoutes[$0] }, node: { id in names.first { $0.id == id }?.name }) {
                log.info("\(line)")
            }
        }
        removedRoutes = [:]
        routesChanged()
    }

    // MARK: Commands from the control plane

    func handleCommands() {
        mailbox.take(into: &commands)
        defer { commands.removeAll(keepingCapacity: true) }
        for command in commands {
            switch command {
            case .linkChanged(let interface, let up):
                engine.table.linkChanged(interface: interface, up: up, now: clock())
            case .neighbours(let table):
                dataplane.updateNeighbours(table)
            case .sourceMAC(let link, let mac):
                dataplane.updateSourceMAC(link: link, mac: mac)
            case .reload(let plan, let reply):
                apply(plan, reply: reply)
            case .rotateKey(let key):
                guard key.fingerprint != engine.sessions.key.fingerprint else { break }
                engine.rotateKey(to: key)
            case .status(let reply):
                reply(snapshot())
            case .routeMirror(let reply):
                reply(mirrorEntries())
            case .stop(let reason):
                log.info("[NETFT] \(reason): shutting down")
                running = false
            }
        }
    }

    /// Every route as the pinned map shows it.
    func mirrorEntries() -> [RouteMirror.Entry] {
        var entries: [RouteMirror.Entry] = []
        for peer in engine.table.peerIDs {
            let active = engine.table.activeRoute(to: peer)
            for id in engine.table.routeIDs(to: peer) {
                guard let s = engine.table.status(id) else { continue }
                entries.append(.init(
                    route: s.route, state: s.state, active: active == id, rttNanoseconds: s.monitor.rtt.smoothed,
                    loss: s.monitor.history.lossRate, reason: s.state == .down ? s.diagnosis?.code ?? "" : ""))
            }
        }
        return entries
    }
}
