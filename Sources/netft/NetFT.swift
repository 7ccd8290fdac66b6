import ArgumentParser

@main
struct NetFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netft",
        abstract: "A fault-tolerant cluster network adapter for Linux.",
        subcommands: [Lab.self, Bench.self, Run.self, Status.self, Routes.self, Nodes.self, Smoke.self, Classifier.self]
    )
}
