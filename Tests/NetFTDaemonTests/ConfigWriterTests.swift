import Foundation
import NetFTCore
import Testing

@testable import NetFTDaemon

/// What the lab, the rigs and the tests write reads back as the same configuration.
@Suite("Configuration writer")
struct ConfigWriterTests {
    @Test(arguments: ["example", "fast-clear"])
    func theShippedExamplesSurviveARoundTrip(_ name: String) throws {
        let config = try ConfigLoader.load(path: try ConfigLoaderTests.path(name))
        let again = try ConfigLoader.parse(ConfigWriter.yaml(config))
        #expect(again == config, "\(ConfigWriter.yaml(config))")
    }

    @Test func everyFieldAwayFromItsDefaultSurvives() throws {
        var config = ClusterConfig(cluster: "odd \"name\"")
        config.port = 4000
        config.security = .encrypt
        config.keyFile = "/etc/netft/with space.key"
        config.losslessFailover = false
        config.losslessBufferPackets = 128
        config.occupiedNIC = .refuse
        config.plumbAllCrossSubnetRoutes = true
        config.heartbeat.profile = .fast
        // Only Delay and Threshold are settings; the rest of each comes with its profile.
        (config.heartbeat.sameSubnet.delay, config.heartbeat.sameSubnet.threshold) = (500, 7)
        (config.heartbeat.crossSubnet.delay, config.heartbeat.crossSubnet.threshold) = (3000, 9)
        (config.heartbeat.fast.delay, config.heartbeat.fast.threshold) = (50, 5)
        (config.heartbeat.fastCrossSubnet.delay, config.heartbeat.fastCrossSubnet.threshold) = (60, 6)
        config.heartbeat.historyLength = 20
        config.heartbeat.upAfter = 3
        config.networks = [
            .init(name: "v6", subnets: [.init(IPAddress("2001:db8:0:1::")!, prefixLength: 65), .init(IPAddress("2001:db8:0:1:8000::")!, prefixLength: 65)], priority: 10),
            .init(name: "backup", subnet: IPAddress("198.18.2.0")!, prefixLength: 24, role: .none, priority: 900),
        ]
        config.nodes = [
            .init(name: "a", id: 1, addresses: [IPAddress("2001:db8:0:1::1")!]),
            .init(name: "b", id: 2, addresses: [IPAddress("2001:db8:0:1:8000::2")!]),
        ]
        let again = try ConfigLoader.parse(ConfigWriter.yaml(config))
        #expect(again == config, "\(ConfigWriter.yaml(config))")
    }
}
