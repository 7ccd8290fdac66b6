import FuzzSupport
import Glibc
import NetFTCore

/// Byte 0 picks the security level; then records of a 2-byte big-endian
/// length and that many bytes, each a frame node1 receives (by its route's own
/// path) one millisecond after the last, between ticks and sends of its own.
/// node1 holds a session with node2 and both routes are Up, so at level none
/// mutated frames reach sessions, windows, streams and reports.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNodeEngine(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let level = Int(data[0]) % SecurityLevel.allCases.count
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
    defer {
        buffer.deallocate()
        out.deallocate()
    }
    // A copy of the connected node (a value): every input starts from the same state.
    var (a, now) = connected[level]
    var offset = 1
    while offset + 2 <= size {
        let length = min(Int(data[offset]) << 8 | Int(data[offset + 1]), size - offset - 2, buffer.count)
        offset += 2
        buffer.copyMemory(from: UnsafeRawBufferPointer(start: data + offset, count: length))
        offset += length
        let path = (try? FrameCodec.readHeader(buffer, length: length)).flatMap { a.table.path(of: $0.route) }
        switch a.receive(buffer, length: length, from: path, now: now) {
        case .reply(let reply, _):
            precondition(reply <= buffer.count, "a reply longer than its buffer")
        case .deliver(let start, let count, _, _):
            precondition(start >= 0 && start + count <= length, "delivered bytes outside the frame")
        case .consumed, .dropped:
            break
        }
        now = Instant(nanoseconds: now.nanoseconds + 1_000_000)
        var due: [RouteID] = []
        a.table.tick(now: now) { due.append($0) }
        for route in due { _ = try? a.heartbeatRequest(on: route, into: out, now: now) }
        _ = try? a.encapsulate(to: 2, payloadLength: 64, in: out, now: now)
        _ = a.table.drainEvents()
    }
    return 0
}

/// node1 connected to node2, per security level: built once (the handshake is the slow part).
nonisolated(unsafe) let connected: [(NodeEngine, Instant)] = SecurityLevel.allCases.map { security in
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
    defer { buffer.deallocate() }
    let pair = connectedPair(security: security, buffer: buffer)
    return (pair.a, pair.now)
}

/// NETFT_FUZZ_SEEDS=dir: writes node2's genuine frames (hellos and requests on
/// both routes, data, an ack) as seed inputs of both targets, under
/// dir/NodeEngine and dir/FrameCodec, and exits (scripts/fuzz.sh --seeds).
@_cdecl("LLVMFuzzerInitialize")
public func writeSeeds(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let directory = getenv("NETFT_FUZZ_SEEDS").map({ String(cString: $0) }) else { return 0 }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
    defer { buffer.deallocate() }
    for (level, security) in SecurityLevel.allCases.enumerated() {
        var (_, b, now) = connectedPair(security: security, buffer: buffer)
        var frames: [[UInt8]] = []
        for route in b.table.routeIDs(to: 1) {
            if let n = try? b.hello(on: route, into: buffer, now: now) { frames.append(Array(buffer.prefix(n))) }
            if let n = try? b.heartbeatRequest(on: route, into: buffer, now: now) { frames.append(Array(buffer.prefix(n))) }
        }
        for i in 0..<3 {
            for j in 0..<64 { buffer[FrameCodec.payloadOffset + j] = UInt8(truncatingIfNeeded: i * 64 + j) }
            buffer[FrameCodec.payloadOffset] = 0x45
            if let sent = try? b.encapsulate(to: 1, payloadLength: 64, in: buffer, now: now) { frames.append(Array(buffer.prefix(sent.length))) }
        }
        now = Instant(nanoseconds: now.nanoseconds + 10_000_000)
        if let (_, n) = try? b.ack(to: 1, into: buffer, now: now) { frames.append(Array(buffer.prefix(n))) }
        var input: [UInt8] = [UInt8(level)]
        for f in frames { input += [UInt8(f.count >> 8), UInt8(f.count & 0xFF)] + f }
        write(input, to: "\(directory)/NodeEngine/node2-\(security)")
        for (i, f) in frames.enumerated() { write([UInt8(level)] + f, to: "\(directory)/FrameCodec/node2-\(security)-\(i)") }
    }
    exit(0)
}

private func write(_ bytes: [UInt8], to path: String) {
    guard let file = fopen(path, "wb") else { return }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)
}
