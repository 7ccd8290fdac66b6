import ArgumentParser
import Foundation
import NetFTDataplane

struct Classifier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "Inspect the XDP classifier built into this binary.",
        subcommands: [WriteObject.self]
    )

    struct WriteObject: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "write-object",
            abstract: "Write the embedded BPF object (with BTF) to a file, e.g. for bpftool or llvm-objdump."
        )
        @Argument(help: "Output path.") var path: String

        func run() throws {
            let bytes = XDPClassifier.objectBytes
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            print("wrote \(bytes.count) bytes to \(path)")
        }
    }
}
