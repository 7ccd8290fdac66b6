import NetFTCore
import NetFTDataplane
import Synchronization

/// The wires between in-memory dataplanes: a frame sent to an address is
/// queued at the port that owns it, as a switch would, unless a test cut
/// that address (a silent cut: links stay up, frames vanish). It counts
/// what crossed, by frame type, so a test can see the protocol at work.
public final class MemoryNetwork: Sendable {
    struct State {
        var ports: [IPAddress: (port: MemoryDataplane, link: Int)] = [:]
        var cut: Set<IPAddress> = []
        var mutedSenders: Set<IPAddress> = []
        /// Data frames still to lose on their way to an address.
        var dataToLose: [IPAddress: Int] = [:]
        var delivered: [UInt8: Int] = [:]
        var dropped = 0
        var recording = false
        var recorded: [Carried] = []
    }

    /// A frame as it crossed: what a capture on the wire would hold.
    public struct Carried: Sendable {
        public var frame: [UInt8]
        public var from: Endpoint
        public var to: Endpoint
    }

    private let state = Mutex(State())

    public init() {}

    func attach(_ port: MemoryDataplane, link: Int, address: IPAddress) {
        state.withLock { $0.ports[address] = (port, link) }
    }

    /// Frames to or from `address` vanish from now on (both ways), until `restore`.
    public func cut(_ address: IPAddress) { state.withLock { _ = $0.cut.insert(address) } }
    public func restore(_ address: IPAddress) {
        state.withLock {
            $0.cut.remove(address)
            $0.mutedSenders.remove(address)
        }
    }

    /// Frames sent from `address` vanish; frames to it still arrive (one-way loss).
    public func mute(_ address: IPAddress) { state.withLock { _ = $0.mutedSenders.insert(address) } }

    /// The next `count` data frames to `address` vanish (the first of a
    /// failover's resend, when armed at the cut: a burst the new path loses part of).
    public func loseData(_ count: Int, to address: IPAddress) { state.withLock { $0.dataToLose[address] = count } }

    /// Frames delivered so far, of this netft frame type.
    public func delivered(_ type: FrameType) -> Int { state.withLock { $0.delivered[type.rawValue] ?? 0 } }
    /// Frames a cut swallowed so far.
    public var dropped: Int { state.withLock { $0.dropped } }

    /// Keeps a copy of every frame that crosses from now on (`recorded`).
    public func record() { state.withLock { $0.recording = true } }
    public var recorded: [Carried] { state.withLock { $0.recorded } }

    /// A frame from anyone (a replay, a forgery), delivered as if it came by the wire.
    public func inject(_ frame: [UInt8], from source: Endpoint, to destination: Endpoint) { carry(frame, from: source, to: destination) }

    /// A netft frame (the UDP payload) from `source` to `destination`.
    func carry(_ frame: [UInt8], from source: Endpoint, to destination: Endpoint) {
        let target: (port: MemoryDataplane, link: Int)? = state.withLock { s in
            guard !s.cut.contains(source.address), !s.cut.contains(destination.address), !s.mutedSenders.contains(source.address),
                let target = s.ports[destination.address]
            else {
                s.dropped += 1
                return nil
            }
            if frame.count > 5, frame[5] == FrameType.data.rawValue, let left = s.dataToLose[destination.address], left > 0 {
                s.dataToLose[destination.address] = left - 1
                s.dropped += 1
                return nil
            }
            if frame.count > 5 { s.delivered[frame[5], default: 0] += 1 }
            if s.recording { s.recorded.append(Carried(frame: frame, from: source, to: destination)) }
            return target
        }
        target?.port.enqueue(frame, link: target!.link, from: source)
    }
}
