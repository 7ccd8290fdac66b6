import ArgumentParser
import Foundation
import NetFTCore
import NetFTDaemon
import NetFTDataplane

extension DataplaneKind: ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the netft daemon for this node.",
        discussion: """
            Reads the cluster configuration (see dist/netft.yaml), finds this node's
            interfaces, creates the virtual adapter, builds a route to every peer over
            every shared cluster network, and keeps them alive with heartbeats. Runs
            until SIGTERM or SIGINT, then removes the adapter and detaches XDP.

            Exit status: 0 after a clean stop, 2 for a configuration refused (file,
            line and reason are printed), 1 for anything else (not root, a runtime
            failure: the reason is printed).
            """
    )

    @Option(name: .shortAndLong, help: "The cluster configuration (YAML).") var config: String
    @Option(help: "This node's name in the configuration (default: the node owning one of this host's addresses).") var node: String?
    @Option(help: "Dataplane: xdp (AF_XDP fast path) or udp (kernel sockets). Default: xdp, falling back to udp with a logged reason.")
    var dataplane: DataplaneKind?
    @Option(help: "Name of the virtual adapter.") var adapter = "netft0"
    @Option(help: "Control socket path (netft status/routes/nodes talk to it).") var control = "/run/netft/netft.sock"
    @Option(help: "bpffs directory for the XDP pins.") var pinRoot = XDPClassifier.defaultPinRoot
    @Option(help: "Log format: cluster (cluster-log lines) or json.") var logFormat = LogFormat.cluster
    @Option(help: "Serve Prometheus metrics at IPv4:PORT, e.g. 127.0.0.1:9343.") var metrics: String?
    @Option(help: "Stop (cleanly) when the process with this pid exits: for supervisors and the lab, so a killed parent leaves no node behind.")
    var stopWithPid: Int32?
    @Option(help: "Frames in the AF_XDP UMEM, 2 KiB each (at least 16). When they run out, reading the adapter waits and heartbeats take the kernel socket.")
    var umemFrames = 8192
    @Option(help: "Milliseconds the datapath may go without a pass before the watchdog logs a stall (at least 250: an idle loop wakes every 200 ms).")
    var watchdogMs: UInt64 = 1000

    func validate() throws {
        guard umemFrames >= 16 else { throw ValidationError("--umem-frames must be at least 16") }
        guard watchdogMs >= 250 else { throw ValidationError("--watchdog-ms must be at least 250") }
    }

    func run() throws {
        // Said first, in a sentence: without these every later step fails with EPERM.
        guard geteuid() == 0 else {
            FileHandle.standardError.write(Data("netft: netft run needs root: it creates a TUN device, loads XDP (CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN for bpffs pins) and binds AF_XDP sockets (CAP_NET_RAW)\n".utf8))
            throw ExitCode(1)
        }
        let cluster: ClusterConfig
        do {
            cluster = try ConfigLoader.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("netft: configuration refused: \(error)\n".utf8))
            throw ExitCode(2)
        }
        var key: ClusterKey?
        var keyForm: KeyFile.Form?
        if cluster.security != .none, let path = cluster.keyFile {
            do {
                let loaded = try KeyFile.load(path: path, cluster: cluster.cluster)
                (key, keyForm) = (loaded.key, loaded.form)
            } catch {
                FileHandle.standardError.write(Data("netft: configuration refused: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        var options = NodeRuntime.Options()
        options.dataplane = dataplane
        options.adapterName = adapter
        options.controlPath = control
        options.pinRoot = pinRoot
        options.logFormat = logFormat
        options.configPath = config
        options.keyForm = keyForm
        options.metrics = metrics
        options.stopWithPID = stopWithPid
        options.umemFrames = umemFrames
        options.watchdogMilliseconds = watchdogMs
        do {
            let runtime = try NodeRuntime(config: cluster, node: node, key: key, options: options)
            runtime.run()
        } catch {
            LogSink.shared.flush()
            FileHandle.standardError.write(Data("netft: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
