import ArgumentParser
import Foundation

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the daemon's configuration file again, as SIGHUP does, and say what changed.",
        discussion: """
            The daemon reads its --config file again and, if it is valid, applies it without a restart:
              nodes added or removed   their routes come up or go; a handshake starts with a new node
              network priorities       traffic moves to the preferred route, no route goes down
              heartbeat settings       Delay and Threshold of each route, its state kept
              the key file             a new key starts a rotation (see README, "Rotating the key")
            Every route the change does not concern keeps its state, and traffic to other
            peers loses nothing. A cluster name, port, security level or lossless setting that
            changed, or a network on a NIC the daemon is not attached to, needs a restart:
            it is reported and not applied. A file that does not load is refused, and the
            daemon keeps the running configuration.
            Exit status 1 if the daemon refused the file.
            """)
    @OptionGroup var options: ControlOptions

    func run() throws {
        let data = try options.ask("reload")
        if options.json { print(String(decoding: data, as: UTF8.self)) }
        guard let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw RuntimeFailure("the daemon answered something that is not JSON")
        }
        if let error = answer["error"] as? String { throw RuntimeFailure("the daemon refused: \(error)") }
        let summary = answer["summary"] as? String ?? "?"
        guard answer["applied"] as? Bool == true else { throw RuntimeFailure(summary) }
        if !options.json { print(summary) }
    }
}
