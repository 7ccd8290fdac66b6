import Foundation
import Glibc
import NetFTFabric
import Testing

@testable import NetFTDataplane

/// The classifier in native mode on a real veth between two namespaces, with
/// an AF_XDP socket bound on queue 0 and kernel-sent UDP from the other side.
@Suite("XDP classifier live on a veth", .serialized)
struct ClassifierLiveTests {
    @Test func steersNetftFramesAndPassesTheRest() throws {
        try KernelRequirements.requireNetns()
        let pair = try VethPair(tag: "live")
        defer { pair.tearDown() }
        var probe = SteeringProbe()
        var seen = (prog: "", map: "")
        probe.whileAttached = { pins in
            seen = (Self.capture(["bpftool", "prog", "show", "pinned", "\(pins)/prog"]),
                    Self.capture(["bpftool", "map", "dump", "pinned", "\(pins)/stats"]))
            return ""
        }
        let result = try probe.run(on: pair)
        #expect(result.steeredReceived == probe.netftFrames, "netft frames in the AF_XDP socket")
        #expect(result.steeredIntact == probe.netftFrames, "netft payloads arrived byte for byte")
        #expect(result.otherPortReceived == probe.otherPortFrames, "other-port datagrams at the kernel socket")
        #expect(result.noMagicReceivedByKernel == probe.noMagicFrames, "no-magic datagrams at the kernel socket")
        // The pinned counters agree with what arrived where.
        #expect(result.stats[.steered] == UInt64(probe.netftFrames))
        #expect(result.stats[.passOtherPort] == UInt64(probe.otherPortFrames))
        #expect(result.stats[.passNoMagic] == UInt64(probe.noMagicFrames))
        #expect(result.stats[.noSocket] == 0)
        // bpftool sees the program and prints the counters by name.
        #expect(seen.prog.contains("netft_classify"), "bpftool prog show: \(seen.prog)")
        #expect(seen.map.contains("\"steered\": \(probe.netftFrames)"), "bpftool map dump: \(seen.map)")
        #expect(seen.map.contains("\"pass_other_port\""))
        // Detached and unpinned afterwards.
        #expect(access(result.pinDirectory, F_OK) != 0, "pins removed")
    }

    @Test func namespacesAreRemovedEvenWhenTheTestFails() throws {
        try KernelRequirements.requireNetns()
        var names: [String] = []
        do {
            let pair = try VethPair(tag: "teardown")
            names = [pair.left, pair.right]
            defer { pair.tearDown() }
            throw CancellationError()  // stands for any failure mid-test
        } catch is CancellationError {}
        for name in names { #expect(access("/run/netns/\(name)", F_OK) != 0, "\(name) still exists") }
    }

    static func capture(_ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/\(arguments[0])")
        process.arguments = Array(arguments.dropFirst())
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        guard (try? process.run()) != nil else { return "could not run \(arguments[0])" }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
