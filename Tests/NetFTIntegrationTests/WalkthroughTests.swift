import Foundation
import Glibc
import NetFTTestSupport
import Testing

/// The README's walkthrough block, run verbatim (after its install line,
/// which CI runs before the tests) with this build's netft first on the PATH.
@Suite("README walkthrough", .serialized)
struct WalkthroughTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The first ```sh block after the walkthrough marker.
    static func walkthrough() throws -> [String] {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let marker = readme.range(of: "<!-- walkthrough -->"), let open = readme.range(of: "```sh\n", range: marker.upperBound..<readme.endIndex),
            let close = readme.range(of: "```", range: open.upperBound..<readme.endIndex)
        else { throw Missing(description: "README.md has no walkthrough block after <!-- walkthrough -->") }
        return readme[open.upperBound..<close.lowerBound].split(separator: "\n").map(String.init)
    }

    @Test func theWalkthroughWorksAsWritten() throws {
        try requireKernelLab()
        var lines = try Self.walkthrough()
        #expect(lines.first?.hasPrefix("bash scripts/install.sh") == true, "the walkthrough starts by installing")
        lines.removeFirst()
        guard FileManager.default.fileExists(atPath: "/usr/local/share/netft/netft.lua") else {
            throw Missing(description: "/usr/local/share/netft/netft.lua is missing: run bash scripts/install.sh (the walkthrough's first line) or scripts/test.sh")
        }
        for file in ["/tmp/netft-lab.html", "/tmp/netft-validate.html", "/tmp/node1.pcapng"] { unlink(file) }
        let bin = URL(fileURLWithPath: netftBinary).deletingLastPathComponent().path
        let script = "set -euo pipefail -x\nexport PATH=\(bin):$PATH\n" + lines.joined(separator: "\n") + "\n"
        let run = try runProgram(["/bin/bash", "-c", script])
        if run.status != 0 { _ = try? runProgram([netftBinary, "lab", "--down"]) }
        #expect(run.status == 0, "the walkthrough failed:\n\(run.stderr.suffix(3000))\n\(run.stdout.suffix(2000))")
        for expected in ["all scenarios passed", "routes: 2 of 2 up", "reachability from daemon", "wrote 200 frames", "heartbeat_request route=0x", "torn down: 1 recorded lab"] {
            #expect(run.stdout.contains(expected), "missing \"\(expected)\" in:\n\(run.stdout.suffix(3000))")
        }
        for file in ["/tmp/netft-lab.html", "/tmp/netft-validate.html", "/tmp/node1.pcapng"] {
            #expect(FileManager.default.fileExists(atPath: file), "\(file) was not written")
        }
    }
}
