import Foundation

/// Asks a running daemon over its control socket.
public enum ControlClient {
    public static func ask(_ request: String, path: String) throws -> Data {
        try ControlServer.ask(request, path: path)
    }
}
