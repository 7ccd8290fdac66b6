import Foundation
import NetFTDaemon
import NetFTLab
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

    @Test("every thread of a running daemon keeps exactly CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF")
    func theDaemonKeepsExactlyTheDocumentedCapabilities() throws {
        try requireKernelLab()
        let fabric = try upFabric(ClusterFabric.Spec(), tag: "caps")
        defer { fabric.tearDown() }
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
        // What it kept is what it uses: a link bounce (neighbours restored over
        // netlink) and status (the classifier's maps) still work.
        try fabric.setLink("node1", network: 0, up: false)
        try fabric.setLink("node1", network: 0, up: true)
        #expect(fabric.waitAllRoutesUp(seconds: 10), "routes came back after the link bounce")
        #expect(!fabric.log("node1").contains("could not restore neighbour"), "a neighbour restore was refused")
        #expect((fabric.status("node1")?["datapath"] as? [String: Any]) != nil)
    }
}
