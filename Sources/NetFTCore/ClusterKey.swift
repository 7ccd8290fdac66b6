import CSodium

/// The cluster's 32-byte frame key, held in one allocation for the life of the
/// node and wiped when released. Derived from the key file's bytes with
/// BLAKE2b, so any secret of 16 bytes or more serves as a key file.
public final class ClusterKey: @unchecked Sendable {
    public static let size = 32
    public static let minimumSecretSize = 16
    let bytes: UnsafeMutableRawBufferPointer

    public enum KeyError: Error, CustomStringConvertible, Equatable {
        case tooShort(Int)
        case libsodiumUnavailable
        public var description: String {
            switch self {
            case .tooShort(let n): "the cluster key must hold at least \(ClusterKey.minimumSecretSize) bytes (it holds \(n))"
            case .libsodiumUnavailable: "libsodium failed to initialise"
            }
        }
    }

    public init(secret: [UInt8]) throws(KeyError) {
        guard sodium_init() >= 0 else { throw .libsodiumUnavailable }
        guard secret.count >= ClusterKey.minimumSecretSize else { throw .tooShort(secret.count) }
        bytes = .allocate(byteCount: ClusterKey.size, alignment: 16)
        let context = Array("netft frame key v1".utf8)
        secret.withUnsafeBytes { s in
            context.withUnsafeBytes { c in
                // Keyed BLAKE2b with a fixed context as the key: a distinct hash for this use.
                _ = crypto_generichash(
                    bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), ClusterKey.size,
                    s.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(s.count),
                    c.baseAddress!.assumingMemoryBound(to: UInt8.self), c.count)
            }
        }
    }

    deinit {
        sodium_memzero(bytes.baseAddress, ClusterKey.size)
        bytes.deallocate()
    }
}
