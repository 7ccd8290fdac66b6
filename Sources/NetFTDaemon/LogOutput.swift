import Foundation
import Logging

/// How the node writes its log: the cluster-log line shape for people, or one
/// JSON object per line for machines.
public enum LogFormat: String, CaseIterable, Sendable { case cluster, json }

/// A swift-log handler writing to standard error in either format.
public struct NodeLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let format: LogFormat
    let node: String

    public init(node: String, format: LogFormat) {
        self.node = node
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let time = NodeLogHandler.timestamp()
        let line: String
        switch format {
        case .cluster:
            line = "\(time) \(node) \(event.level.rawValue.uppercased().prefix(4)) \(event.message)"
        case .json:
            var object: [String: Any] = ["time": time, "node": node, "level": event.level.rawValue, "message": "\(event.message)"]
            for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var t = time_t(now.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, now.tv_nsec / 1_000_000)
    }
}
