import Foundation
@testable import NetFTCore
import Testing

@testable import NetFTDataplane

/// The pcapng blocks netft capture writes, read back by libpcap: same frames,
/// same order, and the frame-type summary names netft frames only.
@Suite("pcapng encoder")
struct PcapngEncoderTests {
    @Test func libpcapReadsBackEveryFrame() throws {
        let url = try #require(Bundle.module.url(forResource: "classifier-replay", withExtension: "pcap", subdirectory: "Fixtures"))
        let frames = try PcapReader.frames(path: url.path)
        #expect(frames.count > 5)
        var file = PcapngEncoder.sectionHeader(application: "netft test")
        file += PcapngEncoder.interfaceDescription(linkType: PcapngEncoder.LinkType.ethernet, name: "eth0", description: "netft underlay")
        file += PcapngEncoder.interfaceDescription(linkType: PcapngEncoder.LinkType.ethernet, name: "eth1", description: nil)
        for frame in frames {
            // Odd lengths exercise the padding to 4 bytes.
            file += PcapngEncoder.enhancedPacket(interface: UInt32(frame.index % 2), microsecondsSince1970: 1_790_000_000_000_000 + UInt64(frame.index), bytes: frame.bytes)
        }
        #expect(file.count % 4 == 0)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("netft-pcapng-\(getpid()).pcapng").path
        try Data(file).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let back = try PcapReader.frames(path: path)
        #expect(back.map(\.bytes) == frames.map(\.bytes))
    }

    @Test func onlyWellFormedNetFTFramesGetATypeName() {
        var header = FrameHeader(type: .heartbeatReply, sender: 2, session: 1, route: 7, sequence: 9)
        var netft = [UInt8](repeating: 0, count: Wire.headerSize)
        netft.withUnsafeMutableBytes { FrameCodec.writeHeader(header, to: $0) }
        let ethernetIPv4UDP: [UInt8] = [UInt8](repeating: 0xAA, count: 12) + [0x08, 0x00] + [0x45, 0, 0, 76, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 1, 1, 198, 18, 1, 2] + [0x0D, 0x0F, 0x0D, 0x0F, 0, 56, 0, 0]
        #expect(CaptureRecorder.netftType(ofEthernetFrame: ethernetIPv4UDP + netft) == "heartbeat_reply")
        header.type = .data
        netft.withUnsafeMutableBytes { FrameCodec.writeHeader(header, to: $0) }
        #expect(CaptureRecorder.netftType(ofEthernetFrame: ethernetIPv4UDP + netft) == "data")
        netft[0] = 0  // no magic
        #expect(CaptureRecorder.netftType(ofEthernetFrame: ethernetIPv4UDP + netft) == nil)
        #expect(CaptureRecorder.netftType(ofEthernetFrame: Array(ethernetIPv4UDP.prefix(20))) == nil)
    }
}
