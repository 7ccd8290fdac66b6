/// The Internet checksum (RFC 1071), computed over words loaded in the
/// machine's byte order: the one's-complement sum commutes with a byte swap,
/// so summing native words and storing the folded result natively gives the
/// right bytes on the wire without swapping each word.
public enum InternetChecksum {
    /// Adds `bytes` (starting at an even offset of the checksummed data) to `sum`.
    @inline(__always)
    public static func add(_ bytes: UnsafeRawBufferPointer, to sum: UInt64 = 0) -> UInt64 {
        var s = sum
        var i = 0
        let n = bytes.count
        // 32-bit halves of 64-bit loads: no carry is lost below 2^32 words.
        while i + 8 <= n {
            let w = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            s &+= (w & 0xffff_ffff) &+ (w >> 32)
            i += 8
        }
        if i + 4 <= n {
            s &+= UInt64(bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self))
            i += 4
        }
        if i + 2 <= n {
            s &+= UInt64(bytes.loadUnaligned(fromByteOffset: i, as: UInt16.self))
            i += 2
        }
        if i < n {
            // A last odd byte is the high byte of a big-endian word.
            s &+= UInt64(UInt16(bigEndian: UInt16(bytes[i]) << 8))
        }
        return s
    }

    /// Adds a 16-bit value given in host order (a length, a protocol number).
    @inline(__always)
    public static func add(word: UInt16, to sum: UInt64) -> UInt64 { sum &+ UInt64(word.bigEndian) }

    /// Folds a sum to 16 bits (not complemented), in the order it is stored.
    @inline(__always)
    public static func fold(_ sum: UInt64) -> UInt16 {
        var s = sum
        while s >> 16 != 0 { s = (s & 0xffff) &+ (s >> 16) }
        return UInt16(s)
    }

    /// The checksum to store: the complement of the folded sum.
    @inline(__always)
    public static func finish(_ sum: UInt64) -> UInt16 { ~fold(sum) }

    /// The pseudo-header sum of the packet whose IP header starts `packet`
    /// (addresses read from it), for an upper layer of `length` bytes.
    @inline(__always)
    static func pseudoHeader(_ packet: UnsafeRawBufferPointer, ipv6: Bool, protocol proto: UInt8, length: Int) -> UInt64 {
        let addresses = ipv6 ? UnsafeRawBufferPointer(rebasing: packet[8..<40]) : UnsafeRawBufferPointer(rebasing: packet[12..<20])
        var s = add(addresses)
        s = add(word: UInt16(proto), to: s)
        if ipv6 {
            s = add(word: UInt16(truncatingIfNeeded: length >> 16), to: s)
        }
        return add(word: UInt16(truncatingIfNeeded: length), to: s)
    }
}

extension UnsafeMutableRawBufferPointer {
    /// Stores a checksum computed by `InternetChecksum` (already in wire order).
    @inline(__always)
    func storeChecksum(_ value: UInt16, at offset: Int) {
        storeBytes(of: value, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always)
    func storeBigEndian(_ value: UInt16, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always)
    func storeBigEndian(_ value: UInt32, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func bigEndian16(_ offset: Int) -> UInt16 { UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    @inline(__always)
    func bigEndian32(_ offset: Int) -> UInt32 { UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
}
