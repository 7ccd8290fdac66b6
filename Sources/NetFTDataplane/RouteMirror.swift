import CNetFTShims
import Glibc
import NetFTCore

/// The daemon's route table mirrored into a pinned BPF hash map with BTF, so
/// `bpftool map dump pinned <pin root>/routes` shows every route's
/// addresses, state and RTT by field name.
public final class RouteMirror {
    private let object: XDPClassifier
    public let path: String

    public init(pinRoot: String) throws(SystemError) {
        object = try XDPClassifier()
        try BPFFS.makeDirectory(pinRoot)
        path = "\(pinRoot)/routes"
        try object.pinMap("routes", at: path)
    }

    deinit {
        _ = netft_bpf_unpin(path)
        let root = String(path.dropLast("/routes".count))
        rmdir(root)
        rmdir(XDPClassifier.defaultPinRoot)
    }

    public struct Entry: Sendable {
        public var route: Route
        public var state: HeartbeatMonitor.State
        public var active: Bool
        public var rttNanoseconds: UInt64
        public var loss: Double
        public var reason: String
        public init(route: Route, state: HeartbeatMonitor.State, active: Bool, rttNanoseconds: UInt64, loss: Double, reason: String) {
            self.route = route
            self.state = state
            self.active = active
            self.rttNanoseconds = rttNanoseconds
            self.loss = loss
            self.reason = reason
        }
    }

    public func update(_ e: Entry) {
        var info = netft_route_info()
        info.id = e.route.id
        info.peer_id = e.route.peer
        Self.copy(e.route.peerName, to: &info.peer)
        Self.copy(e.route.network, to: &info.network)
        Self.copy(e.route.localInterface, to: &info.interface)
        Self.copy("\(e.route.realLocal.address)", to: &info.local)
        Self.copy("\(e.route.realRemote.address)", to: &info.remote)
        info.state = switch e.state {
        case .initializing: NETFT_ROUTE_INITIALIZING
        case .up: NETFT_ROUTE_UP
        case .down: NETFT_ROUTE_DOWN
        }
        info.active = e.active ? 1 : 0
        info.rtt_ns = e.rttNanoseconds
        info.loss_ppm = UInt32(e.loss * 1_000_000)
        info.priority = UInt32(clamping: e.route.priority)
        Self.copy(e.reason, to: &info.reason)
        _ = netft_routes_update(object.routesFD, &info)
    }

    public func remove(_ id: RouteID) { _ = netft_routes_delete(object.routesFD, id) }

    static func copy<T>(_ text: String, to field: inout T) {
        withUnsafeMutableBytes(of: &field) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            for (i, byte) in text.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
    }
}
