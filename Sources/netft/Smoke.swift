import ArgumentParser
import Foundation
import NetFTDataplane
import NetFTFabric
import NetFTLab

struct Smoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load the XDP classifier on a namespaced veth and show it steering traffic.",
        discussion: """
            Builds two throw-away network namespaces joined by a veth pair (198.18.0.0/15),
            attaches the classifier in native mode on one end, binds an AF_XDP socket on
            queue 0, sends netft frames and ordinary UDP from the other end, and prints
            where each went with the classifier's counters (as bpftool shows them).
            Everything is torn down afterwards, also on failure. Needs root.
            """
    )

    @Option(help: "netft frames to send to port 3343.") var frames = 20
    @Option(help: "Ordinary UDP datagrams to send to another port.") var other = 10

    func run() throws {
        let pair = try VethPair(tag: "smoke")
        defer { pair.tearDown() }
        print("namespaces \(pair.left) (\(pair.leftAddress)) <-> \(pair.right) (\(pair.rightAddress))")
        var probe = SteeringProbe()
        probe.netftFrames = frames
        probe.otherPortFrames = other
        probe.whileAttached = { pins in
            let dump = (try? Smoke.capture(["bpftool", "map", "dump", "pinned", "\(pins)/stats"])) ?? "(bpftool not available)"
            return "$ bpftool map dump pinned \(pins)/stats\n\(dump)"
        }
        let result = try probe.run(on: pair)
        print("AF_XDP socket bound in \(result.bindMode.rawValue) mode; pins under \(result.pinDirectory)")
        print("netft frames   -> AF_XDP socket: \(result.steeredReceived)/\(frames) (\(result.steeredIntact) intact)")
        print("other port     -> kernel UDP:    \(result.otherPortReceived)/\(other)")
        print("no magic       -> kernel UDP:    \(result.noMagicReceivedByKernel)/\(probe.noMagicFrames)")
        print("classifier counters:")
        for reason in ClassifierStats.Reason.allCases where result.stats[reason] > 0 {
            print("  \(reason.rawValue.padding(toLength: 22, withPad: " ", startingAt: 0)) \(result.stats[reason])")
        }
        print(result.inspection)
        guard result.steeredReceived == frames, result.otherPortReceived == other else {
            throw ValidationError("smoke run failed: not every frame arrived where it should")
        }
    }

    static func capture(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/\(arguments[0])")
        process.arguments = Array(arguments.dropFirst())
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
