import NetFTCore
import Testing

@testable import NetFTDataplane

/// The classifier's peer filter over crafted frames (BPF_PROG_TEST_RUN):
/// netft frames pass only from admitted sources, control frames only within
/// each source's budget; everything else is dropped in XDP and counted.
@Suite("XDP classifier: only the node's peers, each within its budget")
struct ClassifierPeerFilterTests {
    /// FrameBuilder's sources: 198.18.0.1 and 2001:db8::1.
    static let ipv4Source = IPAddress("198.18.0.1")!, ipv6Source = IPAddress("2001:db8::1")!

    static func frame(type: UInt8, network: FrameBuilder.Network = .ipv4) -> [UInt8] {
        var builder = FrameBuilder()
        builder.network = network
        builder.payload = FrameBuilder.be32(Wire.magic) + [Wire.version, type] + [UInt8](repeating: 0, count: 60)
        return builder.build().frame
    }

    static func run(_ classifier: XDPClassifier, _ frame: [UInt8]) throws -> (XDPVerdict, [ClassifierStats.Reason: UInt64]) {
        let before = try classifier.stats()
        let verdict = try classifier.testRun(frame)
        return (verdict, try classifier.stats().delta(since: before))
    }

    @Test func framesFromAnAdmittedSourcePassAndFromAnyoneElseAreDropped() throws {
        try KernelRequirements.requireRoot()
        let classifier = try XDPClassifier()
        try classifier.admitOnly([(Self.ipv6Source, 2), (IPAddress("198.18.0.9")!, 3)])
        for type: UInt8 in [1, 2, 3, 5] {
            let (verdict, moved) = try Self.run(classifier, Self.frame(type: type))
            #expect(verdict == .drop && moved == [.dropUnknownSource: 1], "type \(type) from 198.18.0.1, not admitted: \(verdict) \(moved)")
        }
        #expect(try Self.run(classifier, Self.frame(type: 1, network: .ipv6)) == (.pass, [.passControl: 1]))
        #expect(try Self.run(classifier, Self.frame(type: 3, network: .ipv6)) == (.pass, [.noSocket: 1]))
        // Not netft at all: the filter does not look at it.
        var dns = FrameBuilder()
        dns.destinationPort = 53
        #expect(try Self.run(classifier, dns.build().frame) == (.pass, [.passOtherPort: 1]))
    }

    @Test func aSourcePastItsControlBudgetIsDroppedAndOthersAreNot() throws {
        try KernelRequirements.requireRoot()
        let classifier = try XDPClassifier()
        try classifier.admitOnly([(Self.ipv4Source, 2), (Self.ipv6Source, 3)], controlBudget: 3)
        var passed = 0, dropped = 0
        for _ in 0..<8 {
            let (_, moved) = try Self.run(classifier, Self.frame(type: 1))
            passed += Int(moved[.passControl] ?? 0)
            dropped += Int(moved[.dropOverBudget] ?? 0)
        }
        #expect(passed == 3 && dropped == 5, "budget 3: \(passed) passed, \(dropped) dropped")
        // Data is not budgeted, and the other source's budget is its own.
        #expect(try Self.run(classifier, Self.frame(type: 3)) == (.pass, [.noSocket: 1]))
        #expect(try Self.run(classifier, Self.frame(type: 2, network: .ipv6)) == (.pass, [.passControl: 1]))
    }
}
