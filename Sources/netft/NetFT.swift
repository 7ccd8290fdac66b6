import ArgumentParser

@main
struct NetFT: ParsableCommand {
    static let version = "netft 0.4.0"
    static let configuration = CommandConfiguration(
        commandName: "netft",
        abstract: "A fault-tolerant cluster network adapter for Linux.",
        version: NetFT.version,
        subcommands: [Lab.self, Bench.self, Run.self, Status.self, Routes.self, Nodes.self, Reload.self, Validate.self, Capture.self, Keygen.self, Smoke.self, Classifier.self]
    )
}
