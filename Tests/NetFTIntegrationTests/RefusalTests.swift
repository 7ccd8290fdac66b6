import Foundation
import Glibc
import Testing

/// What an operator sees when a start is refused: one sentence with the
/// reason, and the documented exit status (1 runtime, 2 configuration).
@Suite("Refusals an operator reads", .serialized)
struct RefusalTests {
    /// Runs netft with `arguments`, as `user` (via setpriv) if given; (status, stderr).
    static func netft(_ arguments: [String], as user: UInt32? = nil) throws -> (Int32, String) {
        var binary = netftBinary
        var copy: String?
        if user != nil {
            // A copy the unprivileged user can surely execute (the build tree may sit under a private home).
            let dir = "/tmp/netft-refusal-\(getpid())"
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            copy = "\(dir)/netft"
            try? FileManager.default.removeItem(atPath: copy!)
            try FileManager.default.copyItem(atPath: netftBinary, toPath: copy!)
            chmod(copy!, 0o755)
            binary = copy!
        }
        defer { if let copy { try? FileManager.default.removeItem(atPath: (copy as NSString).deletingLastPathComponent) } }
        let process = Process()
        if let user {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", binary] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
        }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    @Test func runWithoutRootSaysItNeedsRootAndWhich() throws {
        try requireKernelLab()
        let (status, text) = try Self.netft(["run", "--config", "/nonexistent.yaml"], as: 65534)
        #expect(status == 1, "\(text)")
        #expect(text.contains("netft run needs root") && text.contains("CAP_NET_ADMIN") && text.contains("CAP_BPF"), "\(text)")
    }

    @Test func aMissingConfigurationGivesTheOSReasonAndStatus2() throws {
        try requireKernelLab()
        let (status, text) = try Self.netft(["run", "--config", "/nonexistent/netft.yaml"])
        #expect(status == 2)
        #expect(text.contains("/nonexistent/netft.yaml:0: cannot read the file: No such file or directory"), "\(text)")
    }
}
