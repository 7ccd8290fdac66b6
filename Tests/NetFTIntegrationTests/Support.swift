import Foundation
import Glibc
import NetFTDataplane
import NetFTLab

/// The netft binary built beside this test bundle.
let netftBinary: String = {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for candidate in [here, here.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("netft").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return here.appendingPathComponent("netft").path
}()

struct Missing: Error, CustomStringConvertible { let description: String }

/// Kernel tests fail, naming what is missing; they never skip.
func requireKernelLab() throws {
    guard getuid() == 0 else { throw Missing(description: "integration tests need root (namespaces, XDP, TUN): run the README test command as root") }
    guard FileManager.default.isExecutableFile(atPath: netftBinary) else {
        throw Missing(description: "the netft binary is not built at \(netftBinary): run `swift build` first")
    }
    for tool in ["/usr/bin/nsenter", "/usr/bin/ping"] where !FileManager.default.isExecutableFile(atPath: tool) {
        throw Missing(description: "\(tool) is missing: run scripts/install-deps.sh")
    }
}

/// Builds a fabric, starts every daemon and waits until all routes are up;
/// on failure the daemons' logs are in the error.
func upFabric(_ spec: ClusterFabric.Spec, tag: String) throws -> ClusterFabric {
    let fabric = try ClusterFabric(spec: spec, binary: netftBinary, tag: tag)
    do {
        try fabric.startAll()
        guard fabric.waitAllRoutesUp(seconds: 15) else {
            throw Missing(description: "routes did not all come up within 15 s:\n" + fabric.nodes.map { "--- \($0.name)\n" + fabric.log($0.name).suffix(3000) }.joined(separator: "\n"))
        }
    } catch {
        fabric.tearDown()
        throw error
    }
    return fabric
}
