import NetFTCore

/// Copies of recently sent inner packets, kept until the peer acknowledges
/// them, so that after a failover they can be resent on the new route
/// (lossless failover, opt-in: it costs one copy per data packet).
///
/// Fixed size, allocated once. Slots are reused round-robin; a slot names the
/// route and sequence it holds, so a resend of a slot overwritten meanwhile is
/// skipped (and counted) rather than sending the wrong packet.
final class RetentionRing {
    static let slotSize = 2048
    let capacity: Int
    private let storage: UnsafeMutableRawBufferPointer
    private var owners: [(route: RouteID, sequence: UInt64, length: Int)]
    private var next = 0
    private(set) var overwritten: UInt64 = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity * RetentionRing.slotSize, alignment: 64)
        owners = Array(repeating: (0, 0, 0), count: capacity)
    }

    deinit { storage.deallocate() }

    /// Keeps a copy of `packet` (before it is sealed: encryption works in
    /// place); returns the slot. `assign` then names the frame it went out as.
    @inline(__always)
    func keep(_ packet: UnsafeRawBufferPointer) -> UInt64 {
        let slot = next
        next = (next + 1) % capacity
        let length = min(packet.count, RetentionRing.slotSize)
        UnsafeMutableRawBufferPointer(rebasing: storage[(slot * RetentionRing.slotSize)...]).copyMemory(from: UnsafeRawBufferPointer(rebasing: packet[0..<length]))
        owners[slot] = (0, 0, length)
        return UInt64(slot)
    }

    @inline(__always)
    func assign(_ slot: UInt64, route: RouteID, sequence: UInt64) {
        owners[Int(slot)].route = route
        owners[Int(slot)].sequence = sequence
    }

    /// The packet kept for (route, sequence) in `slot`, if still there.
    func packet(slot: UInt64, route: RouteID, sequence: UInt64) -> UnsafeRawBufferPointer? {
        let s = Int(slot)
        guard s < capacity, owners[s].route == route, owners[s].sequence == sequence else {
            overwritten &+= 1
            return nil
        }
        return UnsafeRawBufferPointer(rebasing: storage[(s * RetentionRing.slotSize)..<(s * RetentionRing.slotSize + owners[s].length)])
    }
}
