/// The receive side of one route's sequence space: an RFC 6479 sliding bitmap
/// of 2048 sequences that accepts each sequence at most once, plus the
/// cumulative acknowledgement (every sequence up to it was received, or fell
/// out of the window and was given up). Fixed size, no heap.
public struct ReplayWindow: Sendable {
    public enum Verdict: Equatable, Sendable {
        case accepted, duplicate, tooOld
    }

    static let blockBits = 64
    static let blocks = 32
    /// Sequences the window remembers behind the highest (RFC 6479: one block
    /// is kept as slack so the window slides a block at a time).
    public static let size = (blocks - 1) * blockBits

    private var bitmap = InlineArray<32, UInt64>(repeating: 0)
    /// Highest sequence accepted; 0 before the first (sequences start at 1).
    public private(set) var highest: UInt64 = 0
    /// Every sequence in 1...cumulative was received or given up.
    public private(set) var cumulative: UInt64 = 0

    public init() {}

    /// Checks and records `sequence`. Call only for authenticated frames.
    @inline(__always)
    public mutating func accept(_ sequence: UInt64) -> Verdict {
        guard sequence != 0 else { return .tooOld }
        if sequence > highest {
            let oldBlock = highest / UInt64(Self.blockBits)
            let newBlock = sequence / UInt64(Self.blockBits)
            let clear = min(newBlock - oldBlock, UInt64(Self.blocks))
            var b = oldBlock
            for _ in 0..<clear {
                b &+= 1
                bitmap[Int(b % UInt64(Self.blocks))] = 0
            }
            highest = sequence
        } else if highest - sequence >= UInt64(Self.size) {
            return .tooOld
        }
        let block = Int((sequence / UInt64(Self.blockBits)) % UInt64(Self.blocks))
        let bit = UInt64(1) << (sequence % UInt64(Self.blockBits))
        if bitmap[block] & bit != 0 { return .duplicate }
        bitmap[block] |= bit
        advanceCumulative()
        return .accepted
    }

    @inline(__always)
    private func contains(_ sequence: UInt64) -> Bool {
        guard sequence != 0, sequence <= highest, highest - sequence < UInt64(Self.size) else { return false }
        let block = Int((sequence / UInt64(Self.blockBits)) % UInt64(Self.blocks))
        return bitmap[block] & (UInt64(1) << (sequence % UInt64(Self.blockBits))) != 0
    }

    @inline(__always)
    private mutating func advanceCumulative() {
        // Gaps that slide out of the window are given up, not waited for forever.
        if highest > UInt64(Self.size), cumulative < highest - UInt64(Self.size) {
            cumulative = highest - UInt64(Self.size)
        }
        while cumulative < highest && contains(cumulative + 1) { cumulative += 1 }
    }
}
