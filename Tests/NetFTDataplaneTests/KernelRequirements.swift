import Glibc
import NetFTDataplane

/// Kernel tests never pass by skipping: without what they need they fail,
/// naming it.
enum KernelRequirements {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func requireRoot() throws {
        guard getuid() == 0 else {
            throw Missing(description: "this test needs root (CAP_BPF, CAP_NET_ADMIN): run the README test command as root")
        }
    }

    static func requireNetns() throws {
        try requireRoot()
        guard access("/usr/sbin/ip", X_OK) == 0 || access("/sbin/ip", X_OK) == 0 else {
            throw Missing(description: "this test needs iproute2 (ip): run scripts/install-deps.sh")
        }
    }
}
