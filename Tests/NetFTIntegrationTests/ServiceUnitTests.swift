import Foundation
import NetFTDaemon
import NetFTTestSupport
import Testing

/// dist/netft.service: systemd accepts it, it sandboxes the daemon, and its
/// capability bounding set holds what the daemon keeps after set-up.
@Suite("The systemd unit")
struct ServiceUnitTests {
    static let unit: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("dist/netft.service").path
    }()

    /// The unit with ExecStart pointing at the binary just built (verify checks it is executable).
    static func installable() throws -> String {
        let text = try String(contentsOfFile: unit, encoding: .utf8).replacingOccurrences(of: "/usr/local/bin/netft", with: netftBinary)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("netft-unit-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/netft.service"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func systemdAnalyzeVerifyAcceptsItWithoutAWarning() throws {
        let tool = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: tool) else { throw Missing(description: "\(tool) is missing: run scripts/install-deps.sh") }
        let path = try Self.installable()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        // verify exits 0 on lines it ignores, so what it says counts too.
        let verify = try runProgram([tool, "verify", path])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stderr.isEmpty && verify.stdout.isEmpty, "systemd-analyze verify said: \(verify.stderr)\(verify.stdout)")

        let security = try runProgram([tool, "security", "--offline=yes", path])
        let line = security.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }.map(String.init) ?? ""
        let score = line.split(separator: ":").last.flatMap { Double($0.split(separator: " ").first ?? "") }
        #expect(score.map { $0 <= 4.5 } ?? false, "systemd-analyze security: \(line)")
        print("systemd-analyze security: \(line.trimmingCharacters(in: .whitespaces))")
    }

    @Test func theBoundingSetHoldsWhatTheDaemonKeeps() throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("CapabilityBoundingSet=") })
        let bounding = Set(line.dropFirst("CapabilityBoundingSet=".count).split(separator: " ").map(String.init))
        for kept in Capabilities.kept { #expect(bounding.contains(kept.name), "\(kept.name) is kept after set-up but not in the unit's bounding set") }
        #expect(text.contains("NoNewPrivileges=yes") && text.contains("ProtectSystem=strict") && text.contains("RestrictAddressFamilies="))
    }
}
