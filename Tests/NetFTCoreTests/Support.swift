@testable import NetFTCore

/// A seeded generator, so property tests are random yet reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Reproducible random bytes for sessions, challenges and hello nonces.
final class SeededRandom: RandomSource, @unchecked Sendable {
    private var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        for i in buffer.indices { buffer[i] = UInt8(truncatingIfNeeded: generator.next()) }
    }
}

let testKey = try! ClusterKey(secret: Array("correct horse battery staple!".utf8))
let otherKey = try! ClusterKey(secret: Array("a different cluster secret key".utf8))

/// A reusable frame buffer for tests.
final class FrameBuffer {
    let raw: UnsafeMutableRawBufferPointer
    init(size: Int = 2048) {
        raw = .allocate(byteCount: size, alignment: 16)
        raw.initializeMemory(as: UInt8.self, repeating: 0)
    }
    deinit { raw.deallocate() }
    var bytes: [UInt8] { Array(raw) }
    func load(_ bytes: [UInt8]) {
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        for (i, b) in bytes.enumerated() { raw[i] = b }
    }
}
