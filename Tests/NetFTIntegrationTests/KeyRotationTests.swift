import Foundation
import Glibc
import NetFTDaemon
import NetFTFabric
import NetFTLab
import Testing

/// Key rotation on the real kernel: a new key file, then SIGHUP to one node
/// after the other, under a 1000 packet/s stream through the tunnel.
@Suite("Key rotation (kernel)", .serialized)
struct KeyRotationKernelTests {
    @Test("SIGHUP with a new key, node by node, under a 1000 packet/s stream: 0 lost")
    func rotatingTheKeyUnderAStreamLosesNothing() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "krot")
        defer { fabric.tearDown() }
        let old = try #require(fabric.status("node1")?.key_fingerprint)
        let b = fabric.node("node2")
        let stream = try TrafficStream(from: fabric.node("node1").namespace, to: b.namespace, address: b.virtualIPv4, interval: 0.001)
        defer { stream.stop() }
        #expect(stream.waitForFlow(after: 0, seconds: 5))
        let t0 = stream.now

        // Both nodes read the same key file: replace it, then reload them one at a time.
        let fresh = try KeyFile.generate(path: "\(fabric.workDirectory)/cluster.key", replace: true)
        #expect(fresh != old)
        fabric.signal("node1", SIGHUP)
        #expect(fabric.wait(seconds: 5) { fabric.status("node1")?.key_fingerprint == fresh }, "node1 took the new key")
        #expect(fabric.status("node1")?.previous_key_fingerprint == old, "node1 still accepts the old key")
        // node1 alone has the new key for a while: traffic carries on under the old keys.
        let alone = stream.now
        while stream.now - alone < 1 { usleep(20_000) }
        fabric.signal("node2", SIGHUP)
        let complete = fabric.wait(seconds: 5) {
            fabric.nodes.allSatisfy { n in
                let s = fabric.status(n.name)
                return s?.key_fingerprint == fresh && s?.previous_key_fingerprint == nil
            }
        }
        #expect(complete, "the rotation completed on both nodes")
        let after = stream.now
        while stream.now - after < 1 { usleep(20_000) }
        let window = stream.windowUntilNow(from: t0)
        #expect(window.lost == 0, "\(window.lost) of \(window.received + window.lost) lost during the rotation; \(nonzeroCounters(fabric))")
        #expect(fabric.log("node1").contains("Key rotation complete: every peer uses key \(fresh)"))
        #expect(fabric.waitAllRoutesUp(seconds: 1))
        print("key rotation: \(window.received) datagrams at 1000/s across both reloads, \(window.lost) lost, longest gap \(Int(window.longestGap * 1000)) ms")
    }

    @Test("a node restarted with another cluster key is named: hello_rejected at its peer, never Up")
    func aNodeWithAnotherKeyIsNamed() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "kmis")
        defer { fabric.tearDown() }
        // node2 restarts on a new key file; node1 keeps the key it read at start.
        #expect(fabric.stop("node2") != nil)
        _ = try KeyFile.generate(path: "\(fabric.workDirectory)/cluster.key", replace: true)
        try fabric.start("node2")
        // node1 takes node2's new hellos and cannot authenticate them.
        let named = fabric.wait(seconds: 5) {
            let routes = fabric.routes("node1")
            return !routes.isEmpty && routes.allSatisfy { $0.state == "down" && $0.reason == "hello_rejected" }
        }
        #expect(named, "node1's routes: \(fabric.routes("node1").map { "\($0.real_remote) \($0.state) \($0.reason ?? "-")" })")
        #expect(fabric.log("node1").contains("hellos in the peer's name arrive but fail authentication"), "\(fabric.log("node1").suffix(1500))")
        // node2, which never had a session under its new key, says why it has none.
        let explained = fabric.wait(seconds: 5) {
            fabric.routes("node2").allSatisfy { $0.state == "down" && ["no_session", "hello_rejected"].contains($0.reason ?? "") }
        }
        #expect(explained, "node2's routes: \(fabric.routes("node2").map { "\($0.real_remote) \($0.state) \($0.reason ?? "-")" })")
    }
}

/// Every node's drops and non-zero datapath counters, to say where a lost packet went.
private func nonzeroCounters(_ fabric: ClusterFabric) -> String {
    fabric.nodes.map { n in
        let s = fabric.status(n.name)
        let counters = [("drops", s?.drops ?? [:]), ("datapath", s?.datapath ?? [:])].flatMap { section, values in
            values.filter { $0.value != 0 }.map { "\(section).\($0.key)=\($0.value)" }
        }
        return "\(n.name): " + counters.sorted().joined(separator: " ")
    }.joined(separator: "; ")
}
