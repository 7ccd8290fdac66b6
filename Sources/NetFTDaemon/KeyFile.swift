import Foundation
import Glibc
import NetFTCore

/// Loads the cluster key, refusing a file that others could read.
public enum KeyFile {
    public struct Refused: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    public static func load(path: String) throws(Refused) -> ClusterKey {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw Refused(description: "key file \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            // Say who can read it: the group only, or everyone.
            let who = info.st_mode & 0o007 != 0 ? "readable by others" : "readable by its group"
            throw Refused(description: String(format: "key file %@ is %@ (mode %o): run chmod 600 %@", path, who, info.st_mode & 0o777, path))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Refused(description: "key file \(path): cannot read it")
        }
        do {
            return try ClusterKey(secret: [UInt8](data))
        } catch {
            throw Refused(description: "key file \(path): \(error)")
        }
    }
}
