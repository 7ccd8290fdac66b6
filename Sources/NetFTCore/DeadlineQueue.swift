/// Routes by the time they next need a tick: a binary min-heap of (time,
/// route index). Entries are never updated in place; an entry whose time is
/// not the route's scheduled time any more is stale and skipped when it
/// surfaces. So rescheduling is one push, and a tick visits only the routes
/// that are due, not every route (a table of 4000 routes was scanned whole
/// on each of its ~4000 ticks a second).
struct DeadlineQueue: Sendable {
    private var heap: [(at: UInt64, route: Int32)] = []

    var isEmpty: Bool { heap.isEmpty }
    var top: (at: UInt64, route: Int32)? { heap.first }

    mutating func removeAll() { heap.removeAll(keepingCapacity: true) }

    mutating func push(_ at: UInt64, _ route: Int) {
        heap.append((at, Int32(route)))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> (at: UInt64, route: Int32)? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        guard !heap.isEmpty else { return first }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && Self.before(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count && Self.before(heap[right], heap[smallest]) { smallest = right }
            guard smallest != parent else { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }

    /// Earlier first; at the same time, the lower route index (the table's order).
    @inline(__always)
    private static func before(_ a: (at: UInt64, route: Int32), _ b: (at: UInt64, route: Int32)) -> Bool {
        a.at < b.at || (a.at == b.at && a.route < b.route)
    }
}
