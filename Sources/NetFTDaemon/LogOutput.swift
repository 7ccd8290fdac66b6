import Foundation
import Logging
import NetFTDataplane
import Synchronization

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
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        }
        LogSink.shared.write(line)
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

/// Where log lines go: a bounded queue drained to standard error by a thread
/// of its own, so a slow or stopped reader of the log (a paused pager, a full
/// pipe) never blocks the thread that logged. Past the bound, lines are
/// dropped and the drop is written once the writer catches up.
public final class LogSink: Sendable {
    public static let shared = LogSink(bound: 10_000)
    private struct State {
        var lines: [String] = []
        var dropped = 0
        var writing = false
    }
    private let state = Mutex(State())
    private let ready = DispatchSemaphore(value: 0)
    private let bound: Int

    init(bound: Int) {
        self.bound = bound
        let thread = Thread { [self] in drain() }
        thread.name = "netft-log"
        thread.start()
    }

    func write(_ line: String) {
        let queued = state.withLock { s -> Bool in
            guard s.lines.count < bound else {
                s.dropped += 1
                return false
            }
            s.lines.append(line)
            return true
        }
        if queued { ready.signal() }
    }

    /// Waits (at most `seconds`) until every queued line is written: before exit.
    public func flush(seconds: Double = 2) {
        let deadline = MonotonicClock.seconds + seconds
        while MonotonicClock.seconds < deadline && state.withLock({ !$0.lines.isEmpty || $0.writing }) { usleep(1000) }
    }

    /// write(2) to standard error; a closed or broken stream loses the text, never the process.
    static func writeAll(_ text: String) {
        var bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + sent, $0.count - sent) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            sent += n
        }
    }

    private func drain() {
        var batch: [String] = []
        while true {
            ready.wait()
            let dropped = state.withLock { s -> Int in
                swap(&s.lines, &batch)
                s.writing = true
                defer { s.dropped = 0 }
                return s.dropped
            }
            var text = batch.joined(separator: "\n") + "\n"
            if dropped > 0 { text += "\(NodeLogHandler.timestamp()) netft WARN [NETFT] \(dropped) log lines dropped: the log reader was too slow\n" }
            if !batch.isEmpty || dropped > 0 { LogSink.writeAll(text) }
            batch.removeAll(keepingCapacity: true)
            state.withLock { $0.writing = false }
        }
    }
}
