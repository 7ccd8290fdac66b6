import Foundation

/// Two network namespaces joined by one veth pair, addresses in 198.18.0.0/15.
/// Names are unique per run; `tearDown` (also run on deinit) removes everything.
public final class VethPair {
    public let left: String
    public let right: String
    public let leftInterface = "nft0"
    public let rightInterface = "nft1"
    public let leftAddress: String
    public let rightAddress: String
    private var torn = false

    /// `octet` picks the /24 inside 198.18.0.0/15 so concurrent users do not collide.
    public init(tag: String, octet: UInt8 = UInt8.random(in: 1...254)) throws {
        let unique = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        left = "netft-\(tag)-a-\(unique)"
        right = "netft-\(tag)-b-\(unique)"
        leftAddress = "198.18.\(octet).1"
        rightAddress = "198.18.\(octet).2"
        do {
            try Shell.run(["ip", "netns", "add", left])
            try Shell.run(["ip", "netns", "add", right])
            try Shell.run(["ip", "-n", left, "link", "add", leftInterface, "type", "veth", "peer", "name", rightInterface, "netns", right])
            for (ns, ifname, address) in [(left, leftInterface, leftAddress), (right, rightInterface, rightAddress)] {
                try Shell.run(["ip", "-n", ns, "addr", "add", "\(address)/24", "dev", ifname])
                try Shell.run(["ip", "-n", ns, "link", "set", ifname, "up"])
                try Shell.run(["ip", "-n", ns, "link", "set", "lo", "up"])
            }
        } catch {
            tearDown()
            throw error
        }
    }

    deinit { tearDown() }

    public func tearDown() {
        guard !torn else { return }
        torn = true
        for ns in [left, right] { try? Shell.run(["ip", "netns", "del", ns], allowFailure: true) }
    }
}
