import Foundation

/// CPU time a process spent, all its threads together: what a daemon costs,
/// read from outside it (the heartbeat-cost rig, the flood test).
public enum ProcessCPU {
    /// Nanoseconds on CPU of every thread of `pid`, from /proc schedstat.
    public static func nanoseconds(_ pid: Int32) -> UInt64 {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.reduce(0) { sum, task in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/schedstat", encoding: .utf8)) ?? "0"
            return sum + (UInt64(text.split(separator: " ").first ?? "0") ?? 0)
        }
    }
}
