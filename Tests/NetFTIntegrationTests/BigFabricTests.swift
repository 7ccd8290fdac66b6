import Foundation
import NetFTDataplane
import NetFTFabric
import NetFTLab
import Testing

/// The largest lab: 16 nodes on 3 networks, 720 routes, as `netft lab --nodes 16 --networks 3` builds it.
@Suite("Sixteen nodes (kernel)", .serialized)
struct BigFabricTests {
    @Test("16 nodes x 3 networks: every route up, every virtual address answers every node, through AF_XDP")
    func sixteenNodesConvergeAndReachEachOther() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.nodes = 16
        spec.networks = 3
        spec.dataplane = .xdp
        // The default (Windows) heartbeat profile: with the fast one, sixteen
        // debug daemons (16 x 3600 signed frames/s) saturate CI's 2 cores, and
        // routes and pings fail for want of CPU, not of netft.
        spec.profile = .default
        let runner = try LabRunner(spec: spec, binary: netftBinary, progress: { print("lab16: \($0)") })
        let fabric = runner.fabric
        defer { fabric.tearDown() }
        let unreachable = try runner.bringUp()
        #expect(unreachable.isEmpty, "every virtual address answers ping from every node: \(unreachable)")
        let converge = try #require(runner.convergeMilliseconds)
        #expect(fabric.routeCount == 720)
        for node in fabric.nodes { #expect(fabric.routes(node.name).count == 15 * 3, "\(node.name): a route to every peer on every network") }
        #expect(fabric.waitAllRoutesUp(seconds: 15), "every route still Up after the pings")
        // 240 pings and their replies: each a data frame carried by AF_XDP at both ends.
        let path = fabric.pathCounters()
        print("lab16: converged in \(converge) ms; \(path.summary)")
        #expect(path.dataViaAFXDP >= 480, "\(path.dataViaAFXDP) data frames through AF_XDP")
        #expect(path.kernelShare < 0.01, "data frames through the kernel socket: \(path.dataViaKernel)")
    }
}
