import Foundation
import NetFTCore
import NetFTDataplane
import NetFTFabric
import NetFTLab
import Testing

/// Routes bound to their path on the real kernel: a relay that carries node1's
/// genuine frames of network 1 onto network 2 cannot keep network 1's dead
/// route up. On both dataplanes: udp (the bound socket says the link), xdp
/// (the AF_XDP queue says it for data, the kernel socket for heartbeats).
@Suite("Routes bound to their path (kernel)", .serialized)
struct PathBindingKernelTests {
    @Test(arguments: [DataplaneKind.udp, .xdp])
    func aRelayOntoTheOtherNetworkIsCountedAndKeepsNoDeadRouteUp(dataplane: DataplaneKind) throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = dataplane
        let fabric = try upFabric(spec, tag: "path\(dataplane.rawValue.prefix(1))")
        defer { fabric.tearDown() }
        let node1OnNet1 = ClusterFabric.address(network: 0, node: 0)
        let node2OnNet1 = ClusterFabric.address(network: 0, node: 1)
        let node2OnNet2 = ClusterFabric.address(network: 1, node: 1)
        // The relay sits on network 2 and sends from node1's network-1
        // address and port: the source the route expects, on the wrong link.
        let (relay, _) = try fabric.addHost(network: 1, host: 99)
        try impersonate(node1OnNet1, in: relay)
        let wire = try SessionRestartTests.wire(fabric, from: 0)
        // Refused where the frame first meets netft: the classifier on xdp
        // (node1's network-1 address is no source on node2's eth1), the
        // engine's path check on udp (or for any frame the classifier passed).
        func refused() -> (path: Int, classifier: Int) {
            (Int(fabric.counter("node2", "wrong_path")), Int(fabric.counter("node2", "classifier_eth1_drop_unknown_source")))
        }
        let before = refused()
        let downsBefore = fabric.routeDowns("node2").count

        // Network 1 breaks for node2; node1's frames still reach the switch,
        // where the relay takes each one and sends it on over network 2.
        try fabric.cutSilently("node2", network: 0)
        var relayed = 0
        try NetworkNamespace.run(relay) {
            let socket = try UDPEndpoint(port: 3343, local: "\(node1OnNet1)")
            let end = Date().addingTimeInterval(1)
            while Date() < end {
                guard let frame = wire.next(timeoutMilliseconds: 20) else { continue }
                let payload = Array(frame.dropFirst(42))
                guard payload.count >= 48, Array(payload[0..<4]) == [0x4E, 0x65, 0x46, 0x54] else { continue }
                try socket.send(payload, to: "\(node2OnNet2)", port: 3343)
                relayed += 1
            }
        }
        #expect(relayed > 20, "the relay carried node1's frames (\(relayed))")

        var now = before
        let counted = fabric.wait(seconds: 5) {
            now = refused()
            return (now.path - before.path) + (now.classifier - before.classifier) >= relayed
        }
        let byPath = now.path - before.path, byClassifier = now.classifier - before.classifier
        #expect(counted, "\(relayed) relayed frames refused: \(byPath) wrong_path, \(byClassifier) by the classifier")
        if dataplane == .xdp { #expect(byClassifier >= relayed, "on xdp the classifier drops them before any socket") }
        let routes = fabric.routes("node2")
        let onNet1 = routes.first { $0.real_local == "\(node2OnNet1)" }
        let onNet2 = routes.first { $0.real_local == "\(node2OnNet2)" }
        #expect(onNet1?.state == "down", "the relay kept network 1's dead route up: \(String(describing: onNet1))")
        #expect(onNet2?.state == "up")
        let downs = fabric.routeDowns("node2").dropFirst(downsBefore).filter { $0.contains("Marking Route from \(node2OnNet2) ") }
        #expect(downs.isEmpty, "network 2's route went down: \(downs)")
        print("path binding (\(dataplane)): \(relayed) frames relayed onto network 2, refused: \(byPath) wrong_path, \(byClassifier) drop_unknown_source in XDP; network 1's route down, network 2's up")
    }
}
