import Glibc
import NetFTCore
import NetFTFabric
import Testing

@testable import NetFTDataplane

@Suite("Virtual adapter and netlink", .serialized)
struct VirtualAdapterTests {
    @Test func adapterGetsItsAddressesAndCarriesKernelPackets() throws {
        try KernelRequirements.requireNetns()
        let pair = try VethPair(tag: "tun")
        defer { pair.tearDown() }
        let v4 = VirtualAddresses.ipv4(cluster: "test", node: 1)
        let v6 = VirtualAddresses.ipv6(cluster: "test", node: 1)
        let peer4 = VirtualAddresses.ipv4(cluster: "test", node: 2)
        try NetworkNamespace.run(pair.left) {
            let netlink = try Netlink()
            let adapter = try VirtualAdapter(name: "netft0", ipv4: v4, ipv6: v6, mtu: 1400, netlink: netlink)
            let link = try #require(try netlink.links().first { $0.name == "netft0" })
            #expect(link.isUp && link.mtu == 1400)
            let addresses = Set(try netlink.addresses().filter { $0.interfaceIndex == adapter.index }.map(\.address))
            #expect(addresses.isSuperset(of: [v4, v6]), "\(addresses)")
            // A datagram to a peer's virtual address comes out of the TUN fd.
            let sender = try UDPEndpoint()
            try sender.send(Array("to the peer".utf8), to: "\(peer4)", port: 3343)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: VirtualAdapter.largestRead, alignment: 16)
            defer { buffer.deallocate() }
            var pfd = pollfd(fd: adapter.fileDescriptor, events: Int16(POLLIN), revents: 0)
            var n = 0
            let h = VirtioNetHeader.size
            while n == 0 && poll(&pfd, 1, 2000) > 0 {
                n = adapter.read(into: buffer)
                if n > 0 && buffer[h] >> 4 != 4 { n = 0 }  // skip IPv6 router/neighbour chatter
            }
            #expect(n == h + 20 + 8 + 11, "a virtio-net header, then one IPv4/UDP packet of 11 bytes")
            #expect(IPAddress.v4(UInt32(bigEndian: buffer.loadUnaligned(fromByteOffset: h + 16, as: UInt32.self))) == peer4)
            #expect(adapter.offloads.contains("tso4") && adapter.offloads.contains("csum"), "\(adapter.offloads)")
        }
        // Closing the adapter removes the device.
        let remaining = try NetworkNamespace.run(pair.left) { try Netlink().links().map(\.name) }
        #expect(!remaining.contains("netft0"))
    }

    @Test func monitorSeesALinkGoDownAndComeBack() throws {
        try KernelRequirements.requireNetns()
        let pair = try VethPair(tag: "nlmon")
        defer { pair.tearDown() }
        try NetworkNamespace.run(pair.left) {
            let monitor = try Netlink(monitor: true)
            let netlink = try Netlink()
            let link = try #require(try netlink.links().first { $0.name == pair.leftInterface })
            try netlink.setLink(index: link.index, up: false, name: link.name)
            var seen: [Netlink.Change] = []
            var pfd = pollfd(fd: monitor.fileDescriptor, events: Int16(POLLIN), revents: 0)
            while !seen.contains(where: { if case .link(let l, false) = $0 { !l.isUp && l.index == link.index } else { false } }),
                poll(&pfd, 1, 2000) > 0
            {
                seen += try monitor.pendingChanges()
            }
            #expect(seen.contains { if case .link(let l, _) = $0 { !l.isUp && l.name == pair.leftInterface } else { false } })
            try netlink.setLink(index: link.index, up: true, name: link.name)
        }
    }
}
