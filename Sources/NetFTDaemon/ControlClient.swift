import Foundation
import Glibc
import NetFTDataplane

/// Asks a running daemon over its control socket.
public enum ControlClient {
    /// Where `netft status` looks with no `--control`: the abstract socket of
    /// this network namespace (every daemon serves one), then the unit file's path.
    public static let defaultSockets = ["@" + ControlServer.abstractName, "/run/netft/netft.sock"]

    public static func ask(_ request: String, path: String) throws -> Data {
        try ControlServer.ask(request, path: path)
    }

    /// Asks the daemon of this network namespace, wherever it answers.
    public static func askLocal(_ request: String) throws -> Data {
        for path in defaultSockets {
            do {
                return try ControlServer.ask(request, path: path)
            } catch {
                // Nobody listens there: try the next place. Anything else is this daemon's answer.
                if error.errno == ECONNREFUSED || error.errno == ENOENT { continue }
                throw error
            }
        }
        throw NoDaemon()
    }

    public struct NoDaemon: Error, CustomStringConvertible {
        public var description: String {
            "no netft daemon answers in this network namespace (tried \(defaultSockets.joined(separator: " and "))). "
                + "Start one with `netft run --config /etc/netft/netft.yaml` (or `systemctl start netft`), "
                + "run this inside the node's namespace (`ip netns exec NS netft status`), or name its socket with --control PATH"
        }
    }
}
