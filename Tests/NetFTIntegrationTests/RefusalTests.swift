import Foundation
import Glibc
import NetFTTestSupport
import Testing

/// What an operator sees when a start is refused: one sentence with the
/// reason, and the documented exit status (1 runtime, 2 configuration).
@Suite("Refusals an operator reads", .serialized)
struct RefusalTests {
    static func netft(_ arguments: [String], as user: UInt32? = nil) throws -> (Int32, String) {
        let result = try runNetft(arguments, as: user)
        return (result.status, result.stderr)
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
