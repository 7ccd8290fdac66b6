import CSodium

/// Encodes and decodes frames in place over a caller's buffer (an AF_XDP UMEM
/// frame or a socket buffer): no copies, no allocation, every bound checked.
///
/// Authentication is XChaCha20-Poly1305 (libsodium, detached tag, in place).
/// The 24-byte nonce is sender ‖ session ‖ route ‖ sequence ‖ 0000, unique
/// because a traffic key lives for one session of each side and a sender
/// never reuses a sequence on a route within its session. A hello, sealed
/// with the long-lived cluster key, takes a random nonce from its payload.
public enum FrameCodec {
    /// Bytes a frame with `payload` bytes occupies at `security`.
    public static func frameSize(payload: Int, security: SecurityLevel) -> Int {
        Wire.headerSize + payload + security.tagSize
    }

    /// Where the payload starts: write it there before calling `seal`.
    public static let payloadOffset = Wire.headerSize

    /// Writes `header` at the start of `buffer` and protects the frame at
    /// `security`. The payload (header.payloadLength bytes) must already be in
    /// place at `payloadOffset`. Returns the frame's total length.
    @inline(__always)
    public static func seal(
        _ header: FrameHeader, in buffer: UnsafeMutableRawBufferPointer, security: SecurityLevel, key: ClusterKey
    ) throws(FrameError) -> Int {
        let payloadLength = Int(header.payloadLength)
        let total = frameSize(payload: payloadLength, security: security)
        guard buffer.count >= total else { throw .bufferTooSmall }
        var header = header
        header.flags = header.flags.subtracting([.authenticated, .encrypted]).union(security.flags)
        writeHeader(header, to: buffer)
        guard security != .none else { return total }

        var nonce = try Nonce(header, buffer)
        let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let tag = base + Wire.headerSize + payloadLength
        let k = key.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        withUnsafeBytes(of: &nonce.bytes) { n in
            let npub = n.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if security == .encrypt {
                // A hello's frame nonce stays in the clear (additional data): the receiver needs it first.
                let clear = header.type == .hello ? Handshake.frameNonceSize : 0
                let payload = base + Wire.headerSize + clear
                _ = crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                    payload, tag, nil, payload, UInt64(payloadLength - clear), base, UInt64(Wire.headerSize + clear), nil, npub, k)
            } else {
                // Sign: no message, everything as additional data (libsodium wants non-null pointers).
                _ = crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                    tag, tag, nil, tag, 0, base, UInt64(Wire.headerSize + payloadLength), nil, npub, k)
            }
        }
        return total
    }

    /// Checks and decodes the frame in `buffer[0..<length]`, verifying its tag
    /// (and decrypting the payload in place) at the receiver's `security`.
    /// On success the payload is at `payloadOffset` with `payloadLength` bytes.
    @inline(__always)
    public static func open(
        _ buffer: UnsafeMutableRawBufferPointer, length: Int, security: SecurityLevel, key: ClusterKey
    ) throws(FrameError) -> FrameHeader {
        let header = try readHeader(buffer, length: length)
        try open(buffer, length: length, header: header, security: security, key: key)
        return header
    }

    /// Like `open`, for a header already read with `readHeader` (the receiver
    /// chooses the key by the header's sender and session).
    /// `verifyOnly`: check the tag and leave an encrypted payload as it is
    /// (libsodium zeroes the payload when a tag fails, so a receiver choosing
    /// between two keys verifies first).
    @inline(__always)
    public static func open(
        _ buffer: UnsafeMutableRawBufferPointer, length: Int, header: FrameHeader, security: SecurityLevel, key: ClusterKey,
        verifyOnly: Bool = false
    ) throws(FrameError) {
        let payloadLength = Int(header.payloadLength)
        let protection = header.flags.intersection([.authenticated, .encrypted])
        // A frame must carry exactly the receiver's protection: a weaker one is
        // a downgrade, a stronger one a configuration mismatch.
        guard protection == security.flags else { throw .securityMismatch }
        guard length == frameSize(payload: payloadLength, security: security) else { throw .payloadLengthMismatch }
        guard security != .none else { return }

        var nonce = try Nonce(header, buffer)
        let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let tag = base + Wire.headerSize + payloadLength
        let k = key.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let result = withUnsafeBytes(of: &nonce.bytes) { n -> Int32 in
            let npub = n.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if security == .encrypt {
                let clear = header.type == .hello ? Handshake.frameNonceSize : 0
                let payload = base + Wire.headerSize + clear
                return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                    verifyOnly ? nil : payload, nil, payload, UInt64(payloadLength - clear), tag, base, UInt64(Wire.headerSize + clear), npub, k)
            }
            return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                base, nil, tag, 0, tag, base, UInt64(Wire.headerSize + payloadLength), npub, k)
        }
        guard result == 0 else { throw .authenticationFailed }
    }

    /// Parses the fixed header without verifying the tag.
    @inline(__always)
    public static func readHeader(_ buffer: UnsafeMutableRawBufferPointer, length: Int) throws(FrameError) -> FrameHeader {
        guard length <= buffer.count, length >= Wire.headerSize else { throw .truncated }
        let raw = UnsafeRawBufferPointer(buffer)
        guard raw.loadBE32(Wire.Offset.magic) == Wire.magic else { throw .badMagic }
        guard raw[Wire.Offset.version] == Wire.version else { throw .unsupportedVersion }
        guard Int(raw[Wire.Offset.headerWords]) * 4 == Wire.headerSize else { throw .badHeaderLength }
        guard let type = FrameType(rawValue: raw[Wire.Offset.type]) else { throw .unknownType }
        let flags = FrameFlags(rawValue: raw[Wire.Offset.flags])
        guard flags.isSubset(of: .known), raw.loadBE16(Wire.Offset.reserved) == 0 else { throw .reservedBitsSet }
        if flags.contains(.encrypted) && !flags.contains(.authenticated) { throw .reservedBitsSet }
        let payloadLength = raw.loadBE16(Wire.Offset.payloadLength)
        guard Int(payloadLength) + Wire.headerSize <= length else { throw .payloadLengthMismatch }
        return FrameHeader(
            type: type, flags: flags,
            sender: raw.loadBE32(Wire.Offset.sender), session: raw.loadBE32(Wire.Offset.session),
            route: raw.loadBE32(Wire.Offset.route), payloadLength: payloadLength,
            sequence: raw.loadBE64(Wire.Offset.sequence), acknowledgement: raw.loadBE64(Wire.Offset.acknowledgement),
            timestamp: raw.loadBE64(Wire.Offset.timestamp))
    }

    @inline(__always)
    static func writeHeader(_ h: FrameHeader, to buffer: UnsafeMutableRawBufferPointer) {
        buffer.storeBE32(Wire.magic, at: Wire.Offset.magic)
        buffer[Wire.Offset.version] = Wire.version
        buffer[Wire.Offset.type] = h.type.rawValue
        buffer[Wire.Offset.flags] = h.flags.rawValue
        buffer[Wire.Offset.headerWords] = UInt8(Wire.headerSize / 4)
        buffer.storeBE32(h.sender, at: Wire.Offset.sender)
        buffer.storeBE32(h.session, at: Wire.Offset.session)
        buffer.storeBE32(h.route, at: Wire.Offset.route)
        buffer.storeBE16(h.payloadLength, at: Wire.Offset.payloadLength)
        buffer.storeBE16(0, at: Wire.Offset.reserved)
        buffer.storeBE64(h.sequence, at: Wire.Offset.sequence)
        buffer.storeBE64(h.acknowledgement, at: Wire.Offset.acknowledgement)
        buffer.storeBE64(h.timestamp, at: Wire.Offset.timestamp)
    }

    /// sender ‖ session ‖ route ‖ sequence ‖ 0000, on the stack; for a hello,
    /// the random first 24 bytes of its payload.
    struct Nonce {
        var bytes: (UInt64, UInt64, UInt64) = (0, 0, 0)
        @inline(__always)
        init(_ h: FrameHeader, _ buffer: UnsafeMutableRawBufferPointer) throws(FrameError) {
            if h.type == .hello {
                guard h.payloadLength >= Handshake.frameNonceSize else { throw .malformedPayload }
                // Loaded word by word, not copied through a pointer to the tuple (see SessionNonce).
                let at = Wire.headerSize
                bytes = (
                    buffer.loadUnaligned(fromByteOffset: at, as: UInt64.self), buffer.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self),
                    buffer.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self))
                return
            }
            bytes.0 = (UInt64(h.sender) << 32 | UInt64(h.session)).bigEndian
            bytes.1 = (UInt64(h.route) << 32 | (h.sequence >> 32)).bigEndian
            bytes.2 = ((h.sequence & 0xFFFF_FFFF) << 32).bigEndian
        }
    }
}

/// Big-endian reads, shared with the dataplane's outer-header parser.
extension UnsafeRawBufferPointer {
    @inline(__always) public func loadBE16(_ at: Int) -> UInt16 { UInt16(bigEndian: loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    @inline(__always) public func loadBE32(_ at: Int) -> UInt32 { UInt32(bigEndian: loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    @inline(__always) public func loadBE64(_ at: Int) -> UInt64 { UInt64(bigEndian: loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always) func storeBE16(_ v: UInt16, at: Int) { storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt16.self) }
    @inline(__always) func storeBE32(_ v: UInt32, at: Int) { storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt32.self) }
    @inline(__always) func storeBE64(_ v: UInt64, at: Int) { storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt64.self) }
}
