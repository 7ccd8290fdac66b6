import Foundation
import Glibc
import NetFTCore
import NetFTDataplane
import NetFTLab
import Testing

@Suite("Three nodes over two networks", .serialized)
struct ThreeNodeTests {
    @Test func exactlyTheExpectedRoutesComeUpAndInterfaceChangesAreFollowed() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.nodes = 3
        spec.dataplane = .xdp
        let fabric = try upFabric(spec, tag: "three")
        defer { fabric.tearDown() }
        for (i, node) in fabric.nodes.enumerated() {
            let routes = fabric.routes(node.name)
            var expected: Set<String> = []
            for (j, peer) in fabric.nodes.enumerated() where j != i {
                for k in 0..<2 {
                    expected.insert("\(peer.name) net\(k + 1) \(ClusterFabric.address(network: k, node: i)) \(ClusterFabric.address(network: k, node: j))")
                }
            }
            let actual = Set(routes.map { "\($0["peer"]!) \($0["network"]!) \($0["real_local"]!) \($0["real_remote"]!)" })
            #expect(actual == expected, "\(node.name) routes")
            let log = fabric.log(node.name)
            #expect(log.components(separatedBy: "[NETFT] Added route <struct mscs::FaultTolerantRoute>").count - 1 == 4)
            #expect(log.contains("<realLocal>\(ClusterFabric.address(network: 0, node: i)):~3343~</realLocal>"))
            #expect(log.contains("<Delay>25</Delay>") && log.contains("<Threshold>4</Threshold>"))
        }

        // A NIC going down and coming back while running.
        try fabric.setLink("node1", network: 1, up: false)
        #expect(fabric.wait(seconds: 5) {
            fabric.routes("node1").filter { $0["network"] as? String == "net2" }.allSatisfy { $0["reason"] as? String == "local_link_down" }
        }, "routes over the downed NIC are down with reason local_link_down")
        #expect(fabric.wait(seconds: 5) {
            fabric.routes("node2").first { $0["peer"] as? String == "node1" && $0["network"] as? String == "net2" }?["state"] as? String == "down"
        }, "the peer sees the route down too")
        #expect(fabric.routes("node1").filter { $0["network"] as? String == "net1" }.allSatisfy { $0["active"] as? Bool == true })
        try fabric.setLink("node1", network: 1, up: true)
        #expect(fabric.waitAllRoutesUp(seconds: 10), "routes come back when the NIC does")
        #expect(fabric.log("node1").contains("[IM] interface eth1 (198.18.2.1) is down"))
        #expect(fabric.log("node1").contains("[IM] interface eth1 (198.18.2.1) is up"))
    }
}
