import Glibc
import NetFTCore
import CNetFTShims
import Testing

@testable import NetFTDataplane

/// The classifier run over crafted frames through BPF_PROG_TEST_RUN: each frame
/// must get its verdict and move exactly one counter, the expected one. With
/// no AF_XDP socket in the XSKMAP, netft frames are passed and counted as
/// `no_socket` (the steering itself is proven by the live test).
@Suite("XDP classifier over crafted frames (BPF_PROG_TEST_RUN)")
struct ClassifierTestRunTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let frame: [UInt8]
        let verdict: XDPVerdict
        let counter: ClassifierStats.Reason
        var testDescription: String { name }
    }

    static func make(_ name: String, _ counter: ClassifierStats.Reason, verdict: XDPVerdict = .pass, _ edit: (inout FrameBuilder) -> Void = { _ in }) -> Case {
        var builder = FrameBuilder()
        edit(&builder)
        return Case(name: name, frame: builder.build().frame, verdict: verdict, counter: counter)
    }

    static let cases: [Case] = [
        make("IPv4 netft frame", .noSocket),
        make("IPv6 netft frame", .noSocket) { $0.network = .ipv6 },
        make("IPv4 to 3343 without magic", .passNoMagic) { $0.payload = Array("hello cluster".utf8) },
        make("IPv6 to 3343 without magic", .passNoMagic) { $0.network = .ipv6; $0.payload = [UInt8](repeating: 0, count: 40) },
        make("IPv4 magic with unsupported version 1", .passBadVersion) { $0.payload = FrameBuilder.netftPayload(version: 1) },
        make("IPv4 magic with version 2 (clock epochs, before sessions)", .passBadVersion) { $0.payload = FrameBuilder.netftPayload(version: 2) },
        make("IPv4 magic with unsupported version 4", .passBadVersion) { $0.payload = FrameBuilder.netftPayload(version: 4) },
        make("IPv4 magic with version 0", .passBadVersion) { $0.payload = FrameBuilder.netftPayload(version: 0) },
        make("802.1Q VLAN netft frame", .noSocket) { $0.vlanTags = [0x8100] },
        make("QinQ (802.1ad + 802.1Q) netft frame", .noSocket) { $0.vlanTags = [0x88A8, 0x8100] },
        make("QinQ IPv6 netft frame", .noSocket) { $0.vlanTags = [0x88A8, 0x8100]; $0.network = .ipv6 },
        make("three VLAN tags", .passVLANTooDeep) { $0.vlanTags = [0x88A8, 0x8100, 0x8100] },
        make("IPv4 with 12 bytes of options", .noSocket) { $0.ipv4OptionWords = 3 },
        make("IPv4 with 40 bytes of options (IHL 15)", .noSocket) { $0.ipv4OptionWords = 10 },
        make("IPv4 IHL 4 (malformed)", .passBadIPHeader) { $0.ipv4IHLOverride = 4 },
        make("IPv4 first fragment (MF, offset 0)", .passFragment) { $0.ipv4FragmentField = 0x2000 },
        make("IPv4 non-first fragment", .passFragment) { $0.ipv4FragmentField = 0x0010 },
        make("IPv4 last fragment (offset, no MF)", .passFragment) { $0.ipv4FragmentField = 0x00B9 },
        make("IPv4 UDP to another port", .passOtherPort) { $0.destinationPort = 53 },
        make("IPv4 UDP from 3343 to another port", .passOtherPort) { $0.sourcePort = Wire.defaultPort; $0.destinationPort = 5405 },
        make("IPv6 UDP to another port", .passOtherPort) { $0.network = .ipv6; $0.destinationPort = 4789 },
        make("IPv4 TCP", .passNotUDP) { $0.ipProtocol = 6 },
        make("IPv4 ICMP", .passNotUDP) { $0.ipProtocol = 1 },
        make("IPv6 TCP", .passNotUDP) { $0.network = .ipv6; $0.ipProtocol = 6 },
        make("ARP", .passNotIP) { $0.etherType = 0x0806 },
        make("LLDP", .passNotIP) { $0.etherType = 0x88CC },
        make("IPv6 hop-by-hop + destination options, then netft", .noSocket) { $0.network = .ipv6; $0.ipv6Extensions = [0, 60] },
        make("IPv6 routing header, then netft", .noSocket) { $0.network = .ipv6; $0.ipv6Extensions = [43] },
        make("IPv6 fragment header", .passFragment) { $0.network = .ipv6; $0.ipv6Extensions = [44] },
        make("IPv6 five extension headers (longer than walked)", .passIPv6Ext) { $0.network = .ipv6; $0.ipv6Extensions = [0, 60, 43, 60, 60] },
        make("IPv6 ESP (not walked)", .passIPv6Ext) { $0.network = .ipv6; $0.ipProtocol = 50 },
        make("IPv4 jumbo netft frame (9000 bytes)", .noSocket) { $0.payload = FrameBuilder.netftPayload(extra: 9000 - 47) },
        make("IPv4 frame of exactly magic + version", .noSocket) { $0.payload = FrameBuilder.netftPayload(extra: 0) },
        make("IPv4 netft with 4 bytes of magic only", .passTruncatedNetFT) { $0.payload = FrameBuilder.be32(Wire.magic) },
        make("heartbeat request: to the kernel socket", .passControl) { $0.payload = FrameBuilder.be32(Wire.magic) + [Wire.version, 1] + [UInt8](repeating: 0, count: 60) },
        make("heartbeat reply: to the kernel socket", .passControl) { $0.network = .ipv6; $0.payload = FrameBuilder.be32(Wire.magic) + [Wire.version, 2] + [UInt8](repeating: 0, count: 60) },
        make("hello: to the kernel socket", .passControl) { $0.vlanTags = [0x8100]; $0.payload = FrameBuilder.be32(Wire.magic) + [Wire.version, 5] + [UInt8](repeating: 0, count: 60) },
        make("data frame: steered", .noSocket) { $0.payload = FrameBuilder.be32(Wire.magic) + [Wire.version, 3] + [UInt8](repeating: 0, count: 60) },
        make("ack frame: steered", .noSocket) { $0.payload = FrameBuilder.be32(Wire.magic) + [Wire.version, 4] + [UInt8](repeating: 0, count: 60) },
    ]

    @Test("verdict and counter", arguments: cases)
    func crafted(_ c: Case) throws {
        try KernelRequirements.requireRoot()
        let classifier = try XDPClassifier()
        let before = try classifier.stats()
        let verdict = try classifier.testRun(c.frame)
        let moved = try classifier.stats().delta(since: before)
        #expect(verdict == c.verdict, "\(c.name): verdict")
        #expect(moved == [c.counter: 1], "\(c.name): counters that moved")
    }

    /// Cuts a full netft frame at every byte inside its headers: each cut must
    /// be passed to the kernel and counted as the header it cut.
    @Test("every truncation point", arguments: [FrameBuilder.Network.ipv4, .ipv6], [[], [UInt16(0x8100)], [0x88A8, 0x8100]])
    func truncations(network: FrameBuilder.Network, vlans: [UInt16]) throws {
        try KernelRequirements.requireRoot()
        var builder = FrameBuilder()
        builder.network = network
        builder.vlanTags = vlans
        let (frame, layout) = builder.build()
        let classifier = try XDPClassifier()
        // The kernel refuses test frames shorter than an Ethernet header.
        for length in 14..<(layout.payload + 5) {
            let expected: ClassifierStats.Reason =
                length < layout.network ? .passTruncatedVLAN
                : length < layout.transport ? .passTruncatedIP
                : length < layout.payload ? .passTruncatedUDP
                : .passTruncatedNetFT
            let before = try classifier.stats()
            let verdict = try classifier.testRun(Array(frame.prefix(length)))
            let moved = try classifier.stats().delta(since: before)
            #expect(verdict == .pass, "cut at \(length)")
            #expect(moved == [expected: 1], "cut at \(length) of \(network) with \(vlans.count) VLAN tags")
        }
        #expect(try classifier.testRun(frame) == .pass)
    }

    /// The kernel itself refuses frames shorter than an Ethernet header, so the
    /// classifier's own check for that is defence in depth.
    @Test func framesShorterThanEthernetAreRefusedByTheKernel() throws {
        try KernelRequirements.requireRoot()
        let classifier = try XDPClassifier()
        #expect(throws: SystemError.self) { try classifier.testRun([UInt8](repeating: 0, count: 13)) }
    }

    @Test func configuredPortIsHonoured() throws {
        try KernelRequirements.requireRoot()
        let classifier = try XDPClassifier(port: 4000)
        var builder = FrameBuilder()
        builder.destinationPort = 4000
        let before = try classifier.stats()
        #expect(try classifier.testRun(builder.build().frame) == .pass)
        builder.destinationPort = Wire.defaultPort
        #expect(try classifier.testRun(builder.build().frame) == .pass)
        #expect(try classifier.stats().delta(since: before) == [.noSocket: 1, .passOtherPort: 1])
    }

    @Test func wireConstantsAgreeWithTheBPFHeader() {
        #expect(Wire.magic == UInt32(NETFT_MAGIC))
        #expect(Wire.version >= UInt8(NETFT_VERSION_MIN) && Wire.version <= UInt8(NETFT_VERSION_MAX))
        #expect(Wire.defaultPort == UInt16(NETFT_DEFAULT_PORT))
    }
}
