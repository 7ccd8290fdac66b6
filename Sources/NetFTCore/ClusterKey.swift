import CSodium

/// The cluster's 32-byte frame key, held in one allocation for the life of the
/// node and wiped when released. Derived from the key material (the key
/// file's 32 random bytes, or a stretched passphrase) with keyed BLAKE2b.
public final class ClusterKey: @unchecked Sendable {
    public static let size = 32
    public static let minimumSecretSize = 16
    let bytes: UnsafeMutableRawBufferPointer

    public enum KeyError: Error, CustomStringConvertible, Equatable {
        case tooShort(Int)
        case libsodiumUnavailable
        case stretchFailed
        public var description: String {
            switch self {
            case .stretchFailed: "Argon2id could not stretch the passphrase (it needs 64 MiB of memory)"
            case .tooShort(let n): "the cluster key must hold at least \(ClusterKey.minimumSecretSize) bytes (it holds \(n))"
            case .libsodiumUnavailable: "libsodium failed to initialise"
            }
        }
    }

    /// From key material in memory the caller owns (and wipes); nothing is copied but the derived key.
    public init(material: UnsafeRawBufferPointer) throws(KeyError) {
        guard sodium_init() >= 0 else { throw .libsodiumUnavailable }
        guard material.count >= ClusterKey.minimumSecretSize else { throw .tooShort(material.count) }
        bytes = .allocate(byteCount: ClusterKey.size, alignment: 16)
        ClusterKey.hash(material, context: "netft frame key v1", into: bytes)
    }

    private init(derivedFrom parent: ClusterKey, message: UnsafeRawBufferPointer) {
        bytes = .allocate(byteCount: ClusterKey.size, alignment: 16)
        _ = crypto_generichash(
            bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), ClusterKey.size,
            message.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(message.count),
            parent.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), ClusterKey.size)
    }

    /// The traffic key of frames from `sender` to `receiver` while they run the
    /// sessions named by the two nonces: keyed BLAKE2b (this key) of
    /// "netft traffic v3" ‖ sender id ‖ receiver id ‖ sender nonce ‖ receiver nonce.
    func trafficKey(from sender: NodeID, _ senderNonce: SessionNonce, to receiver: NodeID, _ receiverNonce: SessionNonce) -> ClusterKey {
        let context = Array("netft traffic v3".utf8)
        let size = context.count + 8 + 2 * SessionNonce.size
        let message = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer {
            ClusterKey.wipe(message)
            message.deallocate()
        }
        message.copyBytes(from: context)
        message.storeBE32(sender, at: context.count)
        message.storeBE32(receiver, at: context.count + 4)
        senderNonce.write(to: UnsafeMutableRawBufferPointer(rebasing: message[(context.count + 8)..<(context.count + 40)]))
        receiverNonce.write(to: UnsafeMutableRawBufferPointer(rebasing: message[(context.count + 40)..<size]))
        return ClusterKey(derivedFrom: self, message: UnsafeRawBufferPointer(message))
    }

    /// From bytes in an array (tests, the unused key of security none).
    public convenience init(secret: [UInt8]) throws(KeyError) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(secret.count, 1), alignment: 16)
        defer {
            sodium_memzero(copy.baseAddress, copy.count)
            copy.deallocate()
        }
        copy.copyBytes(from: secret)
        try self.init(material: UnsafeRawBufferPointer(rebasing: copy[0..<secret.count]))
    }

    /// From a passphrase: Argon2id (libsodium's crypto_pwhash, interactive limits:
    /// 2 passes over 64 MiB) salted by the cluster's name, so every node that
    /// holds the same passphrase and cluster name derives the same key.
    public convenience init(passphrase: UnsafeRawBufferPointer, cluster: String) throws(KeyError) {
        guard sodium_init() >= 0 else { throw .libsodiumUnavailable }
        guard passphrase.count >= ClusterKey.minimumSecretSize else { throw .tooShort(passphrase.count) }
        let stretched = UnsafeMutableRawBufferPointer.allocate(byteCount: ClusterKey.size, alignment: 16)
        defer {
            ClusterKey.wipe(stretched)
            stretched.deallocate()
        }
        var salt = [UInt8](repeating: 0, count: Int(crypto_pwhash_saltbytes()))
        Array(cluster.utf8).withUnsafeBytes { name in salt.withUnsafeMutableBytes { ClusterKey.hash(name, context: "netft passphrase salt v1", into: $0) } }
        let result = crypto_pwhash(
            stretched.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ClusterKey.size),
            passphrase.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(passphrase.count), salt,
            UInt64(crypto_pwhash_opslimit_interactive()), crypto_pwhash_memlimit_interactive(), crypto_pwhash_alg_argon2id13())
        guard result == 0 else { throw .stretchFailed }
        try self.init(material: UnsafeRawBufferPointer(stretched))
    }

    /// Zeroes a buffer that held key material in a way the compiler cannot remove.
    public static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        sodium_memzero(buffer.baseAddress, buffer.count)
    }

    /// 16 hex digits that name this key without revealing it: equal on every node
    /// that holds the same key (`netft keygen` prints it, `netft status` shows it).
    public var fingerprint: String {
        var out = [UInt8](repeating: 0, count: 8)
        out.withUnsafeMutableBytes { ClusterKey.hash(UnsafeRawBufferPointer(bytes), context: "netft key fingerprint v1", into: $0) }
        return out.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// Keyed BLAKE2b with a fixed context string as the key: a distinct hash per use.
    static func hash(_ input: UnsafeRawBufferPointer, context: String, into output: UnsafeMutableRawBufferPointer) {
        let key = Array(context.utf8)
        key.withUnsafeBytes { c in
            _ = crypto_generichash(
                output.baseAddress!.assumingMemoryBound(to: UInt8.self), output.count,
                input.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(input.count),
                c.baseAddress!.assumingMemoryBound(to: UInt8.self), c.count)
        }
    }

    deinit {
        sodium_memzero(bytes.baseAddress, ClusterKey.size)
        bytes.deallocate()
    }
}
