import NetFTCore

/// Copies of the data packets sent to one peer, by stream sequence (slot =
/// sequence % capacity), kept until the peer acknowledges them so that after
/// a failover they can be resent on the new route (lossless failover).
///
/// Allocated once: `capacity` x 2 KiB per peer (4096 packets, 8 MiB, by
/// default). Past the bound the oldest copy is overwritten even if the peer
/// has not acknowledged it; that packet cannot be resent and is counted.
final class RetentionRing {
    static let slotSize = 2048
    let capacity: Int
    private let storage: UnsafeMutableRawBufferPointer
    private let sequences: UnsafeMutablePointer<UInt64>
    private let lengths: UnsafeMutablePointer<Int>
    /// Unacknowledged copies overwritten for want of room.
    private(set) var evicted: UInt64 = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity * RetentionRing.slotSize, alignment: 64)
        sequences = .allocate(capacity: capacity)
        sequences.initialize(repeating: 0, count: capacity)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0, count: capacity)
    }

    deinit {
        storage.deallocate()
        sequences.deallocate()
        lengths.deallocate()
    }

    /// Keeps a copy of `packet` (before it is sealed: encryption works in
    /// place) as stream sequence `sequence`; `acknowledged` tells whether the
    /// copy it replaces was still needed.
    @inline(__always)
    func keep(_ packet: UnsafeRawBufferPointer, sequence: UInt64, acknowledged: UInt64) {
        let slot = Int(sequence % UInt64(capacity))
        if sequences[slot] > acknowledged && sequences[slot] < sequence { evicted &+= 1 }
        let length = min(packet.count, RetentionRing.slotSize)
        UnsafeMutableRawBufferPointer(rebasing: storage[(slot * RetentionRing.slotSize)...]).copyMemory(from: UnsafeRawBufferPointer(rebasing: packet[0..<length]))
        sequences[slot] = sequence
        lengths[slot] = length
    }

    /// The copy of stream sequence `sequence`, if it is still here.
    func packet(_ sequence: UInt64) -> UnsafeRawBufferPointer? {
        let slot = Int(sequence % UInt64(capacity))
        guard sequences[slot] == sequence else { return nil }
        return UnsafeRawBufferPointer(rebasing: storage[(slot * RetentionRing.slotSize)..<(slot * RetentionRing.slotSize + lengths[slot])])
    }

    var bytes: Int { capacity * RetentionRing.slotSize }
}
