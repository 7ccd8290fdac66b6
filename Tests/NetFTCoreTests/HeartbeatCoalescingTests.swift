import Testing

@testable import NetFTCore

/// Timer coalescing: a node with many routes wakes a few times per Delay for
/// all its heartbeats, and no route's heartbeat is ever late for it.
@Suite("Heartbeat coalescing")
struct HeartbeatCoalescingTests {
    /// `count` routes to as many peers, added at instants spread evenly over one Delay.
    static func table(routes count: Int, settings: HeartbeatSettings) -> RouteTable {
        var table = RouteTable(localNode: 1)
        let spread = settings.delay.nanoseconds / UInt64(count)
        for n in 0..<count {
            let local = IPAddress.v4(0xC612_0001), remote = IPAddress.v4(0xC612_0000 | UInt32(n + 2))
            let route = Route(
                id: Route.id(between: local, and: remote), peer: NodeID(n + 2), peerName: "node\(n + 2)", network: "net1",
                localInterface: "eth0", realLocal: Endpoint(local), realRemote: Endpoint(remote),
                virtualLocal: Endpoint(.v4(0xA9FE_0001)), virtualRemote: Endpoint(.v4(0xA9FE_0000 | UInt32(n + 2))),
                priority: 100, heartbeat: settings)
            table.add(route, now: Instant(nanoseconds: UInt64(n) * spread))
        }
        return table
    }

    @Test("1000 routes spread over a Delay: at most 17 wake-ups per Delay, every heartbeat within [15/16, 1] Delay of the last", arguments: [
        HeartbeatSettings.windowsDefault, .fast,
    ])
    func manyRoutesWakeAFewTimesPerDelay(settings: HeartbeatSettings) {
        var table = Self.table(routes: 1000, settings: settings)
        let delay = settings.delay.nanoseconds
        var lastSent: [RouteID: UInt64] = [:]
        var wakes: [UInt64] = []
        var shortest = UInt64.max, longest: UInt64 = 0
        // The loop as the datapath runs it: wake at the table's next deadline, tick.
        while let next = table.nextDeadline, next.nanoseconds < 10 * delay {
            wakes.append(next.nanoseconds)
            table.tick(now: next) { route in
                if let last = lastSent[route] {
                    shortest = min(shortest, next.nanoseconds - last)
                    longest = max(longest, next.nanoseconds - last)
                }
                lastSent[route] = next.nanoseconds
            }
        }
        let lastDelay = wakes.filter { $0 >= 9 * delay }.count
        print("coalescing [\(settings.delay.value) ms]: \(wakes.count) wake-ups in 10 Delays, \(lastDelay) in the last; intervals \(shortest / 1000) to \(longest / 1000) us")
        #expect(lastDelay <= 17, "wake-ups in the tenth Delay: \(lastDelay)")
        #expect(longest <= delay, "a heartbeat came late: \(longest) ns after the one before")
        #expect(shortest >= delay - delay / RouteTable.slackDivisor, "a heartbeat came more than the slack early: \(shortest) ns")
        #expect(lastSent.count == 1000)
    }

    @Test("a single route keeps its exact Delay")
    func aLoneRouteIsNotEarly() {
        var table = Self.table(routes: 1, settings: .fast)
        var sent: [UInt64] = []
        while let next = table.nextDeadline, next.nanoseconds < 1_000_000_000 {
            table.tick(now: next) { _ in sent.append(next.nanoseconds) }
        }
        let intervals = zip(sent.dropFirst(), sent).map { $0 - $1 }
        #expect(!intervals.isEmpty && intervals.allSatisfy { $0 == HeartbeatSettings.fast.delay.nanoseconds }, "\(intervals.prefix(5))")
    }
}
