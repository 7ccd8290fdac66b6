import Testing

@testable import NetFTCore

@Suite("Replay window")
struct ReplayWindowTests {
    @Test func acceptsEachSequenceAtMostOnce() {
        var rng = SplitMix64(seed: 42)
        var window = ReplayWindow()
        var accepted = Set<UInt64>()
        var highest: UInt64 = 0
        for _ in 0..<200_000 {
            // Mostly forward, with reordering, duplicates and the odd leap.
            let base = highest
            let seq: UInt64
            switch UInt64.random(in: 0..<100, using: &rng) {
            case 0..<70: seq = base + .random(in: 1...8, using: &rng)
            case 70..<95: seq = base > 3000 ? base - .random(in: 0...3000, using: &rng) : .random(in: 1...max(1, base), using: &rng)
            case 95..<99: seq = base + .random(in: 100...5000, using: &rng)
            default: seq = base + 1
            }
            let verdict = window.accept(seq)
            highest = max(highest, seq)
            if verdict == .accepted {
                #expect(!accepted.contains(seq), "sequence \(seq) accepted twice")
                accepted.insert(seq)
            } else if verdict == .duplicate {
                #expect(accepted.contains(seq), "\(seq) called duplicate but never accepted")
            } else {
                #expect(highest - seq >= UInt64(ReplayWindow.size) || seq == 0)
            }
        }
        #expect(accepted.count > 100_000)
    }

    @Test func windowCoversAtLeast1024AndRefusesOlder() {
        var window = ReplayWindow()
        #expect(window.accept(5000) == .accepted)
        #expect(window.accept(5000 - 1024) == .accepted)
        #expect(window.accept(5000 - UInt64(ReplayWindow.size) + 1) == .accepted)
        #expect(window.accept(5000 - UInt64(ReplayWindow.size)) == .tooOld)
        #expect(window.accept(0) == .tooOld)
        #expect(window.accept(5000) == .duplicate)
        #expect(ReplayWindow.size >= 1024)
    }

    @Test func cumulativeAcknowledgementAdvancesOverFilledGaps() {
        var window = ReplayWindow()
        for s: UInt64 in [1, 2, 4, 5] { _ = window.accept(s) }
        #expect(window.cumulative == 2)
        _ = window.accept(3)
        #expect(window.cumulative == 5)
        // A gap that slides out of the window is given up, not waited for.
        _ = window.accept(7)
        _ = window.accept(10_000)
        #expect(window.cumulative == 10_000 - UInt64(ReplayWindow.size))
    }
}
