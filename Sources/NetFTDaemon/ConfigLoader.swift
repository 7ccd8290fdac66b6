import Foundation
import NetFTCore
import Yams

/// A configuration refused: the file, the line and the reason.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var reason: String
    public var description: String { "\(file):\(line): \(reason)" }
}

/// Reads a YAML node configuration (see dist/netft.yaml) into a validated
/// ClusterConfig. Every refusal names the line.
public enum ConfigLoader {
    public static func load(path: String) throws(ConfigError) -> ClusterConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            // The OS's reason (no such file, permission denied), not just "cannot".
            let reason = access(path, R_OK) == 0 ? "cannot read the file" : "cannot read the file: \(String(cString: strerror(errno)))"
            throw ConfigError(file: path, line: 0, reason: reason)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: 0, reason: "the file is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String = "<config>") throws(ConfigError) -> ClusterConfig {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw ConfigError(file: file, line: 1, reason: "the file is empty") }
            root = node
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw ConfigError(file: file, line: yamlLine(error), reason: "not valid YAML: \(yamlProblem(error))")
        } catch {
            throw ConfigError(file: file, line: 1, reason: "not valid YAML: \(error)")
        }
        var reader = Reader(file: file)
        return try reader.config(root)
    }

    static func yamlLine(_ error: YamlError) -> Int {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return 1
        }
    }

    static func yamlProblem(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        default: return "\(error)"
        }
    }
}

/// Walks the YAML tree, remembering where each value came from.
struct Reader {
    let file: String

    func fail(_ node: Node?, _ reason: String) -> ConfigError {
        ConfigError(file: file, line: node?.mark?.line ?? 1, reason: reason)
    }

    func mapping(_ node: Node, _ what: String, allowed: Set<String>) throws(ConfigError) -> [(String, Node, Node)] {
        guard case .mapping(let m) = node else { throw fail(node, "\(what) must be a mapping of keys to values") }
        var out: [(String, Node, Node)] = []
        var seen = Set<String>()
        for (key, value) in m {
            guard let name = key.string else { throw fail(key, "\(what): keys must be text") }
            guard allowed.contains(name) else {
                throw fail(key, "unknown key '\(name)' in \(what) (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            guard seen.insert(name).inserted else { throw fail(key, "'\(name)' appears twice in \(what)") }
            out.append((name, key, value))
        }
        return out
    }

    func string(_ node: Node, _ what: String) throws(ConfigError) -> String {
        guard case .scalar(let s) = node, !s.string.isEmpty else { throw fail(node, "\(what) must be non-empty text") }
        return s.string
    }

    func int(_ node: Node, _ what: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard case .scalar(let s) = node, let value = Int(s.string) else { throw fail(node, "\(what) must be a whole number") }
        guard range.contains(value) else { throw fail(node, "\(what) \(value) is outside \(range.lowerBound)-\(range.upperBound)") }
        return value
    }

    func bool(_ node: Node, _ what: String) throws(ConfigError) -> Bool {
        switch node.string?.lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: throw fail(node, "\(what) must be true or false")
        }
    }

    func address(_ node: Node, _ what: String) throws(ConfigError) -> IPAddress {
        let text = try string(node, what)
        guard let address = IPAddress(text) else { throw fail(node, "\(what) '\(text)' is not an IPv4 or IPv6 address") }
        return address
    }

    func list(_ node: Node, _ what: String) throws(ConfigError) -> [Node] {
        guard case .sequence(let s) = node else { throw fail(node, "\(what) must be a list") }
        return Array(s)
    }

    mutating func config(_ root: Node) throws(ConfigError) -> ClusterConfig {
        let keys: Set<String> = [
            "cluster", "port", "security", "key_file", "heartbeat", "networks", "nodes", "plumb_all_cross_subnet_routes",
            "lossless_failover", "lossless_buffer_packets", "occupied_nic",
        ]
        let entries = try mapping(root, "the configuration", allowed: keys)
        guard let clusterNode = entries.first(where: { $0.0 == "cluster" })?.2 else {
            throw fail(root, "missing 'cluster': the cluster's name")
        }
        var config = ClusterConfig(cluster: try string(clusterNode, "cluster"))
        var networksNode: Node?
        var nodesNode: Node?
        for (name, _, value) in entries {
            switch name {
            case "port": config.port = UInt16(try int(value, "port", 1...65535))
            case "security":
                let text = try string(value, "security")
                guard let level = SecurityLevel(name: text) else { throw fail(value, "security '\(text)' is not one of none, sign, encrypt") }
                config.security = level
            case "key_file": config.keyFile = try string(value, "key_file")
            case "plumb_all_cross_subnet_routes": config.plumbAllCrossSubnetRoutes = try bool(value, name)
            case "lossless_failover": config.losslessFailover = try bool(value, name)
            case "lossless_buffer_packets": config.losslessBufferPackets = try int(value, name, 64...65536)
            case "occupied_nic":
                let text = try string(value, name)
                guard let choice = ClusterConfig.OccupiedNIC(rawValue: text) else {
                    throw fail(value, "occupied_nic '\(text)' is not one of udp (carry that NIC through the kernel socket), refuse (do not start)")
                }
                config.occupiedNIC = choice
            case "heartbeat": config.heartbeat = try heartbeat(value)
            case "networks": networksNode = value
            case "nodes": nodesNode = value
            default: break
            }
        }
        if config.security != .none && config.keyFile == nil {
            throw fail(root, "security \(config.security) needs 'key_file': the cluster key (mode 0600)")
        }
        guard let networksNode else { throw fail(root, "missing 'networks': the cluster networks") }
        guard let nodesNode else { throw fail(root, "missing 'nodes': the cluster's nodes") }
        config.networks = try networks(networksNode)
        config.nodes = try nodes(nodesNode, networks: config.networks)
        return config
    }

    func heartbeat(_ node: Node) throws(ConfigError) -> ClusterConfig.Heartbeat {
        typealias S = HeartbeatSettings.Setting
        var hb = ClusterConfig.Heartbeat()
        var allowed = Set(S.allCases.map(\.rawValue))
        allowed.insert("profile")
        for (name, _, value) in try mapping(node, "heartbeat", allowed: allowed) {
            if name == "profile" {
                let text = try string(value, "profile")
                guard let profile = ClusterConfig.Profile(rawValue: text) else { throw fail(value, "profile '\(text)' is not one of default, fast") }
                hb.profile = profile
                continue
            }
            let setting = S(rawValue: name)!
            let number = try int(value, name, Int.min...Int.max)
            do {
                let v = try HeartbeatSettings.validate(setting, number)
                switch setting {
                case .sameSubnetDelay: hb.sameSubnet.delay = Milliseconds(UInt64(v))
                case .sameSubnetThreshold: hb.sameSubnet.threshold = v
                case .crossSubnetDelay: hb.crossSubnet.delay = Milliseconds(UInt64(v))
                case .crossSubnetThreshold: hb.crossSubnet.threshold = v
                case .fastDelay: hb.fast.delay = Milliseconds(UInt64(v))
                case .fastThreshold: hb.fast.threshold = v
                case .fastCrossSubnetDelay: hb.fastCrossSubnet.delay = Milliseconds(UInt64(v))
                case .fastCrossSubnetThreshold: hb.fastCrossSubnet.threshold = v
                case .routeHistoryLength: hb.historyLength = v
                case .upAfter: hb.upAfter = v
                }
            } catch {
                throw fail(value, error.description)
            }
        }
        return hb
    }

    func networks(_ node: Node) throws(ConfigError) -> [ClusterConfig.Network] {
        typealias Subnet = ClusterConfig.Subnet
        var out: [ClusterConfig.Network] = []
        var lines: [String: Int] = [:]
        for item in try list(node, "networks") {
            var name: String?, subnets: [(Subnet, Node)] = [], role = ClusterConfig.Role.cluster, priority: Int?
            let entries = try mapping(item, "a network", allowed: ["name", "subnet", "subnets", "role", "priority"])
            if entries.contains(where: { $0.0 == "subnet" }), let both = entries.first(where: { $0.0 == "subnets" }) {
                throw fail(both.1, "a network has 'subnet' (one) or 'subnets' (a list of routed subnets), not both")
            }
            for (key, _, value) in entries {
                switch key {
                case "name": name = try string(value, "network name")
                case "subnet": subnets = [(try self.subnet(value), value)]
                case "subnets":
                    for s in try list(value, "subnets") { subnets.append((try self.subnet(s), s)) }
                    if subnets.isEmpty { throw fail(value, "'subnets' lists no subnet") }
                case "role":
                    let text = try string(value, "role")
                    guard let r = ClusterConfig.Role(rawValue: text) else { throw fail(value, "role '\(text)' is not one of cluster, none") }
                    role = r
                case "priority": priority = try int(value, "priority", 0...100_000)
                default: break
                }
            }
            guard let name else { throw fail(item, "a network needs a 'name'") }
            guard !subnets.isEmpty else { throw fail(item, "network \(name) needs a 'subnet' (for example 198.18.1.0/24) or 'subnets' (a list)") }
            if let first = lines[name] { throw fail(item, "network name '\(name)' is already used on line \(first)") }
            for (i, (subnet, at)) in subnets.enumerated() {
                if let twin = subnets[..<i].first(where: { $0.0.overlaps(subnet) }) {
                    throw fail(at, "subnet \(subnet) of network \(name) overlaps its subnet \(twin.0)")
                }
                if let overlap = out.first(where: { $0.subnets.contains { $0.overlaps(subnet) } }) {
                    throw fail(at, "network \(name) (\(subnet)) overlaps network \(overlap.label)")
                }
            }
            let network = ClusterConfig.Network(name: name, subnets: subnets.map(\.0), role: role, priority: priority ?? (out.count + 1) * 100)
            lines[name] = item.mark?.line ?? 0
            out.append(network)
        }
        if out.isEmpty { throw fail(node, "'networks' lists no network") }
        return out
    }

    func subnet(_ node: Node) throws(ConfigError) -> ClusterConfig.Subnet {
        let text = try string(node, "subnet")
        let parts = text.split(separator: "/")
        guard parts.count == 2, let address = IPAddress(String(parts[0])), let prefix = Int(parts[1]),
            prefix >= 1, prefix <= (address.isIPv4 ? 32 : 128)
        else { throw fail(node, "subnet '\(text)' is not an address/prefix such as 198.18.1.0/24") }
        return ClusterConfig.Subnet(address, prefixLength: prefix)
    }
    func nodes(_ node: Node, networks: [ClusterConfig.Network]) throws(ConfigError) -> [ClusterConfig.Node] {
        var out: [ClusterConfig.Node] = []
        for item in try list(node, "nodes") {
            var name: String?, id: Int?, addresses: [IPAddress] = []
            var addressNodes: [Node] = []
            for (key, _, value) in try mapping(item, "a node", allowed: ["name", "id", "addresses"]) {
                switch key {
                case "name": name = try string(value, "node name")
                case "id": id = try int(value, "node id", 1...65000)
                case "addresses":
                    addressNodes = try list(value, "addresses")
                    for a in addressNodes { addresses.append(try address(a, "address")) }
                default: break
                }
            }
            guard let name else { throw fail(item, "a node needs a 'name'") }
            guard let id else { throw fail(item, "node \(name) needs an 'id' (1-65000)") }
            guard !addresses.isEmpty else { throw fail(item, "node \(name) needs 'addresses' on the cluster networks") }
            if out.contains(where: { $0.name == name }) { throw fail(item, "node name '\(name)' is used twice") }
            if let other = out.first(where: { $0.id == NodeID(id) }) { throw fail(item, "node id \(id) is already node \(other.name)'s") }
            for (a, n) in zip(addresses, addressNodes) {
                guard networks.contains(where: { $0.contains(a) }) else {
                    throw fail(n, "address \(a) of node \(name) is on none of the configured networks")
                }
                if let other = out.first(where: { $0.addresses.contains(a) }) {
                    throw fail(n, "address \(a) of node \(name) is also node \(other.name)'s")
                }
            }
            out.append(ClusterConfig.Node(name: name, id: NodeID(id), addresses: addresses))
        }
        if out.count < 2 { throw fail(node, "a cluster needs at least two nodes") }
        return out
    }
}
