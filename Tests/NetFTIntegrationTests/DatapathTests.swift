import Foundation
import NetFTCore
import NetFTDataplane
import NetFTFabric
import NetFTLab
import Testing

/// The fast path proven by its counters, not its label: which path the data
/// took, whether the fill ring ran dry, what the offloads did.
@Suite("Datapath: offloads and the path the data took", .serialized)
struct DatapathTests {
    @Test("200 MB of TCP with offloads on, checked byte by byte; the counters prove the path", arguments: DataplaneKind.allCases)
    func checkedTransferWithOffloads(dataplane: DataplaneKind) throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = dataplane
        let fabric = try upFabric(spec, tag: "off\(dataplane.rawValue)")
        defer { fabric.tearDown() }
        let a = fabric.node("node1"), b = fabric.node("node2")
        let before = fabric.pathCounters()
        let downs = { fabric.nodes.map { fabric.routeDowns($0.name).count }.reduce(0, +) }
        let downsBefore = downs()
        let result = try TCPTransfer.run(from: a.namespace, to: b.namespace, address: b.virtualIPv4, bytes: 200 << 20)
        #expect(result.bytes == 200 << 20 && result.intact, "every byte arrived intact")
        // A saturated tunnel must not cost a heartbeat: the datapath serves them within a millisecond of a burst.
        #expect(downs() == downsBefore, "no route went down while the tunnel was saturated")
        let sender = PathCounters(status: try #require(fabric.status("node1")))
        let receiver = PathCounters(status: try #require(fabric.status("node2")))
        let both = fabric.pathCounters().since(before)
        print("[\(dataplane)] 200 MB TCP: \(String(format: "%.2f", result.gbps)) Gbit/s; \(both.summary)")
        #expect(sender.segmentsPerRead > 4, "TSO: a read of the adapter is many wire segments (\(sender.segmentsPerRead))")
        #expect(receiver.segmentsPerWrite > 2, "GRO: a write to the adapter carries several segments (\(receiver.segmentsPerWrite))")
        switch dataplane {
        case .xdp:
            #expect(both.dataViaAFXDP > 140_000, "the data frames of 200 MB went through AF_XDP (\(both.dataViaAFXDP))")
            #expect(both.kernelShare < 0.01, "data frames through the kernel socket: \(both.dataViaKernel)")
            #expect(both.fillRingEmpty == 0, "the fill ring never ran dry")
            #expect(both.xskDrops == 0 && both.txRingFull == 0, "no AF_XDP drop")
            // The mode is the kernel's word (XDP_OPTIONS), not the flags asked
            // for: veth has no AF_XDP zero-copy, so all of node1's sockets copy.
            let modes = try #require(fabric.status("node1")).datapath
            #expect(modes["af_xdp_sockets"] == 2 && modes["af_xdp_zero_copy_sockets"] == 0, "\(modes.filter { $0.key.hasPrefix("af_xdp") })")
            #expect(fabric.log("node1").contains("AF_XDP bound in copy mode: the kernel runs 0 of 2 sockets zero-copy"), "\(fabric.log("node1").prefix(600))")
        case .udp:
            #expect(receiver.framesPerReceive > 2, "UDP_GRO: a receive returns runs of frames (\(receiver.framesPerReceive))")
            #expect(sender.framesPerSend > 2, "UDP_SEGMENT: a send carries runs of frames (\(sender.framesPerSend))")
        }
    }

    @Test("a two-queue network: frames arriving on queue 1 are carried by AF_XDP, not the kernel socket")
    func everyQueueHasASocket() throws {
        try requireKernelLab()
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        spec.queues = 2
        let fabric = try upFabric(spec, tag: "mq")
        defer { fabric.tearDown() }
        // Everything the switches send node2 lands on its queue 1.
        for k in 0..<spec.networks { try fabric.steerToQueue("node2", network: k, queue: 1) }
        let b = fabric.node("node2")
        let before = PathCounters(status: try #require(fabric.status("node2")))
        let result = try TCPTransfer.run(from: fabric.node("node1").namespace, to: b.namespace, address: b.virtualIPv4, bytes: 20 << 20)
        #expect(result.bytes == 20 << 20 && result.intact)
        let after = PathCounters(status: try #require(fabric.status("node2"))).since(before)
        print("[two queues] node2: \(after.summary); per queue \(after.queueFrames.sorted { $0.key < $1.key })")
        #expect(Set(after.queueFrames.keys) == ["eth0_q0", "eth0_q1", "eth1_q0", "eth1_q1"], "a socket on every queue of every link")
        let queue1 = (after.queueFrames["eth0_q1"] ?? 0) + (after.queueFrames["eth1_q1"] ?? 0)
        #expect(queue1 > 10_000, "the data arrived on queue 1, through AF_XDP (\(queue1) frames)")
        #expect(after.noSocket == 0, "no frame found a queue without a socket")
        #expect(after.dataViaKernel == 0, "no data frame took the kernel socket")
    }
}
