import Foundation
import NetFTCore

/// The inverse of `ConfigLoader`: a configuration as the YAML a node reads.
/// What the lab, the benchmark rigs and the tests write goes through here,
/// so there is one spelling of every key; settings left at their defaults
/// are left out, as a person would write the file.
public enum ConfigWriter {
    public static func yaml(_ config: ClusterConfig) -> String {
        let defaults = ClusterConfig(cluster: config.cluster)
        var lines = ["cluster: \(quoted(config.cluster))"]
        if config.port != defaults.port { lines.append("port: \(config.port)") }
        lines.append("security: \(config.security)")
        if let key = config.keyFile { lines.append("key_file: \(quoted(key))") }
        lines.append("lossless_failover: \(config.losslessFailover)")
        if config.losslessBufferPackets != defaults.losslessBufferPackets { lines.append("lossless_buffer_packets: \(config.losslessBufferPackets)") }
        if config.occupiedNIC != defaults.occupiedNIC { lines.append("occupied_nic: \(config.occupiedNIC.rawValue)") }
        if config.plumbAllCrossSubnetRoutes { lines.append("plumb_all_cross_subnet_routes: true") }
        lines.append("heartbeat: \(heartbeat(config.heartbeat))")
        lines.append("networks:")
        for n in config.networks {
            let subnets = n.subnets.count == 1 ? "subnet: \(quoted("\(n.subnets[0])"))" : "subnets: [\(n.subnets.map { quoted("\($0)") }.joined(separator: ", "))]"
            lines.append("  - {name: \(quoted(n.name)), \(subnets), role: \(n.role.rawValue), priority: \(n.priority)}")
        }
        lines.append("nodes:")
        for n in config.nodes {
            lines.append("  - {name: \(quoted(n.name)), id: \(n.id), addresses: [\(n.addresses.map { quoted("\($0)") }.joined(separator: ", "))]}")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The heartbeat section as one flow mapping: the profile and every setting not at its default.
    public static func heartbeat(_ hb: ClusterConfig.Heartbeat) -> String {
        typealias S = HeartbeatSettings.Setting
        let d = ClusterConfig.Heartbeat()
        var parts = ["profile: \(hb.profile.rawValue)"]
        let values: [(S, Int, Int)] = [
            (.sameSubnetDelay, Int(hb.sameSubnet.delay.value), Int(d.sameSubnet.delay.value)),
            (.sameSubnetThreshold, hb.sameSubnet.threshold, d.sameSubnet.threshold),
            (.crossSubnetDelay, Int(hb.crossSubnet.delay.value), Int(d.crossSubnet.delay.value)),
            (.crossSubnetThreshold, hb.crossSubnet.threshold, d.crossSubnet.threshold),
            (.fastDelay, Int(hb.fast.delay.value), Int(d.fast.delay.value)),
            (.fastThreshold, hb.fast.threshold, d.fast.threshold),
            (.fastCrossSubnetDelay, Int(hb.fastCrossSubnet.delay.value), Int(d.fastCrossSubnet.delay.value)),
            (.fastCrossSubnetThreshold, hb.fastCrossSubnet.threshold, d.fastCrossSubnet.threshold),
            (.routeHistoryLength, hb.historyLength, d.historyLength),
            (.upAfter, hb.upAfter, d.upAfter),
        ]
        for (setting, value, standard) in values where value != standard { parts.append("\(setting.rawValue): \(value)") }
        return "{\(parts.joined(separator: ", "))}"
    }

    /// Writes `config` to `path` whole (a reader never sees half a file).
    public static func write(_ config: ClusterConfig, to path: String) throws {
        try yaml(config).write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// YAML double quotes: names and addresses (IPv6 has colons) read back as the same string.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
