import Foundation
import Glibc
import NetFTCore
import NetFTFabric
import NetFTDaemon
import NetFTDataplane

/// Builds the lab fabric, brings every route up, checks reachability, and
/// replays the field failures one after another, measuring each.
public final class LabRunner {
    public let fabric: ClusterFabric
    let progress: (String) -> Void
    let started = Date()
    /// The heartbeat settings the fabric runs with.
    let heartbeat: HeartbeatSettings
    /// Cluster software running on the fabric (`--stack corosync`), if any.
    public private(set) var stack: CorosyncStack?
    /// From the first daemon's start until every route of the fabric was up (set by `bringUp`).
    public private(set) var convergeMilliseconds: Int?

    public init(spec: ClusterFabric.Spec, binary: String, progress: @escaping (String) -> Void) throws {
        self.progress = progress
        var config = ClusterConfig.Heartbeat()
        config.profile = spec.profile
        // The scenarios watch node1 and node2, which a routed lab puts in different subnets.
        heartbeat = config.settings(crossSubnet: spec.topology.isRouted)
        progress("building \(spec.nodes) nodes x \(spec.networks) networks")
        fabric = try ClusterFabric(spec: spec, binary: binary, tag: "lab")
    }

    /// Starts the daemons and waits for every route; then pings every virtual address from every node.
    public func bringUp() throws -> [String] {
        progress("starting \(fabric.nodes.count) daemons (\(fabric.spec.dataplane.rawValue) dataplane, \(fabric.spec.underlay.rawValue) underlay, \(fabric.spec.profile.rawValue) profile)")
        let started = MonotonicClock.seconds
        try fabric.startAll()
        progress("waiting for every route to come up (\(fabric.routeCount) routes)")
        // Sixteen daemons starting at once on two cores take a while; the wait grows with the fabric.
        let wait = 20 + Double(fabric.routeCount) / 50
        guard fabric.waitAllRoutesUp(seconds: wait) else {
            throw LabError("routes did not all come up within \(Int(wait)) s; daemon logs:\n" + fabric.nodes.map { "--- \($0.name)\n\(fabric.log($0.name).suffix(2000))" }.joined(separator: "\n"))
        }
        convergeMilliseconds = Int((MonotonicClock.seconds - started) * 1000)
        progress("all \(fabric.routeCount) routes up \(convergeMilliseconds!) ms after the first daemon started")
        var failures: [String] = []
        for a in fabric.nodes {
            let peers = fabric.nodes.filter { $0.name != a.name }
            progress("ping \(peers.map(\.name).joined(separator: ", ")) from \(a.name)")
            // Every peer at once: one after the other, 240 pairs at 16 nodes took 12 s.
            let answered = Shell.runTogether(peers.map { ["nsenter", "--net=\(NetworkNamespace.path(a.namespace))", "ping", "-c", "1", "-W", "2", "\($0.virtualIPv4)"] })
            for (b, ok) in zip(peers, answered) where !ok { failures.append("\(a.name) -> \(b.name) (\(b.virtualIPv4))") }
        }
        return failures
    }

    /// Starts corosync on every node and waits for the full ring.
    public func startStack(_ placement: CorosyncStack.Placement) throws {
        progress("starting corosync on every node (\(placement.rawValue))")
        let stack = try CorosyncStack(fabric: fabric, placement: placement)
        self.stack = stack
        guard stack.waitFormed(seconds: 30) else { throw LabError("corosync did not form a ring of \(fabric.nodes.count) within 30 s (logs under \(fabric.logDirectory)/corosync)") }
    }

    public func run(_ scenario: LabScenario) -> ScenarioResult {
        progress("scenario \(scenario.rawValue): \(scenario.summary)")
        let resentBefore = resent()
        let ringsBefore = stack?.memberships ?? 0
        let linkDownsBefore = stack?.linkDowns ?? 0
        lastStream = nil
        let recorder = RouteTimelineRecorder(fabric: fabric)
        var result = scenarioOutcome(scenario)
        result.timeline = recorder.stop(stream: lastStream)
        // Per node, never below zero: a restarted daemon starts counting again.
        result.resent_packets = resent().map { max(0, $0.value - (resentBefore[$0.key] ?? 0)) }.reduce(0, +)
        guard let stack else { return result }
        // An observation window, not a wait for an event: a lost ring shows
        // within one corosync token (1 s) after the fault; count after 1.5 s.
        Thread.sleep(forTimeInterval: 1.5)
        _ = stack.waitFormed(seconds: 10)
        result.ring_reformations = stack.memberships - ringsBefore
        result.knet_link_downs = stack.linkDowns - linkDownsBefore
        // Over netft, corosync must not notice a network fault; a node that
        // lost every network must leave the ring and come back.
        if stack.placement == .netft {
            switch scenario {
            case .totalLoss:
                if result.ring_reformations == 0 { result.failures.append("corosync never noticed node1 was gone") }
                if !stack.formed { result.failures.append("corosync did not re-form the full ring") }
            case .restart:
                break  // the node's own software restarting, not a network fault: reported only
            default:
                if result.ring_reformations != 0 { result.failures.append("corosync re-formed its ring \(result.ring_reformations!) times") }
            }
            result.passed = result.failures.isEmpty
        }
        return result
    }

    func scenarioOutcome(_ scenario: LabScenario) -> ScenarioResult {
        let relayedBefore = fabric.relayCounts
        let streamBefore = lastStream
        do {
            var result: ScenarioResult
            switch scenario {
            case .linkDown: result = try linkDown()
            case .firewall: result = try firewall(bothWays: true, network: 0)
            case .asymmetric: result = try firewall(bothWays: false, network: 0)
            case .firewallStandby: result = try firewall(bothWays: true, network: 1)
            case .asymmetricStandby: result = try firewall(bothWays: false, network: 1)
            case .flapping: result = try flapping()
            case .totalLoss: result = try totalLoss()
            case .restart: result = try restart()
            case .routerFailure: result = try halvesCut(.router)
            case .interSiteLink: result = try halvesCut(.interSiteLink)
            }
            // A loss in the lab's own relay is not the network's nor netft's: named apart.
            let lostInRelay = fabric.relayCounts.droppedInSocket - relayedBefore.droppedInSocket
            if lostInRelay > 0 {
                result.passed = false
                result.failures.append("the lab's inter-site relay dropped \(lostInRelay) frames in its own socket (the instrument's loss; see wanK.stats.json)")
            }
            if let stream = lastStream, stream !== streamBefore, stream.droppedByReceiver > 0 {
                result.passed = false
                result.failures.append("the lab's stream receiver dropped \(stream.droppedByReceiver) datagrams in its own socket (the instrument's loss)")
            }
            // Every scenario leaves the fabric as it found it: all routes up and
            // traffic back on the preferred network (after the hold-down).
            let settled = fabric.waitAllRoutesUp(seconds: 15) && fabric.wait(seconds: Double(heartbeat.detectionTime.value * 4) / 1000 + 5) {
                fabric.nodes.allSatisfy { n in
                    fabric.routes(n.name).filter { $0.active == true }.allSatisfy { $0.network == "net1" }
                }
            }
            if !settled {
                var r = result
                r.passed = false
                r.failures.append("the fabric did not settle back (all routes up, traffic on net1) afterwards")
                return r
            }
            return result
        } catch {
            return ScenarioResult(name: scenario.rawValue, passed: false, diagnosis: "", expectation: "", failures: ["\(error)"])
        }
    }

    // MARK: Helpers

    func route(_ node: String, peer: String, network: Int) -> NodeStatus.RouteInfo? {
        fabric.routes(node).first { $0.peer == peer && $0.network == "net\(network + 1)" }
    }

    func reachable(_ node: String, _ peer: String) -> Bool {
        fabric.status(node)?.nodes.first { $0.name == peer }?.reachable ?? false
    }

    /// Milliseconds until `condition` holds (nil if not within `seconds`).
    func measure(seconds: Double, _ condition: () -> Bool) -> Int? {
        let start = Date()
        return fabric.wait(seconds: seconds, condition) ? Int(Date().timeIntervalSince(start) * 1000) : nil
    }

    /// Frames resent by lossless failover so far, per running node.
    func resent() -> [String: Int] {
        var counts: [String: Int] = [:]
        for n in fabric.nodes { counts[n.name] = Int(fabric.counter(n.name, "lossless_resent")) }
        return counts
    }

    /// With cluster software on top, a fault lasts at least this long, past
    /// corosync's own timeouts (token 1 s, knet link 0.5 s), so a baseline
    /// without netft must meet it; without, scenarios end once measured.
    var faultHold: TimeInterval { stack == nil ? 0 : 2 }

    /// Waits until `faultHold` has passed since `start`.
    func hold(since start: Date) {
        let left = faultHold - Date().timeIntervalSince(start)
        if left > 0 { Thread.sleep(forTimeInterval: left) }
    }

    /// The scenario's test stream, kept after it stops for the timeline's gaps.
    var lastStream: TrafficStream?

    func stream() throws -> TrafficStream {
        let b = fabric.node("node2")
        let s = try TrafficStream(from: fabric.node("node1").namespace, to: b.namespace, address: b.virtualIPv4)
        lastStream = s
        guard s.waitForFlow(after: 0, seconds: 5) else { throw LabError("the test stream node1 -> node2 never flowed") }
        return s
    }

    func nft(_ namespace: String, _ rules: String) throws {
        let path = "\(fabric.workDirectory)/rules-\(UInt32.random(in: 0...UInt32.max)).nft"
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        try Shell.run(["ip", "netns", "exec", namespace, "nft", "-f", path])
    }

    var detectBound: Int { Int(heartbeat.detectionTime.value + heartbeat.delay.value) + 150 }

    // MARK: Scenarios

    func linkDown() throws -> ScenarioResult {
        let s = try stream()
        defer { s.stop() }
        var failures: [String] = []
        let t0 = s.now
        let faultAt = Date()
        try fabric.setLink("node1", network: 0, up: false)
        let detect = measure(seconds: 5) { route("node1", peer: "node2", network: 0)?.state == "down" }
        _ = s.waitForFlow(after: s.now, seconds: 3)
        usleep(300_000)
        let w = s.windowUntilNow(from: t0)
        let diagnosis = route("node1", peer: "node2", network: 0)?.reason ?? "?"
        if detect == nil { failures.append("node1 never marked the route down") }
        if diagnosis != "local_link_down" { failures.append("diagnosis \(diagnosis), expected local_link_down") }
        if !reachable("node1", "node2") { failures.append("node2 became unreachable from node1") }
        if w.longestGap > 2 { failures.append("traffic did not flow again within 2 s") }
        hold(since: faultAt)
        try fabric.setLink("node1", network: 0, up: true)
        return ScenarioResult(
            name: LabScenario.linkDown.rawValue, passed: failures.isEmpty, detect_ms: detect, recover_ms: Int(w.longestGap * 1000),
            lost_packets: w.lost, diagnosis: diagnosis, expectation: "local_link_down at once, traffic moves to net2", failures: failures)
    }

    /// bothWays: a firewall dropping UDP 3343 to and from node1 on network `k`;
    /// else only node1's frames (one-way loss). Network 0 carries the traffic.
    func firewall(bothWays: Bool, network k: Int) throws -> ScenarioResult {
        let scenario: LabScenario = k == 0 ? (bothWays ? .firewall : .asymmetric) : (bothWays ? .firewallStandby : .asymmetricStandby)
        let name = scenario.rawValue
        let s = try stream()
        defer { s.stop() }
        var failures: [String] = []
        let t0 = s.now
        let rules = """
            table bridge netft_lab {
              chain forward {
                type filter hook forward priority 0; policy accept;
                iifname "n1" udp dport { \(Wire.defaultPort), \(CorosyncStack.ports) } drop
                \(bothWays ? "oifname \"n1\" udp dport { \(Wire.defaultPort), \(CorosyncStack.ports) } drop" : "")
              }
            }
            """
        let faultAt = Date()
        try nft(fabric.switches[k], rules)
        defer {
            hold(since: faultAt)
            try? Shell.run(["ip", "netns", "exec", fabric.switches[k], "nft", "delete", "table", "bridge", "netft_lab"])
        }
        let detect = measure(seconds: 10) {
            route("node1", peer: "node2", network: k)?.state == "down" && route("node2", peer: "node1", network: k)?.state == "down"
        }
        let expected = bothWays ? ("port_blocked_suspected", "port_blocked_suspected") : ("asymmetric_outbound_lost", "asymmetric_inbound_lost")
        // The diagnosis can sharpen as reports arrive over net1: give it a few heartbeats.
        _ = fabric.wait(seconds: 3) {
            route("node1", peer: "node2", network: k)?.reason == expected.0 && route("node2", peer: "node1", network: k)?.reason == expected.1
        }
        let d1 = route("node1", peer: "node2", network: k)?.reason ?? "?"
        let d2 = route("node2", peer: "node1", network: k)?.reason ?? "?"
        _ = s.waitForFlow(after: s.now, seconds: 3)
        usleep(300_000)
        let w = s.window(from: t0, to: s.now - 0.2)
        if detect == nil { failures.append("the route on net\(k + 1) was not marked down on both sides") }
        if k == 0 && w.lost > 0 { failures.append("\(w.lost) datagrams lost: lossless failover must resend what the cut swallowed") }
        if d1 != expected.0 { failures.append("node1 says \(d1), expected \(expected.0)") }
        if d2 != expected.1 { failures.append("node2 says \(d2), expected \(expected.1)") }
        if d1 == "local_link_down" || d1 == "remote_link_down" { failures.append("a blocked port must not be reported as a link failure") }
        if !reachable("node1", "node2") || !reachable("node2", "node1") { failures.append("the nodes lost each other") }
        return ScenarioResult(
            name: name, passed: failures.isEmpty, detect_ms: detect, recover_ms: Int(w.longestGap * 1000), lost_packets: w.lost,
            diagnosis: "node1: \(d1); node2: \(d2)",
            expectation: (bothWays ? "port blocked (not link down) on both sides" : "asymmetric named on both sides")
                + "; nodes stay reachable over net\(2 - k)" + (k == 0 ? "; nothing lost" : ""),
            failures: failures)
    }

    func flapping() throws -> ScenarioResult {
        let s = try stream()
        defer { s.stop() }
        var failures: [String] = []
        let changesBefore = fabric.log("node1").components(separatedBy: "[NETFT] Route to node2 changed").count
        let t0 = s.now
        for _ in 0..<5 {
            try fabric.setLink("node1", network: 0, up: false)
            usleep(300_000)
            try fabric.setLink("node1", network: 0, up: true)
            usleep(300_000)
        }
        let flapEnd = s.now
        let changes = fabric.log("node1").components(separatedBy: "[NETFT] Route to node2 changed").count - changesBefore
        let w = s.window(from: t0, to: flapEnd)
        if changes > 2 { failures.append("traffic moved \(changes) times while the link flapped (thrashing)") }
        if w.longestGap > 1 { failures.append("traffic stopped for \(Int(w.longestGap * 1000)) ms") }
        if !reachable("node1", "node2") { failures.append("node2 became unreachable") }
        return ScenarioResult(
            name: LabScenario.flapping.rawValue, passed: failures.isEmpty, detect_ms: nil, recover_ms: Int(w.longestGap * 1000),
            lost_packets: w.lost, diagnosis: "\(changes) route change\(changes == 1 ? "" : "s") in 3 s of flapping",
            expectation: "at most 2 route changes; traffic keeps flowing on net2", failures: failures)
    }

    func totalLoss() throws -> ScenarioResult {
        var failures: [String] = []
        let cutAt = Date()
        for sw in fabric.switches { try Shell.run(["ip", "-n", sw, "link", "set", "n1", "down"]) }
        let detect = fabric.wait(seconds: Double(detectBound) / 1000 + 10) { !reachable("node2", "node1") }
            ? Int(Date().timeIntervalSince(cutAt) * 1000) : nil
        let diagnosis = route("node2", peer: "node1", network: 0)?.reason ?? "?"
        if let detect {
            if detect > detectBound { failures.append("node2 took \(detect) ms to declare node1 unreachable (bound \(detectBound) ms)") }
        } else {
            failures.append("node2 never declared node1 unreachable")
        }
        try Shell.run(["ip", "-n", fabric.switches[1], "link", "set", "n1", "up"])
        let recover = measure(seconds: 10) { reachable("node2", "node1") && reachable("node1", "node2") }
        if recover == nil { failures.append("node1 did not become reachable again when net2 returned") }
        // Then every other network (a lab with more than two returned only net1 and net2).
        for (k, sw) in fabric.switches.enumerated() where k != 1 { try Shell.run(["ip", "-n", sw, "link", "set", "n1", "up"]) }
        return ScenarioResult(
            name: LabScenario.totalLoss.rawValue, passed: failures.isEmpty, detect_ms: detect, recover_ms: recover, lost_packets: nil,
            diagnosis: "node2: node1 unreachable (\(diagnosis))",
            expectation: "unreachable within Delay x Threshold (+1 Delay), reachable again when one network returns", failures: failures)
    }

    /// What cuts net1 between its two halves while every node's link stays up.
    enum HalvesCut {
        /// The router drops everything it forwards (nftables in its namespace).
        case router
        /// Sites: the inter-site link goes down (the router's far side loses carrier).
        case interSiteLink

        var scenario: LabScenario { self == .router ? .routerFailure : .interSiteLink }
        var what: String { self == .router ? "router" : "inter-site link" }
    }

    /// net1 is cut between its halves (its router fails, or the inter-site
    /// link): the routes across go down on both sides, the routes inside one
    /// half of net1 stay up, and node1's stream moves to net2 losing nothing.
    func halvesCut(_ cut: HalvesCut) throws -> ScenarioResult {
        guard let router = fabric.routers.first else { throw LabError("\(cut.scenario.rawValue) needs --topology routed or sites") }
        let s = try stream()
        defer { s.stop() }
        var failures: [String] = []
        let t0 = s.now
        let faultAt = Date()
        switch cut {
        case .router:
            try nft(router, """
                table inet netft_lab {
                  chain forward { type filter hook forward priority 0; policy drop; }
                }
                """)
        case .interSiteLink:
            try fabric.setInterSiteLink(network: 0, up: false)
        }
        defer {
            hold(since: faultAt)
            switch cut {
            case .router: try? Shell.run(["ip", "netns", "exec", router, "nft", "delete", "table", "inet", "netft_lab"])
            case .interSiteLink: try? fabric.setInterSiteLink(network: 0, up: true)
            }
        }
        // node3 shares node1's subnet: its route on net1 must never notice.
        let neighbour = fabric.nodes.count > 2 ? "node3" : nil
        var neighbourDown = false
        let detect = measure(seconds: 10) {
            if let neighbour, route("node1", peer: neighbour, network: 0)?.state != "up" { neighbourDown = true }
            return route("node1", peer: "node2", network: 0)?.state == "down" && route("node2", peer: "node1", network: 0)?.state == "down"
        }
        let diagnosis = route("node1", peer: "node2", network: 0)?.reason ?? "?"
        _ = s.waitForFlow(after: s.now, seconds: 3)
        usleep(300_000)
        if let neighbour, route("node1", peer: neighbour, network: 0)?.state != "up" { neighbourDown = true }
        let w = s.window(from: t0, to: s.now - 0.2)
        if detect == nil { failures.append("the route across net1's \(cut.what) was not marked down on both sides") }
        if neighbourDown { failures.append("node1's route to \(neighbour!) on net1, inside one subnet, went down with the \(cut.what)") }
        if w.lost > 0 { failures.append("\(w.lost) datagrams lost: lossless failover must resend what the \(cut.what) swallowed") }
        if diagnosis == "local_link_down" || diagnosis == "remote_link_down" { failures.append("a cut beyond the nodes' links (theirs up) reported as \(diagnosis)") }
        if !reachable("node1", "node2") { failures.append("node2 became unreachable from node1") }
        if route("node1", peer: "node2", network: 0)?.cross_subnet != true { failures.append("node1's route to node2 on net1 is not marked cross-subnet") }
        return ScenarioResult(
            name: cut.scenario.rawValue, passed: failures.isEmpty, detect_ms: detect, recover_ms: Int(w.longestGap * 1000),
            lost_packets: w.lost, diagnosis: "node1: \(diagnosis)" + (neighbour.map { "; node1 -> \($0) on net1 stayed up" } ?? ""),
            expectation: "the routes across the \(cut.what) down on both sides, routes inside a subnet untouched, traffic on net2, nothing lost",
            failures: failures)
    }

    func restart() throws -> ScenarioResult {
        let s = try stream()
        defer { s.stop() }
        var failures: [String] = []
        let t0 = s.now
        if fabric.stop("node1") != 0 { failures.append("the daemon did not exit 0 on SIGTERM") }
        let detect = measure(seconds: 10) { !reachable("node2", "node1") }
        let restartAt = s.now
        try fabric.start("node1")
        let recover = s.waitForFlow(after: restartAt, seconds: 10) ? Int((s.now - restartAt) * 1000) : nil
        let w = s.windowUntilNow(from: t0)
        if detect == nil { failures.append("node2 did not notice node1 leave") }
        if recover == nil { failures.append("traffic did not flow again after the restart") }
        if !fabric.wait(seconds: 5, { reachable("node2", "node1") }) { failures.append("node2 did not see node1 return") }
        return ScenarioResult(
            name: LabScenario.restart.rawValue, passed: failures.isEmpty, detect_ms: detect, recover_ms: recover, lost_packets: w.lost,
            diagnosis: "node2 saw node1 leave and return (its new session established by the handshake)",
            expectation: "the peer notices within the detection time; traffic flows again after the restart", failures: failures)
    }
}
