import Foundation
import Glibc
import NetFTCore
import NetFTFabric
import NetFTTestSupport
import Testing

@testable import NetFTDataplane

/// The AF_XDP transmit path on a real veth: more frames queued at once than
/// the TX ring holds (a failover resending everything unacknowledged) all
/// leave; none is dropped for a full ring.
@Suite("AF_XDP transmit on a veth", .serialized)
struct XDPTransmitTests {
    @Test func aBurstLargerThanTheTXRingIsSentWhole() throws {
        try KernelRequirements.requireNetns()
        let pair = try VethPair(tag: "txburst")
        defer { pair.tearDown() }
        let pins = "/sys/fs/bpf/netft-test-\(getpid())-txburst"
        defer { rmdir(pins) }
        let burst = 1_000, ring: UInt32 = 64
        let peer = try #require(IPAddress(pair.rightAddress))
        let peerMAC = try NetworkNamespace.run(pair.right) { try Netlink().links().first { $0.name == pair.rightInterface }?.mac ?? [] }
        let receiver = NetworkNamespace.spawn(pair.right) { () throws -> Int in
            let socket = try UDPEndpoint(port: 3343, local: pair.rightAddress)
            try socket.receiveBuffer(bytes: 8 << 20)
            var count = 0
            while count < burst, socket.receive(timeoutMilliseconds: 2000) != nil { count += 1 }
            return count
        }
        usleep(100_000)  // the receiver's socket is bound
        let counters = try NetworkNamespace.run(pair.left) { () throws -> XDPDataplane.Counters in
            let index = Int32(if_nametoindex(pair.leftInterface))
            let link = DataplaneLink(name: pair.leftInterface, index: index, address: IPAddress(pair.leftAddress)!)
            let dataplane = try XDPDataplane(links: [link], port: 3343, pinRoot: pins, ringSize: ring, umemFrames: 4096)
            dataplane.updateNeighbours([peer: OuterHeaders.mac(peerMAC)])
            for i in 0..<burst {
                dataplane.send { buffer in
                    for j in 0..<100 { buffer[j] = UInt8(truncatingIfNeeded: i &+ j) }
                    return Outbound(link: 0, remote: Endpoint(peer, port: 3343), length: 100)
                }
            }
            dataplane.flush()
            return dataplane.counters
        }
        let received = try receiver.join(seconds: 10)
        print("[xdp tx] \(burst) frames queued before one flush, ring of \(ring): \(counters.tx) on the ring, \(counters.txFull) dropped for a full ring, \(counters.viaKernel) via the kernel socket; \(received) received")
        #expect(counters.viaKernel == 0, "every frame took AF_XDP")
        #expect(counters.txFull == 0, "no frame dropped for a full TX ring")
        #expect(received == burst, "every frame arrived")
    }
}
