import Testing

@testable import NetFTCore

@Suite("Payloads, addresses and the cluster log")
struct PayloadAndLogTests {
    @Test func routeReportRoundTripsAndRefusesMalformations() throws {
        let buffer = FrameBuffer(size: 512)
        let entries: [RouteReport.Entry] = [
            .init(route: 10, link: .up, hearing: true, received: 0),
            .init(route: 11, link: .down, hearing: true, received: 1000),
            .init(route: 12, link: .unknown, hearing: false, received: 2000),
        ]
        let n = try RouteReport.write(count: 3, into: buffer.raw) { entries[$0] }
        #expect(n == RouteReport.size(entries: 3))
        var read: [RouteReport.Entry] = []
        try RouteReport.read(UnsafeRawBufferPointer(rebasing: buffer.raw[0..<n])) { read.append($0) }
        #expect(read == entries)
        for (offset, value) in [(0, UInt8(17)), (1, 1), (4 + 4, 7), (4 + 5, 2)] {
            let saved = buffer.raw[offset]
            buffer.raw[offset] = value
            #expect(throws: FrameError.malformedPayload) { try RouteReport.read(UnsafeRawBufferPointer(rebasing: buffer.raw[0..<n])) { _ in } }
            buffer.raw[offset] = saved
        }
        #expect(throws: FrameError.malformedPayload) { try RouteReport.read(UnsafeRawBufferPointer(rebasing: buffer.raw[0..<(n - 1)])) { _ in } }
    }

    @Test func helloRoundTripsAndRefusesMalformations() throws {
        let hello = Hello(nodeName: "node-a", addresses: [
            .init(IPAddress("198.18.1.1")!, prefixLength: 24), .init(IPAddress("fe80::1")!, prefixLength: 64),
        ])
        let bytes = try hello.encode()
        #expect(try bytes.withUnsafeBytes { try Hello(decoding: $0) } == hello)
        var bad = bytes
        bad[0] = 200
        #expect(throws: FrameError.malformedPayload) { try bad.withUnsafeBytes { try Hello(decoding: $0) } }
        #expect(throws: FrameError.malformedPayload) { try bytes.dropLast().withUnsafeBytes { try Hello(decoding: $0) } }
        var wrongFamily = bytes
        wrongFamily[1 + 6 + 1] = 6  // IPv4 bytes marked as IPv6
        #expect(throws: FrameError.malformedPayload) { try wrongFamily.withUnsafeBytes { try Hello(decoding: $0) } }
    }

    @Test func arbitraryPayloadBytesNeverTrap() {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<20000 {
            let bytes = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes.withUnsafeBytes { raw in
                _ = try? Hello(decoding: raw)
                try? RouteReport.read(raw) { _ in }
            }
        }
    }

    @Test("addresses parse and print", arguments: [
        "198.18.0.1", "169.254.12.34", "fe80::2474:73f1:4b12:8096", "2001:db8::1", "::", "::1", "fe80::", "1:0:0:2::3",
    ])
    func addresses(text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == text)
        #expect(IPAddress(bytes16: address.bytes16) == address)
    }

    @Test func badAddressesAreRefused() {
        for text in ["198.18.0", "198.18.0.256", "1::2::3", "12345::", "fe80:::1", ""] { #expect(IPAddress(text) == nil, "\(text)") }
        #expect(IPAddress("198.18.1.7")!.sharesPrefix(IPAddress("198.18.1.200")!, length: 24))
        #expect(!IPAddress("198.18.1.7")!.sharesPrefix(IPAddress("198.18.2.7")!, length: 24))
    }

    @Test func routeIdsAreTheSameFromBothEnds() {
        let a = IPAddress("198.18.1.1")!, b = IPAddress("198.18.1.2")!
        #expect(Route.id(between: a, and: b) == Route.id(between: b, and: a))
        #expect(Route.id(between: a, and: b) != Route.id(between: a, and: IPAddress("198.18.2.2")!))
    }

    @Test func addedRouteBlockHasTheWindowsShape() {
        let route = Route(
            id: 1, peer: 2, peerName: "node2", network: "net1", localInterface: "eth0",
            realLocal: Endpoint(IPAddress("172.16.0.181")!), realRemote: Endpoint(IPAddress("172.16.0.182")!),
            virtualLocal: Endpoint(IPAddress("fe80::2474:73f1:4b12:8096")!), virtualRemote: Endpoint(IPAddress("fe80::8b6:30ea:caa3:8da7")!),
            priority: 99, heartbeat: .windowsDefault)
        #expect(ClusterLog.addedRoute(route) == """
            [NETFT] Added route <struct mscs::FaultTolerantRoute>
              <realLocal>172.16.0.181:~3343~</realLocal>
              <realRemote>172.16.0.182:~3343~</realRemote>
              <virtualLocal>fe80::2474:73f1:4b12:8096:~3343~</virtualLocal>
              <virtualRemote>fe80::8b6:30ea:caa3:8da7:~3343~</virtualRemote>
              <Delay>1000</Delay>
              <Threshold>5</Threshold>
              <Priority>99</Priority>
              <Attributes>1</Attributes>
            """)
        let up = ClusterLog.lines(for: .routeUp(1)) { $0 == 1 ? route : nil }
        #expect(up.first == "[NETFT] Signaled NetftRemoteReachable event, local address 172.16.0.181 remote address 172.16.0.182")
        #expect(up.contains("[IM] Marking Route from 172.16.0.181 to 172.16.0.182 as up"))
        let down = ClusterLog.lines(for: .routeDown(1, .portBlockedSuspected)) { $0 == 1 ? route : nil }
        #expect(down.contains { $0.contains("port_blocked_suspected") })
    }
}

@Suite("Virtual addresses")
struct VirtualAddressTests {
    @Test func stableUniqueAndInTheRightRanges() {
        var seen = Set<IPAddress>()
        for node: NodeID in 1...2000 {
            let v4 = VirtualAddresses.ipv4(cluster: "prod", node: node)
            #expect(v4.sharesPrefix(IPAddress("169.254.0.0")!, length: 16))
            #expect(!v4.sharesPrefix(IPAddress("169.254.0.0")!, length: 24) && !v4.sharesPrefix(IPAddress("169.254.255.0")!, length: 24))
            #expect(seen.insert(v4).inserted, "two nodes share \(v4)")
            #expect(VirtualAddresses.ipv6(cluster: "prod", node: node).sharesPrefix(IPAddress("fe80::")!, length: 64))
        }
        #expect(VirtualAddresses.ipv4(cluster: "prod", node: 7) == VirtualAddresses.ipv4(cluster: "prod", node: 7))
        #expect(VirtualAddresses.ipv6(cluster: "prod", node: 7) != VirtualAddresses.ipv6(cluster: "test", node: 7))
    }
}
