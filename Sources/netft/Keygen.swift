import ArgumentParser
import Foundation
import NetFTDaemon

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a new cluster key: 32 random bytes, mode 0600.",
        discussion: """
            Every node of the cluster needs the same key file (copy it over a secure
            channel, keeping mode 0600 and owner root). Prints the key's fingerprint:
            `netft status --json` shows the same `key_fingerprint` on every node that
            holds this key, without revealing it. Refuses to replace an existing file
            unless --force. A key file may instead hold a passphrase of at least 16
            characters, which the daemon stretches with Argon2id (and says so).
            """)

    @Option(name: .shortAndLong, help: "Where to write the key.") var output = "/etc/netft/cluster.key"
    @Flag(help: "Replace an existing key file (the cluster then needs the new key everywhere).") var force = false

    func run() throws {
        let fingerprint: String
        do {
            fingerprint = try KeyFile.generate(path: output, replace: force)
        } catch {
            throw RuntimeFailure("\(error)")
        }
        print("wrote a 32-byte cluster key to \(output) (mode 0600), fingerprint \(fingerprint)")
    }
}
