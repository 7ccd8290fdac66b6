import Testing

@testable import NetFTCore

/// Routes bound to their path: a genuine frame counts for route R only when it
/// came in on R's local link from R's remote endpoint.
@Suite("Routes bound to their path")
struct PathBindingTests {
    @Test func aGenuineFrameRelayedOntoAnotherNetworkIsCountedAndRefused() throws {
        let f = SessionTests.upFabric()
        let r1 = f.route(1, 2, network: 0), r2 = f.route(1, 2, network: 1)
        let onNetwork1 = try SessionTests.frame(f, from: 2, route: r1)
        let data = try SessionTests.frame(f, from: 2, route: r1, data: [0x45] + [UInt8](repeating: 9, count: 27))
        let network2 = try #require(f.engines[1]!.table.path(of: r2))
        var spoofed = network2
        spoofed.remote = f.engines[1]!.table.path(of: r1)!.remote  // the right source, on the wrong link
        var otherPort = try #require(f.engines[1]!.table.path(of: r1))
        otherPort.remote.port &+= 1

        for path in [network2, spoofed, otherPort] {
            #expect(f.inject(onNetwork1, at: 1, by: path) == .dropped(.wrongPath), "\(path)")
            #expect(f.inject(data, at: 1, by: path) == .dropped(.wrongPath), "\(path)")
        }
        #expect(f.engines[1]!.drops[.wrongPath] == 6)
        #expect(f.delivered[1, default: []].isEmpty, "a relayed data frame never reaches the adapter")
        // The replay window was not touched: on its own path the frame is still new.
        guard case .deliver = f.inject(data, at: 1, by: f.engines[1]!.table.path(of: r1)) else {
            Issue.record("the genuine frame on its own path was not delivered")
            return
        }
        f.run(ms: 300)
        #expect(f.status(1, r2).state == .up && f.status(1, r1).state == .up)
    }

    @Test func aRelayCannotKeepADeadRouteUp() throws {
        let f = SessionTests.upFabric()
        let r1 = f.route(1, 2, network: 0), r2 = f.route(1, 2, network: 1)
        let network2 = try #require(f.engines[1]!.table.path(of: r2))
        // node2's frames on network 1 no longer reach node1 there; a relay
        // carries every one of them (replies included) to node1 over network 2.
        f.block(from: 2, route: r1)
        f.relay = { from, route in from == 2 && route == r1 ? network2 : nil }
        let detection = f.status(1, r1).route.heartbeat.detectionTime.value
        f.run(ms: detection * 3)
        #expect(f.status(1, r1).state == .down, "the relayed frames kept a dead route up")
        #expect(f.status(1, r2).state == .up)
        #expect(f.engines[1]!.drops[.wrongPath] > detection / 25, "the relayed frames were counted: \(f.engines[1]!.drops[.wrongPath])")
        #expect(!f.eventList(1).contains { if case .routeDown(let id, _) = $0 { id == r2 } else { false } })
    }
}
