import FuzzSupport
import NetFTCore

/// Byte 0 picks the security level; the rest is one received frame. Every
/// parser must refuse what it cannot read (a FrameError), never crash or read
/// past the frame (AddressSanitizer: the copy is exactly the frame's size).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameCodec(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let security = SecurityLevel.allCases[Int(data[0]) % SecurityLevel.allCases.count]
    let length = size - 1
    let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: max(length, 1), alignment: 16)
    defer { frame.deallocate() }
    frame.copyMemory(from: UnsafeRawBufferPointer(start: data + 1, count: length))
    guard let header = try? FrameCodec.readHeader(frame, length: length) else { return 0 }
    precondition(Wire.headerSize + Int(header.payloadLength) <= length, "readHeader accepted a payload longer than the frame")
    let payload = UnsafeRawBufferPointer(rebasing: frame[FrameCodec.payloadOffset..<(FrameCodec.payloadOffset + Int(header.payloadLength))])
    _ = try? Handshake(decoding: payload)
    _ = try? Hello(decoding: payload)
    _ = try? RouteReport.read(payload) { _ in }
    _ = try? FrameCodec.open(frame, length: length, header: header, security: security, key: fuzzKey)
    return 0
}
