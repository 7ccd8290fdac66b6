import Foundation
import Testing

@testable import NetFTDataplane

/// Frames read with libpcap from a fixture (made by scripts/make-pcap-fixtures.py,
/// independently of the Swift frame builder) through the same program.
@Suite("XDP classifier over a pcap replay")
struct ClassifierPcapReplayTests {
    /// One row per frame of classifier-replay.pcap, in order.
    static let expected: [(ClassifierStats.Reason, String)] = [
        (.noSocket, "IPv4 netft"),
        (.noSocket, "IPv6 netft"),
        (.passOtherPort, "DNS"),
        (.passNotIP, "ARP"),
        (.passNotUDP, "TCP"),
        (.passNoMagic, "3343 without magic"),
        (.passFragment, "first fragment"),
        (.passFragment, "later fragment"),
        (.noSocket, "VLAN + IPv4 options"),
        (.passBadVersion, "IPv6 bad version"),
        (.noSocket, "QinQ"),
        (.passTruncatedIP, "truncated IPv4"),
        (.passNotUDP, "ICMPv6"),
    ]

    @Test func replayGetsTheExpectedVerdicts() throws {
        try KernelRequirements.requireRoot()
        let url = try #require(Bundle.module.url(forResource: "classifier-replay", withExtension: "pcap", subdirectory: "Fixtures"))
        let frames = try PcapReader.frames(path: url.path)
        #expect(frames.count == Self.expected.count, "fixture and table disagree on the frame count")
        let classifier = try XDPClassifier()
        for (frame, (reason, name)) in zip(frames, Self.expected) {
            let before = try classifier.stats()
            #expect(try classifier.testRun(frame.bytes) == .pass, "frame \(frame.index) (\(name))")
            #expect(try classifier.stats().delta(since: before) == [reason: 1], "frame \(frame.index) (\(name))")
        }
    }

    @Test func unreadableCaptureIsAClearError() {
        #expect {
            try PcapReader.frames(path: "/nonexistent/capture.pcap")
        } throws: { error in
            "\(error)".contains("open capture /nonexistent/capture.pcap")
        }
    }
}
