import CNetFTShims

/// The classifier's per-CPU counters summed over CPUs: one field per decision,
/// mirroring `struct netft_stats` in bpf/netft_wire.h (same names, same order).
public struct ClassifierStats: Equatable, Sendable {
    public enum Reason: String, CaseIterable, Sendable {
        case steered, noSocket = "no_socket"
        case passNotIP = "pass_not_ip", passNotUDP = "pass_not_udp", passOtherPort = "pass_other_port"
        case passFragment = "pass_fragment", passNoMagic = "pass_no_magic"
        case passBadVersion = "pass_bad_version", passIPv6Ext = "pass_ipv6_ext"
        case passVLANTooDeep = "pass_vlan_too_deep", passBadIPHeader = "pass_bad_ip_header"
        case passTruncatedEth = "pass_truncated_eth", passTruncatedVLAN = "pass_truncated_vlan"
        case passTruncatedIP = "pass_truncated_ip", passTruncatedUDP = "pass_truncated_udp"
        case passTruncatedNetFT = "pass_truncated_netft", passControl = "pass_control"
        case dropUnknownSource = "drop_unknown_source", dropOverBudget = "drop_over_budget"
    }

    public private(set) var counts: [Reason: UInt64] = [:]

    public init() {}

    init(_ raw: netft_stats) {
        let values = [
            raw.steered, raw.no_socket, raw.pass_not_ip, raw.pass_not_udp, raw.pass_other_port,
            raw.pass_fragment, raw.pass_no_magic, raw.pass_bad_version, raw.pass_ipv6_ext,
            raw.pass_vlan_too_deep, raw.pass_bad_ip_header, raw.pass_truncated_eth,
            raw.pass_truncated_vlan, raw.pass_truncated_ip, raw.pass_truncated_udp,
            raw.pass_truncated_netft, raw.pass_control, raw.drop_unknown_source, raw.drop_over_budget,
        ]
        for (reason, value) in zip(Reason.allCases, values) { counts[reason] = value }
    }

    public subscript(reason: Reason) -> UInt64 { counts[reason] ?? 0 }

    public var total: UInt64 { counts.values.reduce(0, +) }

    /// The counters that moved between `earlier` and this reading.
    public func delta(since earlier: ClassifierStats) -> [Reason: UInt64] {
        var moved: [Reason: UInt64] = [:]
        for reason in Reason.allCases where self[reason] != earlier[reason] {
            moved[reason] = self[reason] &- earlier[reason]
        }
        return moved
    }
}
