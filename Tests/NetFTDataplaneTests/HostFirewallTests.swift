import Foundation
import Testing

@testable import NetFTDataplane

/// What in an nftables ruleset (libnftables JSON) drops netft's port.
@Suite("Host firewall findings")
struct HostFirewallTests {
    static func chain(_ name: String, hook: String, policy: String = "accept") -> String {
        #"{"chain": {"family": "inet", "table": "f", "name": "\#(name)", "handle": 1, "type": "filter", "hook": "\#(hook)", "prio": 0, "policy": "\#(policy)"}}"#
    }

    static func rule(_ chain: String, _ handle: Int, _ match: String, _ verdict: String) -> String {
        #"{"rule": {"family": "inet", "table": "f", "chain": "\#(chain)", "handle": \#(handle), "expr": [\#(match)\#(match.isEmpty ? "" : ", "){"\#(verdict)": null}]}}"#
    }

    static func dport(_ proto: String, _ right: String, op: String = "==") -> String {
        #"{"match": {"op": "\#(op)", "left": {"payload": {"protocol": "\#(proto)", "field": "dport"}}, "right": \#(right)}}"#
    }

    static func findings(_ items: [String]) -> [String] {
        let json = #"{"nftables": [{"metainfo": {"json_schema_version": 1}}, "# + items.joined(separator: ", ") + "]}"
        return HostFirewall.findings(ruleset: Data(json.utf8), port: 3343).map { "\($0.hook): \($0.rule) @ \($0.location)" }
    }

    @Test func dropsOfThePortAreFoundWhateverTheirForm() {
        let found = Self.findings([
            Self.chain("input", hook: "input"),
            Self.rule("input", 3, Self.dport("udp", "3343"), "drop"),
            Self.rule("input", 4, Self.dport("udp", #"{"set": [53, {"range": [3000, 3400]}]}"#), "reject"),
            Self.rule("input", 5, Self.dport("tcp", "3343"), "drop"),
            Self.rule("input", 6, Self.dport("udp", "53"), "drop"),
            Self.rule("input", 7, Self.dport("udp", "3343", op: "!="), "drop"),
            Self.rule("input", 8, "", "drop"),
        ])
        #expect(found.count == 3, "\(found)")
        #expect(found.contains { $0.contains("udp dport 3343 drop") && $0.contains("handle 3") })
        #expect(found.contains { $0.contains("reject") && $0.contains("handle 4") })
        #expect(found.contains { $0.contains("handle 8") }, "a bare drop drops everything")
    }

    @Test func aDropPolicyCountsUnlessARuleAcceptsThePort() {
        let open = Self.findings([Self.chain("output", hook: "output", policy: "drop"), Self.rule("output", 3, Self.dport("udp", "3343"), "accept")])
        #expect(open.isEmpty, "\(open)")
        let closed = Self.findings([Self.chain("output", hook: "output", policy: "drop"), Self.rule("output", 3, Self.dport("tcp", "22"), "accept")])
        #expect(closed.count == 1 && closed[0].hasPrefix("output: policy drop"), "\(closed)")
        let notAHook = Self.findings([#"{"chain": {"family": "inet", "table": "f", "name": "sub", "handle": 9}}"#, Self.rule("sub", 3, Self.dport("udp", "3343"), "drop")])
        #expect(notAHook.isEmpty, "a chain without a hook is reached only by jumps, which are not followed")
    }
}
