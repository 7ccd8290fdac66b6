import CNetFTShims
import Glibc
import NetFTCore
import NetFTDataplane
import Synchronization

/// A dataplane made of memory: frames go through a `MemoryNetwork` to the
/// port that owns their destination address, and arrive in its queue; an
/// eventfd tells the datapath's poll. It behaves as the socket dataplane
/// does (the kernel resolves next hops), so a node's datapath runs over it
/// unchanged, without root or devices.
public final class MemoryDataplane: Dataplane, @unchecked Sendable {  // the queue is locked; the rest is the datapath thread's
    public let kind = DataplaneKind.udp
    public private(set) var links: [DataplaneLink]
    public let largestFrame = 1472
    public var descriptors: [Int32] { [signal] }
    let port: UInt16
    let fabric: MemoryNetwork
    private let signal: Int32
    private let queue = Mutex<[(frame: [UInt8], link: Int, from: Endpoint)]>([])
    private var taken: [(frame: [UInt8], link: Int, from: Endpoint)] = []
    private var pending: [(frame: [UInt8], from: Endpoint, to: Endpoint)] = []
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)

    /// Names a host's interfaces as a memory dataplane does: mem0, mem1, ..., one per address.
    public static func hostLinks(_ addresses: [IPAddress]) -> [DataplaneLink] {
        addresses.enumerated().map { DataplaneLink(name: "mem\($0.offset)", index: Int32($0.offset + 1), address: $0.element) }
    }

    /// A dataplane on `links` (see `hostLinks`), attached to `fabric`.
    public init(links: [DataplaneLink], port: UInt16 = 3343, fabric: MemoryNetwork) throws(SystemError) {
        self.links = links
        self.port = port
        self.fabric = fabric
        signal = netft_eventfd()
        guard signal >= 0 else { throw SystemError("create an eventfd for a memory port", returned: signal) }
        for (i, link) in links.enumerated() { fabric.attach(self, link: i, address: link.address) }
    }

    deinit {
        close(signal)
        buffer.deallocate()
    }

    public func addLink(_ link: DataplaneLink) throws {
        links.append(link)
        fabric.attach(self, link: links.count - 1, address: link.address)
    }

    func enqueue(_ frame: [UInt8], link: Int, from: Endpoint) {
        queue.withLock { $0.append((frame, link, from)) }
        var one: UInt64 = 1
        _ = write(signal, &one, 8)
    }

    public func receive(limit: Int, _ body: (UnsafeMutableRawBufferPointer, Int, FramePath) -> ReceiveAction) -> Int {
        if taken.isEmpty {
            var count: UInt64 = 0
            _ = read(signal, &count, 8)
            queue.withLock { swap(&$0, &taken) }
            taken.reverse()  // oldest last: popped first
        }
        var handled = 0
        while handled < limit, let (frame, link, from) = taken.popLast() {
            handled += 1
            buffer.copyBytes(from: frame)
            let local = links[link].address
            if case .reply(let length) = body(buffer, frame.count, FramePath(local: local, remote: from)) {
                fabric.carry(Array(buffer[0..<length]), from: Endpoint(local, port: port), to: from)
            }
        }
        // Frames left for the next pass keep the descriptor readable.
        if !taken.isEmpty {
            var one: UInt64 = 1
            _ = write(signal, &one, 8)
        }
        return handled
    }

    @discardableResult
    public func send(_ body: (UnsafeMutableRawBufferPointer) -> Outbound?) -> Bool {
        guard let out = body(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<largestFrame])) else { return true }
        pending.append((Array(buffer[0..<out.length]), Endpoint(links[out.link].address, port: port), out.remote))
        return true
    }

    public func flush() {
        for p in pending { fabric.carry(p.frame, from: p.from, to: p.to) }
        pending.removeAll(keepingCapacity: true)
    }
}
