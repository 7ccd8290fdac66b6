import Testing

@testable import NetFTCore

/// The verdicts of `netft validate` from planted facts, without a network:
/// each direction of a blocked path named, MTU both ways, RTT against the delay.
@Suite("Network validator")
struct NetworkValidatorTests {
    static let a = IPAddress("198.18.1.1")!, b = IPAddress("198.18.2.1")!
    static let peerA = IPAddress("198.18.1.2")!

    static func facts(networks: Int = 2, probe: ValidationFacts.RouteProbe? = nil, mtu: UInt32 = 1500, up: Bool = true) -> ValidationFacts {
        var config = ClusterConfig(cluster: "c")
        config.networks = [
            .init(name: "net-a", subnet: IPAddress("198.18.1.0")!, prefixLength: 24, priority: 100),
            .init(name: "net-b", subnet: IPAddress("198.18.2.0")!, prefixLength: 24, priority: 200),
        ].prefix(networks).map { $0 }
        let me = ClusterConfig.Node(name: "node1", id: 1, addresses: [a, b])
        config.nodes = [me, .init(name: "node2", id: 2, addresses: [peerA, IPAddress("198.18.2.2")!])]
        let interfaces = [
            ValidationFacts.Interface(name: "eth0", isUp: true, hasCarrier: true, mtu: mtu, addresses: [(a, 24)], xdpFeatures: 1 | 2 | 4),
            ValidationFacts.Interface(name: "eth1", isUp: up, hasCarrier: up, mtu: 1500, addresses: [(b, 24)], xdpFeatures: 1),
        ]
        return ValidationFacts(config: config, me: me, interfaces: interfaces, probes: probe.map { [$0] } ?? [], firewall: [], heartbeatDelayMilliseconds: 25)
    }

    static func probe(replies: Int, heard: Int, remoteMTU: UInt32? = 1500, full: (Int, Int) = (2, 2), rtt: [UInt64] = [100_000]) -> ValidationFacts.RouteProbe {
        var p = ValidationFacts.RouteProbe(network: "net-a", peer: "node2", local: a, remote: peerA)
        p.requestsSent = 10
        p.replies = replies
        p.requestsHeard = heard
        p.remoteMTU = remoteMTU
        (p.fullSent, p.fullReplies) = full
        p.fullSize = 1500
        p.roundTripNanoseconds = replies > 0 ? rtt : []
        return p
    }

    static func only(_ r: ValidationReport, _ check: String) -> [ValidationReport.Check] { r.checks.filter { $0.check == check } }

    @Test func healthyFactsPassAndGenericXDPIsAWarning() {
        let r = NetworkValidator.validate(Self.facts(probe: Self.probe(replies: 10, heard: 10)))
        #expect(Self.only(r, "reachability").map(\.verdict) == [.pass])
        #expect(Self.only(r, "mtu").map(\.verdict) == [.pass])
        #expect(Self.only(r, "xdp").map(\.verdict) == [.pass, .warning], "eth1 reports no redirect: generic only")
        #expect(r.verdict == .warning)
    }

    @Test func eachDirectionOfABlockedPathIsNamed() {
        let outBlocked = NetworkValidator.validate(Self.facts(probe: Self.probe(replies: 0, heard: 10)))
        #expect(Self.only(outBlocked, "reachability").first?.detail.contains("from here to node2 is blocked") == true)
        let silent = NetworkValidator.validate(Self.facts(probe: Self.probe(replies: 0, heard: 0)))
        #expect(Self.only(silent, "reachability").first?.detail.contains("nothing in either direction") == true)
        #expect(Self.only(silent, "mtu").isEmpty, "no MTU verdict without any frame")
        #expect(silent.verdict == .fail)
    }

    @Test func mtuMismatchFromEitherEvidence() {
        let reported = NetworkValidator.validate(Self.facts(probe: Self.probe(replies: 10, heard: 10, remoteMTU: 1400)))
        #expect(Self.only(reported, "mtu").first?.verdict == .fail && Self.only(reported, "mtu").first?.detail.contains("1400") == true)
        let lostFull = NetworkValidator.validate(Self.facts(probe: Self.probe(replies: 10, heard: 10, full: (2, 0))))
        #expect(Self.only(lostFull, "mtu").first?.detail.contains("smaller mtu") == true)
    }

    @Test func slowRoundTripsAndSingleNetworksWarn() {
        let slow = NetworkValidator.validate(Self.facts(probe: Self.probe(replies: 10, heard: 10, rtt: [30_000_000])))
        #expect(Self.only(slow, "rtt").first?.verdict == .warning)
        let one = NetworkValidator.validate(Self.facts(networks: 1, probe: Self.probe(replies: 10, heard: 10)))
        #expect(Self.only(one, "networks").first?.verdict == .warning)
        let down = NetworkValidator.validate(Self.facts(up: false))
        #expect(Self.only(down, "nic").last?.verdict == .fail && Self.only(down, "nic").last?.detail.contains("down") == true)
    }

    @Test func probeFramesRoundTrip() {
        let request = ProbeFrame(kind: .request, requester: 7, sequence: 42, requesterMTU: 9000, timestamp: 0x0102_0304_0506_0708)
        let bytes = request.encoded(size: 200)
        #expect(bytes.count == 200)
        #expect(ProbeFrame(bytes) == request)
        let reply = request.reply(from: 9, mtu: 1500)
        #expect(ProbeFrame(reply.encoded()) == reply)
        #expect(ProbeFrame(bytes.prefix(20)) == nil)
        var foreign = bytes
        foreign[3] = 0x54  // "NeFT": a netft frame, not a probe
        #expect(ProbeFrame(foreign) == nil)
    }

    @Test func millisecondsHaveThreeDecimals() {
        #expect(NetworkValidator.milliseconds(0.1234) == "0.123")
        #expect(NetworkValidator.milliseconds(12.05) == "12.050")
    }
}
