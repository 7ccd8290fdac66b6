/// What `netft validate` found: one line per check, like the Windows cluster
/// network validation report, each with a verdict and the reason for it.
public struct ValidationReport: Codable, Equatable, Sendable {
    public enum Verdict: String, Codable, Comparable, Sendable {
        case pass, warning, fail
        public static func < (a: Verdict, b: Verdict) -> Bool { a.rank < b.rank }
        private var rank: Int { self == .pass ? 0 : self == .warning ? 1 : 2 }
    }

    public struct Check: Codable, Equatable, Sendable {
        /// What kind of check: networks, subnet, nic, mtu, reachability, rtt, xdp, firewall, config.
        public var check: String
        /// What it is about: a network, an interface, a route ("cluster-a node1 -> node2"), a rule.
        public var subject: String
        public var verdict: Verdict
        public var detail: String
        public init(_ check: String, _ subject: String, _ verdict: Verdict, _ detail: String) {
            self.check = check
            self.subject = subject
            self.verdict = verdict
            self.detail = detail
        }
    }

    public var cluster: String
    public var node: String
    /// How reachability was learnt: "probes" (validate's own frames) or "daemon" (the running node's routes).
    public var mode: String
    public var checks: [Check]

    public init(cluster: String, node: String, mode: String, checks: [Check]) {
        self.cluster = cluster
        self.node = node
        self.mode = mode
        self.checks = checks
    }

    /// The worst verdict of all checks.
    public var verdict: Verdict { checks.map(\.verdict).max() ?? .pass }
    public func count(_ verdict: Verdict) -> Int { checks.filter { $0.verdict == verdict }.count }
}
