import Glibc

/// What a kernel test needs and this machine lacks. Kernel tests never pass
/// by skipping: they throw this, and the failure names what to do.
public struct Missing: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }

    /// Root, or the `Missing` saying what for.
    public static func requireRoot(for what: String) throws {
        guard getuid() == 0 else { throw Missing(description: "\(what) needs root: run the README test command as root") }
    }
}
