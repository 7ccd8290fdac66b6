import CNetFTShims
import Foundation
import Glibc
import NetFTCore
import NetFTDaemon
import NetFTDataplane
import NetFTFabric
import NetFTLab
import Testing

/// The node must be the last thing to fail: clients that misbehave, a second
/// start, a program already on the NIC, a MAC that changes, jumbo links and
/// a starved UMEM, each on real namespaces and daemons.
@Suite("A node nothing local can knock over", .serialized)
struct RobustnessTests {
    /// Route downs a node has logged so far (compare counts: a node that
    /// started before its peer may log downs of routes never yet up).
    static func downs(_ fabric: ClusterFabric, _ node: String) -> Int {
        fabric.routeDowns(node).count
    }

    static func counter(_ fabric: ClusterFabric, _ node: String, _ group: String, _ name: String) -> UInt64 {
        let status = fabric.status(node)
        return (group == "drops" ? status?.drops : status?.datapath)?[name] ?? 0
    }

    /// Two nodes on the xdp dataplane, all routes up, node1 streaming to node2 and the stream flowing.
    static func streaming(tag: String) throws -> (ClusterFabric, TrafficStream) {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: tag)
        do {
            let node2 = fabric.node("node2")
            let stream = try TrafficStream(from: fabric.node("node1").namespace, to: node2.namespace, address: node2.virtualIPv4)
            #expect(stream.waitForFlow(after: stream.now, seconds: 5))
            return (fabric, stream)
        } catch {
            fabric.tearDown()
            throw error
        }
    }

    /// A Unix stream socket connected to `path` (nil on failure).
    static func unixClient(_ path: String, receiveBuffer: Int32? = nil) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let ok = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// A TCP socket connected to 127.0.0.1:`port` in the calling thread's namespace.
    static func tcpClient(port: UInt16) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    @Test func silentAndNonReadingClientsCostThePeersNothing() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        spec.metricsPort = 9344
        let fabric = try upFabric(spec, tag: "quiet")
        defer { fabric.tearDown() }
        let node1 = fabric.node("node1")
        let downsBefore = (Self.downs(fabric, "node1"), Self.downs(fabric, "node2"))

        // 20 silent control clients, 20 that ask and never read (tiny receive buffer),
        // and 20 silent metrics clients inside node1's namespace, all held for 5 s.
        var held: [Int32] = []
        for _ in 0..<20 { if let fd = Self.unixClient(node1.controlPath) { held.append(fd) } }
        for _ in 0..<20 {
            guard let fd = Self.unixClient(node1.controlPath, receiveBuffer: 256) else { continue }
            let request = Array("status\n".utf8)
            _ = send(fd, request, request.count, Int32(MSG_NOSIGNAL))
            held.append(fd)
        }
        let metricsClients = try NetworkNamespace.run(node1.namespace) { (0..<20).compactMap { _ in Self.tcpClient(port: 9344) } }
        held += metricsClients
        #expect(held.count == 60, "every client connected (\(held.count))")
        defer { for fd in held { close(fd) } }

        // Meanwhile a well-behaved client is answered promptly, every time.
        var slowest = 0.0
        let end = Date().addingTimeInterval(5)
        var asked = 0
        while Date() < end {
            let start = Date()
            let answer = try? ControlClient.ask("status", path: node1.controlPath)
            let took = Date().timeIntervalSince(start)
            slowest = max(slowest, took)
            let document = answer.flatMap { try? NodeStatus.decode($0) }
            #expect(document?.node == "node1")
            asked += 1
            usleep(100_000)
        }
        print("[robustness] 60 misbehaving clients for 5 s: \(asked) status requests, slowest \(Int(slowest * 1000)) ms; route downs node1 \(Self.downs(fabric, "node1") - downsBefore.0), node2 \(Self.downs(fabric, "node2") - downsBefore.1)")
        #expect(slowest < 0.1, "status took \(Int(slowest * 1000)) ms")
        #expect(Self.downs(fabric, "node2") == downsBefore.1, "the peer saw a route go down:\n\(fabric.log("node2").suffix(1500))")
        #expect(Self.downs(fabric, "node1") == downsBefore.0)
        #expect(!fabric.log("node1").contains("watchdog"), "the datapath never stalled")
        // The server let the silent ones go at its deadline.
        let ejected = held.prefix(20).filter { fd in
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) == 0
        }.count
        #expect(ejected == 20, "silent clients are closed at the deadline (\(ejected) of 20)")
    }

    @Test func aSecondStartNeverDisturbsTheFirst() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "twice")
        defer { fabric.tearDown() }
        let n = fabric.node("node1")
        for extra in [[String](), ["--control", n.controlPath], ["--control", n.controlPath, "--pin-root", "\(fabric.pinRoot)/node1"]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            process.arguments = ["--net=/run/netns/\(n.namespace)", netftBinary, "run", "--config", fabric.configPath] + extra
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 1, "\(extra): \(message)")
            #expect(message.contains("another netft daemon (pid \(fabric.pid("node1") ?? -1)) already runs it"), "\(message)")
        }
        // The first daemon is untouched: still answering, still steering through AF_XDP.
        let steered = Self.counter(fabric, "node1", "datapath", "classifier_eth0_steered")
        #expect(fabric.exec("node2", ["ping", "-c", "50", "-i", "0.01", "-W", "1", "-q", "\(n.virtualIPv4)"]))
        let after = Self.counter(fabric, "node1", "datapath", "classifier_eth0_steered")
        #expect(after >= steered + 50, "steered \(steered) -> \(after): frames still reach the AF_XDP socket")
        #expect(fabric.status("node1")?.dataplane == "xdp")
        #expect(FileManager.default.fileExists(atPath: n.controlPath), "the first daemon's control socket is still there")
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: fabric.workDirectory)) ?? [])
            + ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netft")) ?? [])
        #expect(!leftovers.contains { $0.hasSuffix(".lock") || $0 == "netft.sock" }, "nothing left by the refused starts: \(leftovers)")
    }

    @Test func anotherXDPProgramOnANICIsLeftInPlace() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try ClusterFabric(spec: spec, binary: netftBinary, tag: "occu")
        defer { fabric.tearDown() }
        let n = fabric.node("node1")
        // Someone else's program (netft's pass program, attached the old way) on node1's eth1.
        let foreign = try XDPClassifier()
        let attachedID: UInt32 = try NetworkNamespace.run(n.namespace) {
            let index = Int32(if_nametoindex("eth1"))
            let result = netft_xdp_attach(index, foreign.programFD(named: XDPClassifier.passProgramName), UInt32(XDP_FLAGS_DRV_MODE))
            guard result == 0 else { throw SystemError("attach a foreign XDP program to eth1", returned: result) }
            return Self.attachedProgram(index)
        }
        #expect(attachedID != 0)
        try fabric.startAll()
        #expect(fabric.waitAllRoutesUp(seconds: 15), "routes on both networks come up:\n\(fabric.log("node1").suffix(2000))")
        let links = fabric.status("node1")?.links ?? []
        let eth1 = links.first { $0.name == "eth1" }
        #expect(eth1?.path == "kernel")
        #expect((eth1?.reason ?? "").contains("'netft_pass'"), "the occupant is named: \(String(describing: eth1))")
        #expect(links.first { $0.name == "eth0" }?.path == "af_xdp")
        #expect(fabric.log("node1").contains("eth1 carries its frames through the kernel socket"))
        let running = try NetworkNamespace.run(n.namespace) { Self.attachedProgram(Int32(if_nametoindex("eth1"))) }
        #expect(running == attachedID, "still attached while netft runs")
        #expect(fabric.stop("node1") == 0)
        let after = try NetworkNamespace.run(n.namespace) { Self.attachedProgram(Int32(if_nametoindex("eth1"))) }
        #expect(after == attachedID, "still attached after netft stopped")
    }

    static func attachedProgram(_ ifindex: Int32) -> UInt32 {
        var id: UInt32 = 0
        var mode: UInt8 = 0
        var name = [CChar](repeating: 0, count: 32)
        _ = netft_xdp_query_attached(ifindex, &id, &mode, &name)
        return id
    }

    @Test func linkDownUpAndFlappingNameOnlyLinkStates() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "flap")
        defer { fabric.tearDown() }
        try fabric.setLink("node1", network: 0, up: false)
        usleep(400_000)
        try fabric.setLink("node1", network: 0, up: true)
        #expect(fabric.waitAllRoutesUp(seconds: 10))
        for ms in [60, 200, 30, 120, 250, 80, 40, 300] as [UInt32] {
            try fabric.setLink("node1", network: 0, up: false)
            usleep(ms * 1000)
            try fabric.setLink("node1", network: 0, up: true)
            usleep((330 - ms) * 1000)
        }
        #expect(fabric.waitAllRoutesUp(seconds: 15))
        for node in ["node1", "node2"] {
            let log = fabric.log(node)
            #expect(!log.contains("port blocked") && !log.contains("port_blocked"), "\(node) named a firewall:\n\(log.suffix(2500))")
            #expect(!log.contains("asymmetric"), "\(node) named an asymmetric path:\n\(log.suffix(2500))")
        }
        #expect(fabric.log("node1").contains("(local_link_down)"))
        #expect(fabric.log("node2").contains("(remote_link_down)") || fabric.log("node2").contains("remote link down"))
    }

    @Test func aPeerWhoseMACChangesIsReachedAgainWithinASecond() throws {
        let (fabric, stream) = try Self.streaming(tag: "mac")
        defer {
            stream.stop()
            fabric.tearDown()
        }
        let node2 = fabric.node("node2")
        let sentBefore = Self.counter(fabric, "node1", "datapath", "af_xdp_tx_frames")
        let downsBefore = (Self.downs(fabric, "node1"), Self.downs(fabric, "node2"))
        let changedAt = stream.now
        try Shell.run(["ip", "-n", node2.namespace, "link", "set", "eth0", "address", "02:00:5e:10:20:30"])
        #expect(stream.waitForFlow(after: changedAt + 0.05, seconds: 1), "data reaches node2 again within 1 s")
        usleep(1_500_000)  // a few detection times: a broken heartbeat path would show by now
        let w = stream.window(from: changedAt, to: stream.now - 0.1)
        print("[robustness] MAC change: longest gap \(Int(w.longestGap * 1000)) ms, \(w.lost) datagrams lost")
        #expect(w.longestGap < 1.0)
        #expect(fabric.log("node2").contains("has a new MAC 02:00:5e:10:20:30: announced"))
        #expect(Self.counter(fabric, "node1", "datapath", "af_xdp_tx_frames") > sentBefore + 500, "the stream went through AF_XDP")
        #expect((Self.downs(fabric, "node1"), Self.downs(fabric, "node2")) == downsBefore, "no route went down")
        for node in ["node1", "node2"] { #expect(!fabric.log(node).contains("asymmetric"), "\(node): \(fabric.log(node).suffix(1500))") }
    }

    @Test(arguments: [DataplaneKind.xdp, .udp])
    func aJumboUnderlayCarriesCheckedTCP(_ dataplane: DataplaneKind) throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = dataplane
        spec.mtu = 9000
        let fabric = try upFabric(spec, tag: "jumb")
        defer { fabric.tearDown() }
        let mtu = Int(fabric.status("node1")?.mtu ?? 0)
        #expect(mtu > 1400 && mtu <= 2048 - 48 - 16, "the adapter MTU fits one 2 KiB buffer (\(mtu))")
        let node2 = fabric.node("node2")
        let steeredBefore = Self.counter(fabric, "node2", "datapath", "af_xdp_rx_frames")
        let result = try TCPTransfer.run(from: fabric.node("node1").namespace, to: node2.namespace, address: node2.virtualIPv4, bytes: 50 << 20)
        print("[\(dataplane)] 9000-MTU links, adapter MTU \(mtu): 50 MB TCP at \(String(format: "%.2f", result.gbps)) Gbit/s")
        #expect(result.intact && result.bytes == 50 << 20)
        if dataplane == .xdp {
            // Native XDP refuses a 9000-byte veth; generic mode still steers into AF_XDP.
            let received = Self.counter(fabric, "node2", "datapath", "af_xdp_rx_frames") - steeredBefore
            #expect(received > 30_000, "the transfer arrived through AF_XDP (\(received) frames)")
            #expect(fabric.log("node1").contains("XDP in generic mode, native refused"))
        }
    }

    /// Steps CLOCK_REALTIME by `seconds` (as `date -s` or a bad NTP server would).
    static func stepWallClock(by seconds: Int) throws {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        now.tv_sec += seconds
        guard clock_settime(CLOCK_REALTIME, &now) == 0 else { throw SystemError("step the wall clock by \(seconds) s", errno: errno) }
    }

    /// The wall clock stepped an hour back (an operator's `date -s`, a bad NTP
    /// server) and forward again: no route goes down, traffic flows, and the
    /// pinned route map still follows a route change at once (it waited for
    /// the wall clock to catch up before the mirror kept its time on the
    /// monotonic clock).
    @Test func aWallClockStepChangesNothing() throws {
        let (fabric, stream) = try Self.streaming(tag: "clk")
        defer {
            stream.stop()
            fabric.tearDown()
        }
        func pinnedState(_ network: String) -> String? {
            let values = (try? OperatingTests.bpftoolJSON(["map", "dump", "pinned", "\(fabric.pinRoot)/node1/routes"])) ?? []
            let value = values.compactMap { ($0["formatted"] as? [String: Any])?["value"] as? [String: Any] }.first { $0["network"] as? String == network }
            return value?["state"] as? String
        }
        #expect(fabric.wait(seconds: 2) { pinnedState("net1") == "NETFT_ROUTE_UP" })
        let t0 = stream.now
        let downsBefore = (Self.downs(fabric, "node1"), Self.downs(fabric, "node2"))
        try Self.stepWallClock(by: -3600)
        var stepped = true
        defer { if stepped { try? Self.stepWallClock(by: 3600) } }
        // A second of heartbeats and traffic on the stepped clock.
        #expect(stream.waitForFlow(after: stream.now + 1, seconds: 3))
        #expect((Self.downs(fabric, "node1"), Self.downs(fabric, "node2")) == downsBefore, "a route went down when the clock stepped back")
        // A route change reaches the pinned map within its 50 ms bound, not an hour later.
        try fabric.setLink("node1", network: 0, up: false)
        #expect(fabric.wait(seconds: 2) { pinnedState("net1") == "NETFT_ROUTE_DOWN" }, "the pinned map still says \(pinnedState("net1") ?? "nothing") for net1")
        try fabric.setLink("node1", network: 0, up: true)
        #expect(fabric.waitAllRoutesUp(seconds: 10))
        try Self.stepWallClock(by: 3600)
        stepped = false
        #expect(stream.waitForFlow(after: stream.now + 0.5, seconds: 3))
        let window = stream.windowUntilNow(from: t0)
        print("[robustness] wall clock an hour back and forward: \(window.received) datagrams, \(window.lost) lost, longest gap \(Int(window.longestGap * 1000)) ms")
        #expect(window.lost == 0, "\(window.lost) datagrams lost across the clock steps and the link cut")
        #expect(fabric.routes("node1").allSatisfy { $0.state == "up" })
    }

    @Test func aStarvedUMEMStillAnswersHeartbeats() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        spec.daemonArguments = ["--umem-frames", "48"]
        let fabric = try upFabric(spec, tag: "umem")
        defer { fabric.tearDown() }
        let downsBefore = (Self.downs(fabric, "node1"), Self.downs(fabric, "node2"))
        let node2 = fabric.node("node2")
        let pps = try LoadGenerators.udpPPS(from: fabric.node("node1").namespace, to: node2.namespace, address: node2.virtualIPv4, payload: 1200, seconds: 3)
        let starved = Self.counter(fabric, "node1", "datapath", "adapter_back_pressure")
        print("[robustness] 48-frame UMEM, saturating stream: \(Int(pps)) packets/s delivered, adapter back-pressure \(starved) times")
        #expect(pps > 1000, "traffic still flows")
        #expect(starved > 0, "the UMEM really ran out (else this proves nothing)")
        #expect((Self.downs(fabric, "node1"), Self.downs(fabric, "node2")) == downsBefore, "heartbeats kept every route up")
        #expect(fabric.waitAllRoutesUp(seconds: 1))
        #expect(!fabric.log("node1").contains("watchdog"), "the datapath never spun or stalled")
    }

    /// A datapath that falls behind loses packets in the kernel, at the
    /// adapter's queue, where netft cannot count them itself: status reads
    /// them from the adapter's link statistics, so an operator sees them.
    @Test func packetsTheAdapterQueueDroppedAreReported() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "tunq")
        defer { fabric.tearDown() }
        let before = Self.counter(fabric, "node1", "drops", "adapter_queue_full")
        guard let pid = fabric.pid("node1") else {
            Issue.record("node1's daemon is not running")
            return
        }
        let node2 = fabric.node("node2")
        // Frozen, the datapath reads nothing: 2000 packets meet a queue of 500.
        kill(pid, SIGSTOP)
        let sent = try NetworkNamespace.spawn(fabric.node("node1").namespace) { () throws -> Int in
            let socket = try UDPEndpoint()
            var sent = 0
            for _ in 0..<2_000 where (try? socket.send([UInt8](repeating: 1, count: 100), to: "\(node2.virtualIPv4)", port: 9)) != nil { sent += 1 }
            return sent
        }.join(seconds: 10)
        kill(pid, SIGCONT)
        var reported: UInt64 = 0
        let seen = fabric.wait(seconds: 5) {
            reported = Self.counter(fabric, "node1", "drops", "adapter_queue_full")
            return reported - before >= 1_000
        }
        print("[robustness] datapath frozen: \(sent) packets sent into the adapter, adapter_queue_full \(before) -> \(reported)")
        #expect(sent == 2_000)
        #expect(seen, "the adapter's queue held at most 500 of 2000: status must report the rest (\(reported - before))")
        #expect(reported - before <= 1_600, "no more than were sent past the queue's room")
    }
}
