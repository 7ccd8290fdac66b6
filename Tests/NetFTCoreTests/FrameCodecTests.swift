import Testing

@testable import NetFTCore

@Suite("Wire codec")
struct FrameCodecTests {
    static func randomHeader(_ rng: inout SplitMix64, payload: Int) -> FrameHeader {
        FrameHeader(
            type: FrameType.allCases.randomElement(using: &rng)!,
            flags: Bool.random(using: &rng) ? .resent : [],
            sender: .random(in: 0...UInt32.max, using: &rng), session: .random(in: 0...UInt32.max, using: &rng),
            route: .random(in: 0...UInt32.max, using: &rng), payloadLength: UInt16(payload),
            sequence: .random(in: 0...UInt64.max, using: &rng), acknowledgement: .random(in: 0...UInt64.max, using: &rng),
            timestamp: .random(in: 0...UInt64.max, using: &rng))
    }

    @Test("decode(encode(x)) == x", arguments: SecurityLevel.allCases)
    func roundTrip(security: SecurityLevel) throws {
        var rng = SplitMix64(seed: 7 + UInt64(security.rawValue))
        let buffer = FrameBuffer(size: 2048)
        for _ in 0..<2000 {
            let payloadLength = Int.random(in: 0...1400, using: &rng)
            let payload = (0..<payloadLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let header = Self.randomHeader(&rng, payload: payloadLength)
            // A sealed hello carries its nonce in its first 24 payload bytes.
            if header.type == .hello && security != .none && payloadLength < Handshake.frameNonceSize { continue }
            buffer.load([UInt8](repeating: 0, count: FrameCodec.payloadOffset) + payload)
            let length = try FrameCodec.seal(header, in: buffer.raw, security: security, key: testKey)
            #expect(length == Wire.headerSize + payloadLength + security.tagSize)
            if security == .encrypt && payloadLength >= 40 {
                #expect(Array(buffer.raw[48..<(48 + payloadLength)]) != payload, "payload must not travel in clear")
            }
            let decoded = try FrameCodec.open(buffer.raw, length: length, security: security, key: testKey)
            var expected = header
            expected.flags = header.flags.union(security.flags)
            #expect(decoded == expected)
            #expect(Array(buffer.raw[48..<(48 + payloadLength)]) == payload)
        }
    }

    @Test("arbitrary bytes never trap and never verify", arguments: SecurityLevel.allCases)
    func arbitraryBytes(security: SecurityLevel) {
        var rng = SplitMix64(seed: 99)
        let buffer = FrameBuffer(size: 1600)
        var accepted = 0
        for i in 0..<20000 {
            let length = Int.random(in: 0...200, using: &rng)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Half the time, a plausible header so the check reaches the tag.
            if i % 2 == 0 && length >= 48 {
                bytes.replaceSubrange(0..<8, with: [0x4E, 0x65, 0x46, 0x54, Wire.version, 3, security.flags.rawValue, 12])
                bytes[22] = 0
                bytes[23] = 0
                let payload = max(0, length - 48 - security.tagSize)
                bytes[20] = UInt8(payload >> 8)
                bytes[21] = UInt8(payload & 0xFF)
            }
            buffer.load(bytes)
            if (try? FrameCodec.open(buffer.raw, length: length, security: security, key: testKey)) != nil { accepted += 1 }
        }
        if security == .none {
            #expect(accepted > 0, "plausible clear frames are accepted at level none")
        } else {
            #expect(accepted == 0, "a frame whose tag does not verify was accepted")
        }
    }

    @Test("any flipped bit is refused", arguments: [SecurityLevel.sign, .encrypt])
    func bitFlips(security: SecurityLevel) throws {
        let buffer = FrameBuffer(size: 256)
        let header = FrameHeader(type: .data, sender: 1, session: 2, route: 3, payloadLength: 40, sequence: 4, acknowledgement: 5, timestamp: 6)
        buffer.load([UInt8](repeating: 0, count: 48) + (0..<40).map { UInt8($0) })
        let length = try FrameCodec.seal(header, in: buffer.raw, security: security, key: testKey)
        let good = Array(buffer.raw.prefix(length))
        for byte in 0..<length {
            for bit in 0..<8 {
                var bad = good
                bad[byte] ^= UInt8(1 << bit)
                buffer.load(bad)
                #expect(throws: FrameError.self) { try FrameCodec.open(buffer.raw, length: length, security: security, key: testKey) }
            }
        }
        buffer.load(good)
        #expect(throws: FrameError.authenticationFailed) { try FrameCodec.open(buffer.raw, length: length, security: security, key: otherKey) }
    }

    static func valid(security: SecurityLevel = .sign, payload: Int = 8) -> (FrameBuffer, Int) {
        let buffer = FrameBuffer(size: 256)
        let header = FrameHeader(type: .data, sender: 1, session: 2, route: 3, payloadLength: UInt16(payload), sequence: 4)
        let length = try! FrameCodec.seal(header, in: buffer.raw, security: security, key: testKey)
        return (buffer, length)
    }

    @Test func everyMalformationHasItsName() throws {
        func refuse(_ expected: FrameError, security: SecurityLevel = .sign, _ edit: (FrameBuffer, inout Int) -> Void) {
            var (buffer, length) = Self.valid()
            edit(buffer, &length)
            #expect(throws: expected) { try FrameCodec.open(buffer.raw, length: length, security: security, key: testKey) }
        }
        refuse(.truncated) { _, length in length = 47 }
        refuse(.badMagic) { b, _ in b.raw[0] = 0x4F }
        refuse(.unsupportedVersion) { b, _ in b.raw[4] = 1 }  // version 1 frames (per-route acks) are not understood
        refuse(.unsupportedVersion) { b, _ in b.raw[4] = 2 }  // nor version 2 (clock epochs, no handshake)
        refuse(.unsupportedVersion) { b, _ in b.raw[4] = 4 }
        refuse(.unknownType) { b, _ in b.raw[5] = 9 }
        refuse(.reservedBitsSet) { b, _ in b.raw[6] |= 0x80 }
        refuse(.reservedBitsSet) { b, _ in b.raw[23] = 1 }
        refuse(.reservedBitsSet) { b, _ in b.raw[6] = FrameFlags.encrypted.rawValue }
        refuse(.badHeaderLength) { b, _ in b.raw[7] = 13 }
        refuse(.payloadLengthMismatch) { b, _ in b.raw[21] = 200 }
        refuse(.payloadLengthMismatch) { _, length in length -= 1 }
        refuse(.securityMismatch, security: .encrypt) { _, _ in }
        refuse(.securityMismatch, security: .none) { _, _ in }
        refuse(.authenticationFailed) { b, length in b.raw[length - 1] ^= 1 }
        refuse(.truncated) { b, length in length = b.raw.count + 1 }
    }

    @Test func sealRefusesABufferTooSmall() {
        let buffer = FrameBuffer(size: 60)
        let header = FrameHeader(type: .data, sender: 1, session: 1, route: 1, payloadLength: 8, sequence: 1)
        #expect(throws: FrameError.bufferTooSmall) { try FrameCodec.seal(header, in: buffer.raw, security: .sign, key: testKey) }
    }

    @Test func headerBytesAreWhereTheProtocolDocumentSaysTheyAre() throws {
        let buffer = FrameBuffer(size: 128)
        let header = FrameHeader(
            type: .heartbeatRequest, flags: .resent, sender: 0x0102_0304, session: 0x0506_0708, route: 0x090A_0B0C,
            payloadLength: 0, sequence: 0x1112_1314_1516_1718, acknowledgement: 0x2122_2324_2526_2728,
            timestamp: 0x3132_3334_3536_3738)
        let length = try FrameCodec.seal(header, in: buffer.raw, security: .none, key: testKey)
        #expect(length == 48)
        #expect(Array(buffer.raw[0..<48]) == [
            0x4E, 0x65, 0x46, 0x54, 0x03, 0x01, 0x04, 0x0C,
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
            0x09, 0x0A, 0x0B, 0x0C, 0x00, 0x00, 0x00, 0x00,
            0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
            0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
            0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
        ])
    }

    @Test func keysShorterThanSixteenBytesAreRefused() {
        #expect(throws: ClusterKey.KeyError.tooShort(5)) { try ClusterKey(secret: Array("short".utf8)) }
    }
}
