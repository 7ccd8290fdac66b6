import Foundation

/// Runs the iproute2/nftables commands that build a lab fabric. The lab only
/// issues commands; it never parses their output.
/// (Moving link/address set-up to netlink is tracked with the lab issue.)
public enum Shell {
    public struct Failure: Error, CustomStringConvertible {
        public let command: [String]
        public let status: Int32
        public let stderr: String
        public var description: String {
            "\(command.joined(separator: " ")) exited \(status): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }

    /// Runs a program (looked up in the usual sbin/bin paths) and waits for it.
    public static func run(_ arguments: [String], allowFailure: Bool = false) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try locate(arguments[0]))
        process.arguments = Array(arguments.dropFirst())
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderrData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus != 0 && !allowFailure {
            throw Failure(command: arguments, status: process.terminationStatus, stderr: String(decoding: stderrData, as: UTF8.self))
        }
    }

    static func locate(_ program: String) throws -> String {
        if program.hasPrefix("/") { return program }
        for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] {
            let path = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw Failure(command: [program], status: 127, stderr: "\(program) not found (run scripts/install-deps.sh)")
    }
}
