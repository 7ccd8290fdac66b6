import Foundation
import Glibc
import NetFTDataplane
import NetFTFabric
import NetFTLab
import NetFTTestSupport
import Testing

/// `netft lab` as a careless operator runs it: killed, hung up on, piped into
/// `head`. Whatever happens, `netft lab --down` (or the lab itself) leaves
/// no process, namespace, pin, bpffs directory or work directory behind.
@Suite("netft lab under signals", .serialized)
struct LabLifecycleTests {
    static let records = "/run/netft/labs"

    /// Starts `netft lab` and waits until its record names running daemons.
    static func startLab(_ extra: [String]) throws -> (Process, ClusterFabric.Kept) {
        let lab = Process()
        lab.executableURL = URL(fileURLWithPath: netftBinary)
        lab.arguments = ["lab", "--nodes", "2", "--scenario", "flapping", "--scenario", "restart"] + extra
        lab.standardOutput = FileHandle.nullDevice
        lab.standardError = FileHandle.nullDevice
        try lab.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && lab.isRunning {
            let mine = ClusterFabric.records(in: records).map(\.kept).first { $0.creator_pid == lab.processIdentifier }
            if let mine, mine.nodes.count == 2, mine.nodes.allSatisfy({ $0.pid.map { kill($0, 0) == 0 } ?? false }) { return (lab, mine) }
            usleep(20_000)
        }
        kill(lab.processIdentifier, SIGKILL)
        throw Missing(description: "netft lab did not record two running daemons within 30 s")
    }

    /// Everything a lab puts on the machine, gone.
    static func expectNothingLeft(_ kept: ClusterFabric.Kept, _ context: String) {
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        #expect(!namespaces.contains { $0.hasPrefix(kept.tag) }, "\(context): namespaces left: \(namespaces.filter { $0.hasPrefix(kept.tag) })")
        for pid in kept.nodes.compactMap(\.pid) { #expect(!ClusterFabric.isAlive(pid), "\(context): daemon \(pid) still runs") }
        #expect(!FileManager.default.fileExists(atPath: kept.pin_root), "\(context): pins left under \(kept.pin_root)")
        #expect(!FileManager.default.fileExists(atPath: kept.work_directory), "\(context): work directory left")
        let recorded = ClusterFabric.records(in: records).map(\.kept.tag)
        #expect(!recorded.contains(kept.tag), "\(context): record left")
        let bpffs = (try? FileManager.default.contentsOfDirectory(atPath: XDPClassifier.defaultPinRoot)) ?? []
        #expect(!bpffs.contains { kept.pin_root.hasSuffix($0) }, "\(context): bpffs directory left: \(bpffs)")
    }

    static func down() throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: netftBinary)
        p.arguments = ["lab", "--down"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    @Test func aKeptLabKilledWithSIGKILLIsRemovedByDown() throws {
        try requireKernelLab()
        let (lab, kept) = try Self.startLab(["--keep"])
        kill(lab.processIdentifier, SIGKILL)
        lab.waitUntilExit()
        let said = try Self.down()
        #expect(said.contains("torn down"), "\(said)")
        Self.expectNothingLeft(kept, "SIGKILL --keep, then --down")
    }

    @Test func aLabKilledWithSIGKILLTakesItsDaemonsWithIt() throws {
        try requireKernelLab()
        let (lab, kept) = try Self.startLab([])
        kill(lab.processIdentifier, SIGKILL)
        lab.waitUntilExit()
        // The daemons watch the lab's pid and stop by themselves, cleanly.
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline && kept.nodes.contains(where: { $0.pid.map(ClusterFabric.isAlive) ?? false }) { usleep(20_000) }
        for pid in kept.nodes.compactMap(\.pid) { #expect(!ClusterFabric.isAlive(pid), "daemon \(pid) outlived the killed lab") }
        _ = try Self.down()
        Self.expectNothingLeft(kept, "SIGKILL, then --down")
    }

    @Test(arguments: [SIGHUP, SIGPIPE, SIGTERM])
    func aSignalledLabTearsItselfDown(_ signal: Int32) throws {
        try requireKernelLab()
        let (lab, kept) = try Self.startLab([])
        kill(lab.processIdentifier, signal)
        lab.waitUntilExit()
        #expect(lab.terminationStatus == 128 + signal, "exit status \(lab.terminationStatus), reason \(lab.terminationReason.rawValue)")
        Self.expectNothingLeft(kept, "signal \(signal)")
    }
}
