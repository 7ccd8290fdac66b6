import Foundation
import Glibc
import NetFTCore
import NetFTDataplane
import NetFTFabric
import NetFTLab
import NetFTTestSupport
import Synchronization

/// The netft binary built beside this test bundle.
let netftBinary: String = {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for candidate in [here, here.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("netft").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return here.appendingPathComponent("netft").path
}()

/// Kernel tests fail, naming what is missing; they never skip.
func requireKernelLab() throws {
    try Missing.requireRoot(for: "integration tests (namespaces, XDP, TUN)")
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
    try ClusterFabric.up(spec, binary: netftBinary, tag: tag)
}

/// What one netft command did.
struct NetFTResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the netft binary with `arguments`: inside `namespace` (nsenter) if
/// given, as `user` (setpriv, from a copy any user can execute) if given.
func runNetft(_ arguments: [String], as user: UInt32? = nil, namespace: String? = nil) throws -> NetFTResult {
    var binary = netftBinary
    var copy: String?
    if user != nil {
        // The build tree may sit under a private home.
        let dir = "/tmp/netft-asuser-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        copy = "\(dir)/netft"
        try FileManager.default.copyItem(atPath: netftBinary, toPath: copy!)
        chmod(copy!, 0o755)
        binary = copy!
    }
    defer { if let copy { try? FileManager.default.removeItem(atPath: (copy as NSString).deletingLastPathComponent) } }
    var command = [binary] + arguments
    if let user { command = ["/usr/bin/setpriv", "--reuid=\(user)", "--regid=\(user)", "--clear-groups"] + command }
    if let namespace { command = ["/usr/bin/nsenter", "--net=\(NetworkNamespace.path(namespace))"] + command }
    return try runProgram(command)
}

/// Runs a program (absolute path) to its end, both outputs kept.
func runProgram(_ command: [String]) throws -> NetFTResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Both pipes drained at once, so neither can fill and stall the child.
    let stdoutBox = Mutex(Data())
    let reading = DispatchGroup()
    DispatchQueue.global().async(group: reading) { stdoutBox.withLock { $0 = out.fileHandleForReading.readDataToEndOfFile() } }
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    reading.wait()
    process.waitUntilExit()
    let stdout = stdoutBox.withLock { $0 }
    return NetFTResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
}

/// Lets the host namespace `ns` send from another machine's `address` (a
/// spoofer, or a relay) without ever answering for it: it ignores ARP
/// requests (arp_ignore 8) and asks from its own address (arp_announce 2), so
/// no neighbour table learns the impostor's MAC for the real owner's address.
func impersonate(_ address: IPAddress, in ns: String) throws {
    for device in ["all", "eth0"] {
        try Shell.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.conf.\(device).arp_ignore=8", "net.ipv4.conf.\(device).arp_announce=2"])
    }
    try Shell.run(["ip", "-n", ns, "addr", "add", "\(address)/32", "dev", "eth0"])
}
