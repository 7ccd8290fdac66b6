import ArgumentParser
import Foundation
import Glibc
import NetFTDataplane

extension Lab {
    /// Runs a command inside a kept lab node's network namespace, where the
    /// node's daemon answers `netft status` with no flags.
    struct Exec: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command in a kept lab node's network namespace.",
            discussion: """
                For a lab left running by --keep. The command runs in the node's network
                namespace (as `ip netns exec NS` would) with NETFT_CONFIG set to the lab's
                configuration, which `netft validate` reads when --config is not given.
                Examples:
                  netft lab exec node1 -- netft status
                  netft lab exec node1 -- netft validate
                  netft lab exec node2 -- ping -c 3 <node1's virtual IPv4>
                Exit status: the command's; 1 when there is no kept lab or no such node.
                """)

        @Argument(help: "The node (node1, node2, ...).") var node: String
        @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).") var command: [String] = []

        func run() throws {
            guard let kept = Lab.loadKept() else { throw RuntimeFailure("no kept lab: run `netft lab --keep` first") }
            guard let host = kept.nodes.first(where: { $0.name == node }) else {
                throw RuntimeFailure("the kept lab has no node '\(node)' (nodes: \(kept.nodes.map(\.name).joined(separator: ", ")))")
            }
            let words = command.first == "--" ? Array(command.dropFirst()) : command
            guard !words.isEmpty else { throw ValidationError("give the command after --, e.g. netft lab exec \(node) -- netft status") }
            setenv("NETFT_CONFIG", kept.config, 1)
            // nsenter replaces this process: the command's exit status, signals and terminal are its own.
            let argv = ["nsenter", "--net=\(NetworkNamespace.path(host.namespace))", "--"] + words
            var cArgs = argv.map { strdup($0) } + [nil]
            execv("/usr/bin/nsenter", &cArgs)
            throw RuntimeFailure("cannot run /usr/bin/nsenter: \(String(cString: strerror(errno)))")
        }
    }
}
