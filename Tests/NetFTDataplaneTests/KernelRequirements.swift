import Glibc
import NetFTDataplane
import NetFTTestSupport

/// Kernel tests never pass by skipping: without what they need they fail,
/// naming it.
enum KernelRequirements {
    static func requireRoot() throws { try Missing.requireRoot(for: "this test (CAP_BPF, CAP_NET_ADMIN)") }

    static func requireNetns() throws {
        try requireRoot()
        guard access("/usr/sbin/ip", X_OK) == 0 || access("/sbin/ip", X_OK) == 0 else {
            throw Missing(description: "this test needs iproute2 (ip): run scripts/install-deps.sh")
        }
    }
}
