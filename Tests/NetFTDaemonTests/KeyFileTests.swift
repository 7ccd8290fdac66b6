import Foundation
import Glibc
import NetFTCore
import Testing

@testable import NetFTDaemon

/// The key file as an attacker or a careless operator leaves it: a link, a
/// stranger's file, a short secret; and the three forms it may take.
@Suite("Key files", .serialized)
struct KeyFileTests {
    static func directory() throws -> String {
        let dir = "/tmp/netft-keys-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode])
    }

    static func refusal(_ path: String) -> String {
        do {
            _ = try KeyFile.load(path: path, cluster: "c")
            return ""
        } catch {
            return error.description
        }
    }

    @Test func keygenWritesAnOwnerOnlyKeyAndNeverReplacesOneUnasked() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/cluster.key"
        let fingerprint = try KeyFile.generate(path: path, replace: false)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600 && info.st_size == 32)
        let loaded = try KeyFile.load(path: path, cluster: "c")
        #expect(loaded.form == .raw && loaded.key.fingerprint == fingerprint && fingerprint.count == 16)
        #expect(throws: KeyFile.Refused.self) { try KeyFile.generate(path: path, replace: false) }
        #expect(try KeyFile.load(path: path, cluster: "c").key.fingerprint == fingerprint, "a refused keygen leaves the key alone")
        let replaced = try KeyFile.generate(path: path, replace: true)
        #expect(replaced != fingerprint)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["cluster.key"], "no temporary file left")
    }

    @Test func linksStrangersAndShortSecretsAreRefusedWithTheReason() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let real = "\(dir)/real.key", link = "\(dir)/link.key"
        _ = try KeyFile.generate(path: real, replace: false)
        symlink(real, link)
        #expect(Self.refusal(link).contains("is a symbolic link"), "\(Self.refusal(link))")
        chown(real, 65534, 65534)
        #expect(Self.refusal(real).contains("belongs to uid 65534"), "\(Self.refusal(real))")
        chown(real, 0, 0)
        Self.write(Array("too short".utf8), to: real)
        #expect(Self.refusal(real).contains("holds 9 bytes") && Self.refusal(real).contains("netft keygen"), "\(Self.refusal(real))")
        #expect(Self.refusal(dir).contains("not a regular file") || Self.refusal(dir).contains("Is a directory"), "\(Self.refusal(dir))")
    }

    @Test func rawHexAndPassphraseFormsDeriveStableKeys() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let raw = (0..<32).map { UInt8($0 * 7 & 0xFF) }
        Self.write(raw, to: "\(dir)/raw")
        Self.write(Array((raw.map { String(format: "%02x", $0) }.joined() + "\n").utf8), to: "\(dir)/hex")
        let a = try KeyFile.load(path: "\(dir)/raw", cluster: "c"), b = try KeyFile.load(path: "\(dir)/hex", cluster: "c")
        #expect(a.form == .raw && b.form == .hex && a.key.fingerprint == b.key.fingerprint, "hex digits name the same 32 bytes")
        Self.write(Array("correct horse battery staple\n".utf8), to: "\(dir)/pass")
        let p1 = try KeyFile.load(path: "\(dir)/pass", cluster: "c")
        let p2 = try KeyFile.load(path: "\(dir)/pass", cluster: "c")
        let other = try KeyFile.load(path: "\(dir)/pass", cluster: "another cluster")
        #expect(p1.form == .passphrase && p1.key.fingerprint == p2.key.fingerprint, "Argon2id is deterministic for one cluster")
        #expect(other.key.fingerprint != p1.key.fingerprint, "the cluster name salts the passphrase")
        #expect(try ClusterKey(secret: Array("correct horse battery staple".utf8)).fingerprint != p1.key.fingerprint, "a passphrase is stretched, not hashed")
    }
}
