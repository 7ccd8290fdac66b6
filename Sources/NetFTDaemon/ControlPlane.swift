import CNetFTShims
import Foundation
import Glibc
import Logging
import NetFTCore
import NetFTDataplane

/// The control plane's own thread: netlink (links, addresses, neighbours,
/// MACs), signals, the parent watch and the pinned route map. It never
/// touches the route table: it tells the datapath through its mailbox, and
/// learns from it through snapshots. The control socket and the metrics
/// endpoint run on SwiftNIO's event loop beside it (`ControlServer`).
final class ControlPlane: @unchecked Sendable {
    /// What the datapath (or shutdown) tells the control plane.
    enum Message: Sendable {
        case routesChanged
        case mirror([RouteMirror.Entry])
        /// A reload attached the dataplane to these links: follow them too.
        case linksAttached([DataplaneLink])
        /// `netft reload`: as SIGHUP; `reply` gets the outcome (true: applied).
        case reload(reply: @Sendable (_ applied: Bool, _ summary: String) -> Void)
        case stop
    }

    let log: Logger
    let mailbox: Mailbox<Message>
    private let datapath: Mailbox<DatapathCommand>
    private let interfaces: InterfaceManager
    private var links: [DataplaneLink]
    private let mirror: RouteMirror?
    private let signals: Int32
    private let lock: InstanceLock
    private let configPath: String?
    private let me: ClusterConfig.Node
    /// The configuration the node runs (the last reload applied).
    private var runningConfig: ClusterConfig
    /// A pidfd of the process whose exit stops this node (`--stop-with-pid`), -1 if none.
    private let parent: Int32
    private let parentPID: pid_t?
    private var linkUsable: [String: Bool] = [:]
    /// The last MAC seen for each next hop on the node's links. A flushed or
    /// failed kernel entry does not erase it (a peer's MAC does not change
    /// because our link went down); only a new MAC replaces it.
    private var known: [IPAddress: (index: Int32, mac: [UInt8])] = [:]
    /// Peers' addresses behind a router, with the gateway the kernel sends
    /// them to: the fast path writes the gateway's MAC for them.
    private var gateways: [IPAddress: (gateway: IPAddress, index: Int32)] = [:]
    /// What the datapath was last given.
    private var neighbours: [IPAddress: UInt64] = [:]
    private var thread: Thread?
    private var running = true
    /// When the route map was last mirrored, on the monotonic clock (seconds):
    /// a wall-clock step back must not stop the mirror until the clock catches up.
    private var mirroredAt = -Double.infinity
    private var mirrorWanted = true

    init(
        log: Logger, datapath: Mailbox<DatapathCommand>, interfaces: InterfaceManager, links: [DataplaneLink], mirror: RouteMirror?,
        signals: Int32, lock: InstanceLock, configPath: String?, stopWithPID: pid_t?, config: ClusterConfig, me: ClusterConfig.Node
    ) throws(SystemError) {
        runningConfig = config
        self.me = me
        self.log = log
        self.datapath = datapath
        self.interfaces = interfaces
        self.links = links
        self.mirror = mirror
        self.signals = signals
        self.lock = lock
        self.configPath = configPath
        mailbox = try Mailbox()
        parentPID = stopWithPID
        if let pid = stopWithPID {
            parent = netft_pidfd_open(pid)
            guard parent >= 0 else { throw SystemError("watch process \(pid) (--stop-with-pid): it is not running", returned: parent) }
        } else {
            parent = -1
        }
        for link in links { linkUsable[link.name] = interfaces.isUsable(interface: link.name, address: link.address) }
        for n in interfaces.neighbours(on: links) { known[n.address] = (n.interfaceIndex, n.mac!) }
        lookUpGateways()
        neighbours = nextHopMACs()
    }

    deinit { if parent >= 0 { close(parent) } }

    /// Which links can carry traffic at start.
    var unusableLinks: [String] { links.map(\.name).filter { linkUsable[$0] == false } }

    func start() {
        datapath.post(.neighbours(neighbours))
        let t = Thread { [self] in loop() }
        t.name = "netft-control"
        thread = t
        t.start()
    }

    /// Ends the thread (after the datapath stopped) and waits for it.
    func stop() {
        mailbox.post(.stop)
        while thread?.isFinished == false { usleep(1000) }
        thread = nil  // it holds its closure, and so this object: let both go
    }

    private func loop() {
        var fds = [
            pollfd(fd: interfaces.monitor.fileDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
            pollfd(fd: lock.fd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: mailbox.fd, events: Int16(POLLIN), revents: 0),
        ]
        if parent >= 0 { fds.append(pollfd(fd: parent, events: Int16(POLLIN), revents: 0)) }
        var messages: [Message] = []
        while running {
            for i in fds.indices { fds[i].revents = 0 }
            // A mirror wanted soon wakes the loop in time for it.
            let due = 0.05 - (MonotonicClock.seconds - mirroredAt)
            let wait: Int32 = mirrorWanted && mirror != nil ? Int32(max(1, min(1000, due * 1000))) : 1000
            _ = poll(&fds, nfds_t(fds.count), wait)
            if fds[0].revents != 0 { followInterfaces() }
            if fds[1].revents != 0 { handleSignals() }
            if fds[2].revents != 0 { lock.answerProbes() }
            if fds.count > 4, fds[4].revents != 0 {
                datapath.post(.stop(reason: "process \(parentPID ?? 0) (--stop-with-pid) exited"))
                close(fds[4].fd)
                fds.removeLast()
            }
            if fds[3].revents != 0 {
                mailbox.take(into: &messages)
                for message in messages {
                    switch message {
                    case .routesChanged: mirrorWanted = true
                    case .mirror(let entries): for e in entries { mirror?.update(e) }
                    case .linksAttached(let added): follow(added)
                    case .reload(let reply): reload(reply: reply)
                    case .stop: running = false
                    }
                }
                messages.removeAll(keepingCapacity: true)
            }
            // The pinned route map follows events (at most every 50 ms) and RTT and loss every 5 s.
            let sinceMirror = MonotonicClock.seconds - mirroredAt
            if mirror != nil && ((mirrorWanted && sinceMirror > 0.05) || sinceMirror > 5) {
                mirrorWanted = false
                mirroredAt = MonotonicClock.seconds
                let back = mailbox
                datapath.post(.routeMirror { back.post(.mirror($0)) })
            }
        }
    }

    /// Links the dataplane attached at runtime: their state, neighbours and gateways from now on.
    private func follow(_ added: [DataplaneLink]) {
        for link in added {
            links.append(link)
            linkUsable[link.name] = interfaces.isUsable(interface: link.name, address: link.address)
            if linkUsable[link.name] == false { datapath.post(.linkChanged(interface: link.name, up: false)) }
        }
        for n in interfaces.neighbours(on: added) { known[n.address] = (n.interfaceIndex, n.mac!) }
        lookUpGateways()
        publishNextHops()
    }

    private func followInterfaces() {
        let changes = interfaces.update()
        if changes.resynced { log.warning("[IM] netlink notifications were lost; interfaces, addresses and neighbours read again") }
        for name in changes.interfaces {
            for link in links where link.name == name {
                let up = interfaces.isUsable(interface: name, address: link.address)
                guard linkUsable[name] != up else { continue }
                linkUsable[name] = up
                log.info("[IM] interface \(name) (\(link.address)) is \(up ? "up" : "down")")
                if up { restoreNeighbours(on: link) }
                datapath.post(.linkChanged(interface: name, up: up))
            }
        }
        for (name, mac) in changes.macs {
            guard let i = links.firstIndex(where: { $0.name == name }) else { continue }
            let text = mac.map { String(format: "%02x", $0) }.joined(separator: ":")
            datapath.post(.sourceMAC(link: i, mac: XDPDataplane.mac(mac)))
            do {
                try GratuitousARP.send(interfaceIndex: links[i].index, name: name, mac: mac, address: links[i].address)
                log.info("[IM] interface \(name) has a new MAC \(text): announced to the network with a gratuitous ARP")
            } catch {
                log.warning("[IM] interface \(name) has a new MAC \(text); announcing it failed: \(error)")
            }
        }
        let indexes = Set(links.map(\.index))
        let seen = changes.resynced ? interfaces.neighbours(on: links) : changes.neighbours
        for n in seen where indexes.contains(n.interfaceIndex) {
            if let mac = n.mac { known[n.address] = (n.interfaceIndex, mac) }
        }
        if changes.routes || changes.resynced || !changes.interfaces.isEmpty { lookUpGateways() }
        publishNextHops()
    }

    /// Hands the datapath the next-hop MAC of every address it may send to, if it changed.
    private func publishNextHops() {
        let table = nextHopMACs()
        if table != neighbours {
            neighbours = table
            datapath.post(.neighbours(table))
        }
    }

    /// Every neighbour's MAC, and for a peer behind a router its gateway's.
    private func nextHopMACs() -> [IPAddress: UInt64] {
        var table = known.mapValues { XDPDataplane.mac($0.mac) }
        for (remote, hop) in gateways {
            if let entry = known[hop.gateway], entry.index == hop.index { table[remote] = XDPDataplane.mac(entry.mac) } else { table[remote] = nil }
        }
        return table
    }

    /// Asks the kernel's routing table where each peer address goes out of
    /// the link of its network (routed networks: a gateway).
    private func lookUpGateways() {
        var found: [IPAddress: (gateway: IPAddress, index: Int32)] = [:]
        for peer in runningConfig.nodes where peer.id != me.id {
            for remote in peer.addresses {
                guard let network = runningConfig.network(containing: remote),
                    let link = links.first(where: { network.contains($0.address) }),
                    let gateway = interfaces.gateway(to: remote, index: link.index)
                else { continue }
                found[remote] = (gateway, link.index)
            }
        }
        let before = gateways.mapValues(\.gateway)
        gateways = found
        for (remote, hop) in found where before[remote] != hop.gateway {
            log.info("[IM] \(remote) is behind router \(hop.gateway): the fast path sends to its MAC")
        }
    }

    /// A link came back: the kernel flushed its neighbours when it went down.
    private func restoreNeighbours(on link: DataplaneLink) {
        for (address, entry) in known where entry.index == link.index {
            do {
                try interfaces.restoreNeighbour(address, mac: entry.mac, index: entry.index)
            } catch {
                log.warning("[IM] could not restore neighbour \(address) on \(link.name): \(error)")
            }
        }
    }

    private func handleSignals() {
        while true {
            let signal = netft_signals_read(signals)
            guard signal > 0 else { return }
            switch signal {
            case SIGTERM, SIGINT:
                datapath.post(.stop(reason: "signal \(signal == SIGTERM ? "SIGTERM" : "SIGINT")"))
            case SIGHUP:
                reload(reply: nil)
            default:
                break
            }
        }
    }

    /// SIGHUP or `netft reload`: reads and validates the configuration here,
    /// off the datapath, plans the change, and hands it over only if it is good.
    private func reload(reply: (@Sendable (Bool, String) -> Void)?) {
        func refuse(_ why: String) {
            log.error("[NETFT] SIGHUP: \(why)")
            reply?(false, why)
        }
        guard let configPath else { return refuse("no configuration file to reload (the node was started without --config)") }
        let fresh: ClusterConfig
        let plan: ReloadPlan
        do {
            fresh = try ConfigLoader.load(path: configPath)
            plan = try ReloadPlan.make(
                fresh: fresh, running: runningConfig, me: me, links: links, interfaces: interfaces.localInterfaces,
                interfaceIndex: { [interfaces] in interfaces.link(named: $0)?.index })
        } catch {
            return refuse("configuration refused, keeping the running one: \(error)")
        }
        runningConfig = plan.config
        datapath.post(.reload(plan, reply: reply))
        lookUpGateways()
        publishNextHops()
        // The key file is read again too: a new key starts a rotation (the
        // datapath ignores the key it already runs).
        guard fresh.security != .none, let keyPath = fresh.keyFile else { return }
        do {
            datapath.post(.rotateKey(try KeyFile.load(path: keyPath, cluster: fresh.cluster).key))
        } catch {
            log.error("[NETFT] SIGHUP: key file refused, keeping the running key: \(error)")
        }
    }
}
