import CNetFTShims
import NetFTDataplane

/// The capabilities the daemon keeps once set-up is done (adapter, XDP,
/// sockets, pins and servers exist), and what each one is for. Everything
/// else leaves every thread's effective, permitted and bounding sets, and
/// no_new_privs is set, so nothing the daemon runs later can regain them.
public enum Capabilities {
    public struct Kept: Sendable {
        public let name: String
        public let number: Int
        public let usedFor: String
    }

    public static let kept: [Kept] = [
        Kept(name: "CAP_NET_ADMIN", number: 12, usedFor: "restoring neighbours when a link comes back (netlink)"),
        Kept(name: "CAP_NET_RAW", number: 13, usedFor: "the gratuitous ARP when a NIC's MAC changes (a packet socket)"),
        Kept(name: "CAP_BPF", number: 39, usedFor: "the classifier's maps: the pinned route mirror and the counters"),
    ]

    public static var mask: UInt64 { kept.reduce(0) { $0 | 1 << UInt64($1.number) } }

    /// Drops everything but `kept`, on every thread of the process.
    static func limit() throws(SystemError) {
        let result = netft_capabilities_limit(mask)
        if result < 0 { throw SystemError("drop capabilities to \(kept.map(\.name).joined(separator: ", "))", errno: -result) }
    }
}
