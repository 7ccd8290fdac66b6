import CNetFTShims
import Glibc

/// Reads the frames of a .pcap/.pcapng file with libpcap.
public enum PcapReader {
    public struct Frame: Sendable {
        public let index: Int
        public let bytes: [UInt8]
    }

    public static func frames(path: String) throws(SystemError) -> [Frame] {
        var reason = [CChar](repeating: 0, count: 512)
        var handle: OpaquePointer?
        let opened = netft_pcap_open_read(path, &reason, reason.count, &handle)
        try check("open capture \(path)", opened) { String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        defer { netft_pcap_close(handle) }
        var frames: [Frame] = []
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        while true {
            switch netft_pcap_next(handle, &data, &length) {
            case 1:
                frames.append(Frame(index: frames.count, bytes: Array(UnsafeBufferPointer(start: data, count: Int(length)))))
            case 0:
                return frames
            default:
                throw SystemError("read capture \(path)", errno: EIO, detail: String(cString: netft_pcap_error(handle)))
            }
        }
    }
}
