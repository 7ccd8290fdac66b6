import CNetFTShims
import NetFTCore
import Foundation
import Glibc

/// The XDP verdicts netft's programs return.
public enum XDPVerdict: UInt32, Sendable, CustomStringConvertible {
    case aborted = 0, drop = 1, pass = 2, tx = 3, redirect = 4
    public var description: String {
        switch self {
        case .aborted: "XDP_ABORTED"
        case .drop: "XDP_DROP"
        case .pass: "XDP_PASS"
        case .tx: "XDP_TX"
        case .redirect: "XDP_REDIRECT"
        }
    }
}

/// How an XDP program is attached: native (driver) mode is the fast path;
/// generic (skb) mode works everywhere but is slower.
public enum XDPMode: String, Sendable {
    case native, generic
    var flags: UInt32 {
        switch self {
        case .native: UInt32(XDP_FLAGS_DRV_MODE)
        case .generic: UInt32(XDP_FLAGS_SKB_MODE)
        }
    }
}

/// The netft classifier loaded into the kernel from the object embedded in
/// this binary. One instance per NIC when attached; unattached instances serve
/// BPF_PROG_TEST_RUN.
public final class XDPClassifier {
    public static let programName = "netft_classify"
    public static let passProgramName = "netft_pass"

    private let object: OpaquePointer
    public let programFD: Int32
    public let statsFD: Int32
    public let configFD: Int32
    public let socketsFD: Int32
    public let peersFD: Int32
    /// The sources the peer map admits (`admitOnly`).
    public private(set) var admitted = Set<IPAddress>()
    let routesFD: Int32
    let port: UInt16
    public private(set) var attachment: (ifindex: Int32, ifname: String, mode: XDPMode)?
    /// The BPF link holding the attachment: closing it (or dying) detaches.
    private var linkFD: Int32 = -1
    public private(set) var pinDirectory: String?

    /// The compiled object as the build embedded it.
    public static var objectBytes: [UInt8] {
        guard let data = Data(base64Encoded: EmbeddedBPFObject.base64) else {
            preconditionFailure("embedded BPF object is not valid base64")
        }
        return [UInt8](data)
    }

    public init(port: UInt16 = UInt16(NETFT_DEFAULT_PORT)) throws(SystemError) {
        let bytes = XDPClassifier.objectBytes
        var handle: OpaquePointer?
        let result = bytes.withUnsafeBytes { netft_bpf_open_load($0.baseAddress, $0.count, "netft", &handle) }
        try check("load BPF object netft.bpf.o into the kernel", result) {
            String(cString: netft_bpf_last_message())
        }
        object = handle!
        programFD = netft_bpf_prog_fd(object, XDPClassifier.programName)
        statsFD = netft_bpf_map_fd(object, "stats")
        configFD = netft_bpf_map_fd(object, "config")
        socketsFD = netft_bpf_map_fd(object, "xsks")
        routesFD = netft_bpf_map_fd(object, "routes")
        peersFD = netft_bpf_map_fd(object, "peers")
        self.port = port
        var config = netft_config()
        config.port = port
        try check("write classifier config", netft_config_write(configFD, &config))
    }

    /// From now on only netft frames from `sources` pass (the rest are
    /// dropped and counted `drop_unknown_source`), and each source's control
    /// frames at most `controlBudget` a second (`drop_over_budget`).
    public func admitOnly(_ sources: [(address: IPAddress, node: NodeID)], controlBudget: UInt32 = UInt32(NETFT_CONTROL_BUDGET)) throws(SystemError) {
        func key(_ address: IPAddress) -> netft_peer_key {
            var key = netft_peer_key()
            withUnsafeMutableBytes(of: &key.address) { $0.copyBytes(from: address.bytes16) }
            return key
        }
        // A reload admits anew: sources no route comes from any more leave the map.
        let wanted = Set(sources.map(\.address))
        for address in admitted.subtracting(wanted) {
            var k = key(address)
            try check("remove \(address) from the classifier's peer map", netft_peers_forget(peersFD, &k))
        }
        for (address, node) in sources {
            var k = key(address)
            try check("admit \(address) into the classifier's peer map", netft_peers_admit(peersFD, &k, node))
        }
        admitted = wanted
        var config = netft_config()
        config.port = port
        config.peer_filter = 1
        config.control_budget = controlBudget
        try check("turn the classifier's peer filter on", netft_config_write(configFD, &config))
    }

    deinit {
        try? detach()
        netft_bpf_close(object)
    }

    /// The descriptor of a program in the object (`programName`, `passProgramName`).
    public func programFD(named name: String) -> Int32 { netft_bpf_prog_fd(object, name) }

    public func stats() throws(SystemError) -> ClassifierStats {
        var raw = netft_stats()
        try check("read classifier stats", netft_stats_read(statsFD, &raw))
        return ClassifierStats(raw)
    }

    /// Runs the program over one frame (BPF_PROG_TEST_RUN); no network involved.
    public func testRun(_ frame: [UInt8]) throws(SystemError) -> XDPVerdict {
        var retval: UInt32 = 0
        var out = [UInt8](repeating: 0, count: max(frame.count, 64) + 256)
        var outLen = UInt32(out.count)
        let result = frame.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                netft_bpf_test_run(programFD, input.baseAddress, UInt32(input.count), output.baseAddress, &outLen, &retval)
            }
        }
        try check("BPF_PROG_TEST_RUN of \(XDPClassifier.programName) on a \(frame.count)-byte frame", result)
        guard let verdict = XDPVerdict(rawValue: retval) else {
            throw SystemError("BPF_PROG_TEST_RUN returned unknown verdict \(retval)", errno: EINVAL)
        }
        return verdict
    }

    /// Attaches to a NIC (in the calling thread's network namespace) and pins
    /// the program and maps under `pinRoot/<ifname>/` for bpftool.
    ///
    /// The attachment is a BPF link: the kernel refuses it while any other
    /// program is on the NIC (netft never replaces one; the error names it),
    /// and it goes away with this process, even after SIGKILL.
    public func attach(interface ifname: String, mode: XDPMode = .native, pinRoot: String = XDPClassifier.defaultPinRoot) throws(SystemError) {
        let ifindex = Int32(if_nametoindex(ifname))
        guard ifindex > 0 else { throw SystemError("find interface \(ifname)", errno: ENODEV) }
        let fd = netft_xdp_attach_link(ifindex, programFD, mode.flags)
        if fd == -EBUSY || fd == -EEXIST, let occupant = XDPClassifier.occupant(ifindex: ifindex) {
            throw SystemError("attach XDP (\(mode.rawValue)) to \(ifname): it already has \(occupant), which netft leaves in place", errno: EBUSY)
        }
        try check("attach XDP (\(mode.rawValue)) to \(ifname)", fd)
        linkFD = fd
        attachment = (ifindex, ifname, mode)
        let directory = "\(pinRoot)/\(ifname)"
        do {
            try BPFFS.makeDirectory(directory)
            try check("pin program at \(directory)/prog", netft_bpf_pin_prog(object, XDPClassifier.programName, "\(directory)/prog"))
            for map in ["stats", "config", "xsks", "peers"] {
                try check("pin map at \(directory)/\(map)", netft_bpf_pin_map(object, map, "\(directory)/\(map)"))
            }
            pinDirectory = directory
        } catch {
            pinDirectory = directory
            try? detach()
            throw error
        }
    }

    /// The program on a NIC now, described for an operator ("XDP program
    /// 'xdp_foo' (id 42, native)"), or nil when there is none.
    public static func occupant(ifindex: Int32) -> String? {
        var id: UInt32 = 0
        var mode: UInt8 = 0
        var name = [CChar](repeating: 0, count: Int(BPF_OBJ_NAME_LEN) + 1)
        guard netft_xdp_query_attached(ifindex, &id, &mode, &name) == 0, id != 0 else { return nil }
        let modes: [UInt8: String] = [1: "native", 2: "generic", 3: "offloaded", 4: "several modes"]
        let label = String(cString: name)
        return "XDP program '\(label.isEmpty ? "?" : label)' (id \(id), \(modes[mode] ?? "mode \(mode)"))"
    }

    /// Detaches from the NIC and removes the pins. Safe to call twice.
    public func detach() throws(SystemError) {
        if let directory = pinDirectory {
            for name in ["prog", "stats", "config", "xsks", "peers"] { _ = netft_bpf_unpin("\(directory)/\(name)") }
            rmdir(directory)
            // Leave no empty per-node directory behind (fails harmlessly if not empty).
            let parent = String(directory[..<(directory.lastIndex(of: "/") ?? directory.endIndex)])
            if parent.hasPrefix("/sys/fs/bpf/") { rmdir(parent) }
            rmdir(XDPClassifier.defaultPinRoot)
            pinDirectory = nil
        }
        attachment = nil
        guard linkFD >= 0 else { return }
        close(linkFD)
        linkFD = -1
    }

    func pinMap(_ name: String, at path: String) throws(SystemError) {
        try check("pin map \(name) at \(path)", netft_bpf_pin_map(object, name, path))
    }

    /// Makes frames of `queue` go to this AF_XDP socket.
    public func register(socketFD: Int32, queue: UInt32) throws(SystemError) {
        try check("add AF_XDP socket to XSKMAP for queue \(queue)", netft_xskmap_set(socketsFD, queue, socketFD))
    }

    public func unregister(queue: UInt32) throws(SystemError) {
        try check("remove queue \(queue) from XSKMAP", netft_xskmap_clear(socketsFD, queue))
    }

    public static let defaultPinRoot = "/sys/fs/bpf/netft"
}

/// The BPF filesystem where pins live.
enum BPFFS {
    static func makeDirectory(_ path: String) throws(SystemError) {
        try ensureMounted()
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += "/\(part)"
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw SystemError("create pin directory \(prefix)", errno: errno)
            }
        }
    }

    /// Mounts bpffs at /sys/fs/bpf if nothing is mounted there.
    static func ensureMounted() throws(SystemError) {
        try check("mount bpffs at /sys/fs/bpf", netft_bpffs_ensure("/sys/fs/bpf"))
    }
}
