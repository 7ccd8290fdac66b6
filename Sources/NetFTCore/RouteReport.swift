/// The payload of every heartbeat: what the sender knows of each route it has
/// to the receiver. Sent on every route, it tells the receiver over a working
/// route what happens on a broken one: whether the peer hears us there and
/// whether its link is up. That is how both sides tell one-way loss and a
/// blocked port from a dead link.
///
/// Layout: count (1 byte), 3 reserved zero bytes, then `count` entries of 16
/// bytes: route id (4), link state (1: 0 unknown, 1 up, 2 down), hearing (1:
/// 0/1), reserved (2), cumulative sequence received from the receiver on that
/// route (8). All big-endian.
public struct RouteReport: Equatable, Sendable {
    public enum LinkState: UInt8, Sendable { case unknown = 0, up = 1, down = 2 }

    public struct Entry: Equatable, Sendable {
        public var route: RouteID
        public var link: LinkState
        public var hearing: Bool
        public var received: UInt64
        public init(route: RouteID, link: LinkState, hearing: Bool, received: UInt64) {
            self.route = route
            self.link = link
            self.hearing = hearing
            self.received = received
        }
    }

    public static let maxEntries = 16
    public static let entrySize = 16
    public static let headerSize = 4
    public static func size(entries: Int) -> Int { headerSize + entries * entrySize }

    /// Writes `count` entries produced by `entry(i)` into `buffer`; returns bytes written.
    public static func write(
        count: Int, into buffer: UnsafeMutableRawBufferPointer, entry: (Int) -> Entry
    ) throws(FrameError) -> Int {
        let n = min(count, maxEntries)
        guard buffer.count >= size(entries: n) else { throw .bufferTooSmall }
        buffer[0] = UInt8(n)
        buffer[1] = 0
        buffer[2] = 0
        buffer[3] = 0
        for i in 0..<n {
            let e = entry(i)
            let at = headerSize + i * entrySize
            buffer.storeBE32(e.route, at: at)
            buffer[at + 4] = e.link.rawValue
            buffer[at + 5] = e.hearing ? 1 : 0
            buffer.storeBE16(0, at: at + 6)
            buffer.storeBE64(e.received, at: at + 8)
        }
        return size(entries: n)
    }

    /// The number of entries of a report payload; throws on any malformation,
    /// so `entry(_:at:)` then reads each without another check.
    public static func validate(_ payload: UnsafeRawBufferPointer) throws(FrameError) -> Int {
        guard payload.count >= headerSize else { throw .malformedPayload }
        let n = Int(payload[0])
        guard n <= maxEntries, payload[1] == 0, payload[2] == 0, payload[3] == 0,
            payload.count == size(entries: n)
        else { throw .malformedPayload }
        for i in 0..<n {
            let at = headerSize + i * entrySize
            guard LinkState(rawValue: payload[at + 4]) != nil, payload[at + 5] <= 1, payload.loadBE16(at + 6) == 0 else {
                throw .malformedPayload
            }
        }
        return n
    }

    /// Entry `i` of a payload `validate` accepted.
    @inline(__always)
    public static func entry(_ payload: UnsafeRawBufferPointer, at i: Int) -> Entry {
        let at = headerSize + i * entrySize
        return Entry(
            route: payload.loadBE32(at), link: LinkState(rawValue: payload[at + 4]) ?? .down,
            hearing: payload[at + 5] == 1, received: payload.loadBE64(at + 8))
    }

    /// Visits each entry of a report payload; throws on any malformation
    /// before visiting anything.
    public static func read(_ payload: UnsafeRawBufferPointer, _ visit: (Entry) -> Void) throws(FrameError) {
        let n = try validate(payload)
        for i in 0..<n { visit(entry(payload, at: i)) }
    }
}

/// The hello payload: sent at join so peers learn the sender's name and real
/// addresses. Layout: name length (1, at most 64), UTF-8 name, address count
/// (1, at most 16), then per address: family (1: 4 or 6), prefix length (1),
/// address (16, IPv4 as ::ffff:a.b.c.d).
public struct Hello: Equatable, Sendable {
    public struct Address: Equatable, Sendable {
        public var address: IPAddress
        public var prefixLength: UInt8
        public init(_ address: IPAddress, prefixLength: UInt8) {
            self.address = address
            self.prefixLength = prefixLength
        }
    }

    public var nodeName: String
    public var addresses: [Address]

    public init(nodeName: String, addresses: [Address]) {
        self.nodeName = nodeName
        self.addresses = addresses
    }

    public static let maxNameBytes = 64
    public static let maxAddresses = 16

    public func encode() throws(FrameError) -> [UInt8] {
        let name = Array(nodeName.utf8)
        guard name.count <= Hello.maxNameBytes, addresses.count <= Hello.maxAddresses else { throw .malformedPayload }
        var out: [UInt8] = [UInt8(name.count)] + name + [UInt8(addresses.count)]
        for a in addresses {
            out.append(a.address.isIPv4 ? 4 : 6)
            out.append(a.prefixLength)
            out += a.address.bytes16
        }
        return out
    }

    public init(decoding payload: UnsafeRawBufferPointer) throws(FrameError) {
        guard payload.count >= 2 else { throw .malformedPayload }
        let nameLength = Int(payload[0])
        guard nameLength <= Hello.maxNameBytes, payload.count >= 2 + nameLength else { throw .malformedPayload }
        guard let name = String(validating: payload[1..<(1 + nameLength)], as: UTF8.self) else { throw .malformedPayload }
        let count = Int(payload[1 + nameLength])
        var at = 2 + nameLength
        guard count <= Hello.maxAddresses, payload.count == at + count * 18 else { throw .malformedPayload }
        var addresses: [Address] = []
        for _ in 0..<count {
            let family = payload[at]
            let prefix = payload[at + 1]
            let address = IPAddress(bytes16: payload[(at + 2)..<(at + 18)])
            guard (family == 4 && address.isIPv4 && prefix <= 32) || (family == 6 && !address.isIPv4 && prefix <= 128) else {
                throw .malformedPayload
            }
            addresses.append(Address(address, prefixLength: prefix))
            at += 18
        }
        self.init(nodeName: name, addresses: addresses)
    }
}
