import ArgumentParser
import Foundation
import Glibc
import NetFTFabric
import NetFTLab

extension Lab {
    /// The process behind each inter-site link of `--topology sites`.
    struct WANRelayCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "wan-relay",
            abstract: "Relay frames between two interfaces with a delay (the lab's inter-site link).",
            discussion: """
                Started by `netft lab --topology sites` inside each network's inter-site
                namespace: every frame arriving on one interface leaves by the other
                --delay-ms later (the kernel here has no netem). Runs until killed or
                until --stop-with-pid's process exits.
                """,
            shouldDisplay: false)

        @Argument(help: "One side's interface.") var a: String
        @Argument(help: "The other side's interface.") var b: String
        @Option(help: "One-way delay in milliseconds.") var delayMs: UInt64 = 10
        @Option(help: "Stop when the process with this pid exits.") var stopWithPid: Int32?
        @Option(help: "Keep the relay's counts in this JSON file (relayed, dropped, dropped_in_socket).") var stats: String?

        func run() throws {
            let relay = try WANRelay(between: a, and: b, delayMilliseconds: delayMs)
            relay.run(while: { stopWithPid.map { kill($0, 0) == 0 } ?? true }) { counts in
                guard let stats, let json = try? JSONEncoder().encode(counts) else { return }
                // Whole or not at all: the lab may read it at any moment.
                try? json.write(to: URL(fileURLWithPath: stats), options: .atomic)
            }
        }
    }
}
