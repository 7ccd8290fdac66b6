import Foundation
import Glibc
import NetFTDaemon
import NetFTFabric
import NetFTLab
import Synchronization
import Testing

/// Least privilege: once set up, every thread of a running daemon holds
/// exactly the documented capabilities, and can never gain more.
@Suite("Least privilege", .serialized)
struct PrivilegeTests {
    /// The `Cap*:` and `NoNewPrivs:` lines of one task's status.
    static func fields(_ status: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in status.split(separator: "\n") where line.hasPrefix("Cap") || line.hasPrefix("NoNewPrivs") || line.hasPrefix("SigBlk") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return fields
    }

    /// Runs `body` on a new thread with every signal blocked, and waits for it.
    static func onThreadBlockingSignals(_ body: @escaping @Sendable () throws -> Void) throws {
        let outcome = Mutex<Result<Void, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var all = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_BLOCK, &all, nil)
            let result = Result { try body() }
            outcome.withLock { $0 = result }
            done.signal()
        }
        thread.start()
        done.wait()
        try outcome.withLock { $0 }!.get()
    }

    @Test("every thread of a running daemon keeps exactly CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF")
    func theDaemonKeepsExactlyTheDocumentedCapabilities() throws {
        try requireKernelLab()
        // xdp, netft run's default: its set-up logs (so the log writer's thread
        // exists before the drop and has to be asked too).
        var spec = ClusterFabric.Spec()
        spec.dataplane = .xdp
        let fabric = try ClusterFabric(spec: spec, binary: netftBinary, tag: "caps")
        defer { fabric.tearDown() }
        // Spawned from a thread that blocks every signal (as a libdispatch worker
        // does): exec keeps the mask, and the daemon must clear it to reach its threads.
        nonisolated(unsafe) let starting = fabric  // used by that thread alone while this one waits
        try Self.onThreadBlockingSignals { try starting.startAll() }
        #expect(fabric.waitAllRoutesUp(seconds: 15))
        let pid = try #require(fabric.pid("node1"))
        let expected = String(format: "%016llx", Capabilities.mask)
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
        #expect(tasks.count >= 4, "the datapath, control plane, log writer and event loop threads: \(tasks.count)")
        for task in tasks {
            let status = try String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)
            let f = Self.fields(status)
            let name = ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") + (task == "\(pid)" ? " (main)" : " (\(task))")
            #expect(f["CapEff"] == expected, "thread \(name): effective \(f["CapEff"] ?? "?"), expected \(expected); blocked \(f["SigBlk"] ?? "?")")
            #expect(f["CapPrm"] == expected, "thread \(name): permitted \(f["CapPrm"] ?? "?")")
            #expect(f["CapBnd"] == expected, "thread \(name): bounding \(f["CapBnd"] ?? "?")")
            #expect(f["CapInh"] == String(repeating: "0", count: 16) && f["CapAmb"] == String(repeating: "0", count: 16), "thread \(name): \(f)")
            #expect(f["NoNewPrivs"] == "1", "thread \(name): no_new_privs")
        }
        #expect(fabric.log("node1").contains("set-up done: keeping only CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF"))
        // The test process spawns the daemon from a thread that blocks nearly every
        // signal, and exec keeps the mask: the daemon clears it first, so every
        // thread answered the drop (none was left with full capabilities).
        for node in fabric.nodes {
            #expect(!fabric.log(node.name).contains("not every thread could be limited"), "\(node.name): \(fabric.log(node.name).split(separator: "\n").filter { $0.contains("capabilities") })")
        }
        // What it kept is what it uses: a link bounce (neighbours restored over
        // netlink) and status (the classifier's maps) still work.
        try fabric.setLink("node1", network: 0, up: false)
        try fabric.setLink("node1", network: 0, up: true)
        #expect(fabric.waitAllRoutesUp(seconds: 10), "routes came back after the link bounce")
        #expect(!fabric.log("node1").contains("could not restore neighbour"), "a neighbour restore was refused")
        #expect(fabric.status("node1")?.datapath.isEmpty == false)
    }
}
