import CNetFTShims
import Foundation
import Glibc
import NetFTCore

/// Reads the host's nftables ruleset (libnftables, as JSON) and finds what
/// would drop netft's port: rules with a drop or reject verdict whose
/// matches can cover UDP to or from the port, and input/output chains whose
/// policy is drop with no earlier rule accepting it. Jumps into other chains
/// are not followed; the probes show their effect.
public enum HostFirewall {
    /// The ruleset JSON of the calling thread's network namespace.
    public static func rulesetJSON() throws(SystemError) -> Data {
        var json: UnsafeMutablePointer<CChar>?
        var reason = [CChar](repeating: 0, count: 512)
        try check("read the nftables ruleset", netft_nft_ruleset_json(&json, &reason, reason.count)) {
            String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        defer { free(json) }
        return Data(bytes: json!, count: strlen(json!))
    }

    /// Pure: the findings in a ruleset document for UDP `port`.
    public static func findings(ruleset: Data, port: UInt16) -> [ValidationFacts.FirewallFinding] {
        guard let root = try? JSONSerialization.jsonObject(with: ruleset) as? [String: Any],
            let items = root["nftables"] as? [[String: Any]]
        else { return [] }
        struct Chain { var hook: String; var policy: String?; var accepted = false }
        var chains: [String: Chain] = [:]  // "family table chain"
        var found: [ValidationFacts.FirewallFinding] = []
        let directions = ["input": "input", "prerouting": "input", "output": "output", "postrouting": "output"]
        for item in items {
            if let chain = item["chain"] as? [String: Any], let hook = (chain["hook"] as? String).flatMap({ directions[$0] }) {
                chains[key(chain, name: "name")] = Chain(hook: hook, policy: chain["policy"] as? String)
            }
            guard let rule = item["rule"] as? [String: Any], let exprs = rule["expr"] as? [[String: Any]] else { continue }
            let chainKey = key(rule, name: "chain")
            guard let chain = chains[chainKey] else { continue }
            guard let verdict = verdict(exprs), let text = applies(exprs, port: port) else { continue }
            if verdict == "accept" {
                chains[chainKey]?.accepted = true
            } else if !chain.accepted {
                found.append(.init(location: location(rule, chain: "chain", handle: rule["handle"]), hook: chain.hook, rule: "\(text)\(text.isEmpty ? "" : " ")\(verdict)"))
            }
        }
        for item in items {
            guard let chain = item["chain"] as? [String: Any], let state = chains[key(chain, name: "name")], state.policy == "drop", !state.accepted else { continue }
            found.append(.init(location: location(chain, chain: "name", handle: nil), hook: state.hook, rule: "policy drop, no rule accepts udp \(port)"))
        }
        return found
    }

    private static func key(_ object: [String: Any], name: String) -> String {
        "\(object["family"] ?? "") \(object["table"] ?? "") \(object[name] ?? "")"
    }

    private static func location(_ object: [String: Any], chain: String, handle: Any?) -> String {
        "table \(object["family"] ?? "") \(object["table"] ?? "") chain \(object[chain] ?? "")" + (handle.map { " handle \($0)" } ?? "")
    }

    private static func verdict(_ exprs: [[String: Any]]) -> String? {
        for e in exprs {
            for v in ["drop", "reject", "accept"] where e.keys.contains(v) { return v }
        }
        return nil
    }

    /// nil when a match rules out UDP on `port`; otherwise the matches, as nft would print them.
    private static func applies(_ exprs: [[String: Any]], port: UInt16) -> String? {
        var words: [String] = []
        for e in exprs {
            guard let match = e["match"] as? [String: Any], let left = match["left"] as? [String: Any] else { continue }
            let negated = (match["op"] as? String) == "!="
            let right = match["right"]
            if let payload = left["payload"] as? [String: Any], let proto = payload["protocol"] as? String, let field = payload["field"] as? String {
                words.append("\(proto) \(field) \(describe(right))\(negated ? " (not)" : "")")
                if ["dport", "sport"].contains(field) {
                    guard ["udp", "th"].contains(proto) else { return nil }
                    if covers(right, port: Int(port)) == negated { return nil }
                }
                // Other header fields (addresses, ...) narrow the rule but may still hit cluster peers.
            } else if let meta = left["meta"] as? [String: Any], meta["key"] as? String == "l4proto" {
                words.append("meta l4proto \(describe(right))")
                if coversUDP(right) == negated { return nil }
            } else {
                words.append("\(describe(left)) \(describe(right))")
            }
        }
        return words.joined(separator: " ")
    }

    private static func covers(_ value: Any?, port: Int) -> Bool {
        if let n = value as? Int { return n == port }
        if let range = (value as? [String: Any])?["range"] as? [Int], range.count == 2 { return range[0] <= port && port <= range[1] }
        if let set = (value as? [String: Any])?["set"] as? [Any] { return set.contains { covers($0, port: port) } }
        return true  // a named set or a map: cannot tell, so assume it may
    }

    private static func coversUDP(_ value: Any?) -> Bool {
        if let s = value as? String { return s == "udp" }
        if let n = value as? Int { return n == 17 }
        if let set = (value as? [String: Any])?["set"] as? [Any] { return set.contains { coversUDP($0) } }
        return true
    }

    private static func describe(_ value: Any?) -> String {
        switch value {
        case let n as Int: "\(n)"
        case let s as String: s
        case let object as [String: Any]:
            if let range = object["range"] as? [Any] { "\(range.map { describe($0) }.joined(separator: "-"))" }
            else if let set = object["set"] as? [Any] { "{ \(set.map { describe($0) }.joined(separator: ", ")) }" }
            else { object.keys.sorted().joined(separator: " ") }
        default: "?"
        }
    }
}
