/// Heartbeat timing for one class of route. Windows-named settings keep the
/// Windows limits (REFERENCE.md), so a value written for Windows means the
/// same here; the fast profile is netft's own, chosen explicitly.
public struct HeartbeatSettings: Equatable, Hashable, Sendable {
    /// Time between heartbeat requests on a route.
    public var delay: Milliseconds
    /// Consecutive missed heartbeats after which the route is Down.
    public var threshold: Int
    /// Consecutive good replies before a Down route is Up again (damps flapping).
    public var upAfter: Int
    /// Heartbeats remembered for the loss rate (RouteHistoryLength).
    public var historyLength: Int

    public init(delay: Milliseconds, threshold: Int, upAfter: Int = 1, historyLength: Int = 10) {
        self.delay = delay
        self.threshold = threshold
        self.upAfter = upAfter
        self.historyLength = historyLength
    }

    /// Time from the last reply to Down, at most one Delay more.
    public var detectionTime: Milliseconds { delay * threshold }

    /// Windows Server 2008 R2 / 2012 defaults: 1000 ms x 5.
    public static let windowsDefault = HeartbeatSettings(delay: 1000, threshold: 5)
    /// Windows 2016+ raised thresholds to ride out blips.
    public static let windows2016SameSubnet = HeartbeatSettings(delay: 1000, threshold: 10)
    public static let windows2016CrossSubnet = HeartbeatSettings(delay: 1000, threshold: 20)
    /// netft's fast profile: 25 ms x 4 detects a dead path in 100-125 ms; two
    /// good replies before Up.
    public static let fast = HeartbeatSettings(delay: 25, threshold: 4, upAfter: 2, historyLength: 40)
    /// The fast profile on a routed (cross-subnet) path: twice the delay, as a
    /// router in the path adds jitter that a 25 ms probe would count as loss.
    public static let fastCrossSubnet = HeartbeatSettings(delay: 50, threshold: 4, upAfter: 2, historyLength: 40)

    /// The documented limits of each setting.
    public enum Setting: String, CaseIterable, Sendable {
        case sameSubnetDelay = "SameSubnetDelay"
        case sameSubnetThreshold = "SameSubnetThreshold"
        case crossSubnetDelay = "CrossSubnetDelay"
        case crossSubnetThreshold = "CrossSubnetThreshold"
        case fastDelay = "FastDelay"
        case fastThreshold = "FastThreshold"
        case fastCrossSubnetDelay = "FastCrossSubnetDelay"
        case fastCrossSubnetThreshold = "FastCrossSubnetThreshold"
        case routeHistoryLength = "RouteHistoryLength"
        case upAfter = "UpAfter"

        public var range: ClosedRange<Int> {
            switch self {
            case .sameSubnetDelay: 250...2000
            case .crossSubnetDelay: 250...4000
            case .sameSubnetThreshold, .crossSubnetThreshold: 3...120
            case .fastDelay, .fastCrossSubnetDelay: 10...249
            case .fastThreshold, .fastCrossSubnetThreshold: 2...120
            case .routeHistoryLength: 1...1000
            case .upAfter: 1...100
            }
        }

        public var unit: String {
            switch self {
            case .sameSubnetDelay, .crossSubnetDelay, .fastDelay, .fastCrossSubnetDelay: " ms"
            default: ""
            }
        }
    }

    public struct OutOfRange: Error, Equatable, CustomStringConvertible, Sendable {
        public let setting: Setting
        public let value: Int
        public var description: String {
            let r = setting.range
            return "\(setting.rawValue) \(value)\(setting.unit) is outside \(r.lowerBound)-\(r.upperBound)\(setting.unit)"
        }
    }

    /// Returns `value` if inside the setting's limits, else the reason.
    public static func validate(_ setting: Setting, _ value: Int) throws(OutOfRange) -> Int {
        guard setting.range.contains(value) else { throw OutOfRange(setting: setting, value: value) }
        return value
    }

    public static func sameSubnet(delay: Int, threshold: Int) throws(OutOfRange) -> HeartbeatSettings {
        HeartbeatSettings(
            delay: Milliseconds(UInt64(try validate(.sameSubnetDelay, delay))),
            threshold: try validate(.sameSubnetThreshold, threshold))
    }

    public static func crossSubnet(delay: Int, threshold: Int) throws(OutOfRange) -> HeartbeatSettings {
        HeartbeatSettings(
            delay: Milliseconds(UInt64(try validate(.crossSubnetDelay, delay))),
            threshold: try validate(.crossSubnetThreshold, threshold))
    }

    public static func fast(delay: Int, threshold: Int) throws(OutOfRange) -> HeartbeatSettings {
        var s = HeartbeatSettings.fast
        s.delay = Milliseconds(UInt64(try validate(.fastDelay, delay)))
        s.threshold = try validate(.fastThreshold, threshold)
        return s
    }
}
