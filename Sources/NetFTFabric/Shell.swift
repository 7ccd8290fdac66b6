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

    /// Starts every command at once, then waits for all: whether each exited 0.
    public static func runTogether(_ commands: [[String]]) -> [Bool] {
        let processes = commands.map { arguments -> Process? in
            let process = Process()
            guard let path = try? locate(arguments[0]) else { return nil }
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = Array(arguments.dropFirst())
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            return (try? process.run()) == nil ? nil : process
        }
        return processes.map { process in
            guard let process else { return false }
            process.waitUntilExit()
            return process.terminationStatus == 0
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
