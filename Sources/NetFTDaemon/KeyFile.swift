import Foundation
import Glibc
import NetFTCore

/// The cluster key file: 32 random bytes (what `netft keygen` writes; 64 hex
/// digits also do), or a passphrase of at least 16 characters, stretched with
/// Argon2id. Opened without following links and judged on the open file:
/// a regular file owned by root or the daemon's user, readable by nobody else.
/// Every copy of the bytes read is wiped.
public enum KeyFile {
    public struct Refused: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// What the file held.
    public enum Form: String, Sendable { case raw, hex, passphrase }

    public struct Loaded {
        public let key: ClusterKey
        public let form: Form
    }

    /// Larger than any key or passphrase: refused unread.
    static let largest = 4096

    public static func load(path: String, cluster: String) throws(Refused) -> Loaded {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            if errno == ELOOP { throw Refused(description: "key file \(path) is a symbolic link: name the key file itself (netft does not follow links to it)") }
            throw Refused(description: "key file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Refused(description: "key file \(path): \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw Refused(description: "key file \(path) is not a regular file") }
        guard info.st_uid == 0 || info.st_uid == geteuid() else {
            throw Refused(description: "key file \(path) belongs to uid \(info.st_uid): it must belong to root or to the daemon's user (uid \(geteuid())); run chown root \(path)")
        }
        guard info.st_mode & 0o077 == 0 else {
            // Say who can read it: the group only, or everyone.
            let who = info.st_mode & 0o007 != 0 ? "readable by others" : "readable by its group"
            throw Refused(description: String(format: "key file %@ is %@ (mode %o): run chmod 600 %@", path, who, info.st_mode & 0o777, path))
        }
        guard Int(info.st_size) <= largest else { throw Refused(description: "key file \(path) holds \(info.st_size) bytes: too large for a key (32 random bytes) or a passphrase") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: largest + 1, alignment: 16)
        defer {
            ClusterKey.wipe(buffer)
            buffer.deallocate()
        }
        var count = 0
        while count <= largest {
            let n = read(fd, buffer.baseAddress! + count, largest + 1 - count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw Refused(description: "key file \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            count += n
        }
        do {
            return try material(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), cluster: cluster)
        } catch {
            throw Refused(description: "key file \(path) \(error.description)")
        }
    }

    /// Pure: the key from the file's bytes.
    static func material(_ bytes: UnsafeRawBufferPointer, cluster: String) throws(Refused) -> Loaded {
        do {
            if bytes.count == ClusterKey.size { return Loaded(key: try ClusterKey(material: bytes), form: .raw) }
            var end = bytes.count
            while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
            let text = UnsafeRawBufferPointer(rebasing: bytes[0..<end])
            if text.count == 2 * ClusterKey.size, text.allSatisfy({ hexValue($0) != nil }) {
                let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: ClusterKey.size, alignment: 16)
                defer {
                    ClusterKey.wipe(raw)
                    raw.deallocate()
                }
                for i in 0..<ClusterKey.size { raw[i] = hexValue(text[2 * i])! << 4 | hexValue(text[2 * i + 1])! }
                return Loaded(key: try ClusterKey(material: UnsafeRawBufferPointer(raw)), form: .hex)
            }
            guard text.count >= ClusterKey.minimumSecretSize else {
                throw Refused(description: "holds \(text.count) bytes: a key file holds 32 random bytes (netft keygen writes one) or a passphrase of at least \(ClusterKey.minimumSecretSize) characters")
            }
            return Loaded(key: try ClusterKey(passphrase: text, cluster: cluster), form: .passphrase)
        } catch let refused as Refused {
            throw refused
        } catch {
            throw Refused(description: "\(error)")
        }
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }

    /// Writes 32 random bytes (getentropy) to `path`, mode 0600, through a
    /// temporary file in the same directory: a reader never sees half a key.
    /// Refuses to replace an existing file unless `replace`. Returns the key's fingerprint.
    public static func generate(path: String, replace: Bool) throws(Refused) -> String {
        let material = UnsafeMutableRawBufferPointer.allocate(byteCount: ClusterKey.size, alignment: 16)
        defer {
            ClusterKey.wipe(material)
            material.deallocate()
        }
        guard getentropy(material.baseAddress, ClusterKey.size) == 0 else {
            throw Refused(description: "no random bytes from the kernel: \(String(cString: strerror(errno)))")
        }
        let temporary = "\(path).\(getpid()).new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Refused(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var failure: Int32 = 0
        if write(fd, material.baseAddress, ClusterKey.size) != ClusterKey.size || fsync(fd) != 0 { failure = errno }
        close(fd)
        // Without replace, link(2) refuses an existing name: no check-then-write race.
        if failure == 0, (replace ? rename(temporary, path) : link(temporary, path)) != 0 { failure = errno }
        unlink(temporary)
        if failure == EEXIST && !replace { throw Refused(description: "\(path) exists: netft keygen does not replace a key (pass --force to)") }
        if failure != 0 { throw Refused(description: "cannot write \(path): \(String(cString: strerror(failure)))") }
        do {
            return try ClusterKey(material: UnsafeRawBufferPointer(material)).fingerprint
        } catch {
            throw Refused(description: "\(error)")
        }
    }
}
