/// The header a TUN device opened with IFF_VNET_HDR puts before every packet
/// (struct virtio_net_hdr, 10 bytes, in the host's byte order for a legacy
/// device): how the kernel left the checksum, and how a super-packet is to be
/// cut into segments (GSO).
public struct VirtioNetHeader: Equatable, Sendable {
    public static let size = 10
    /// The checksum is partial: sum from `checksumStart` to the end, store at `checksumStart + checksumOffset`.
    public static let needsChecksum: UInt8 = 1
    /// The checksum was verified (or the data is trusted): the kernel need not check it.
    public static let dataValid: UInt8 = 2

    public enum GSO: UInt8, Sendable {
        case none = 0
        case tcpv4 = 1
        case udp = 3
        case tcpv6 = 4
        case udpL4 = 5
    }
    /// Or-ed into the GSO type when the segments carry ECN bits (TSO_ECN).
    public static let gsoECN: UInt8 = 0x80

    public var flags: UInt8 = 0
    public var gsoType: UInt8 = 0
    public var headerLength: UInt16 = 0
    public var gsoSize: UInt16 = 0
    public var checksumStart: UInt16 = 0
    public var checksumOffset: UInt16 = 0

    public init() {}

    public init(
        flags: UInt8, gso: GSO, headerLength: UInt16, gsoSize: UInt16, checksumStart: UInt16, checksumOffset: UInt16
    ) {
        self.flags = flags
        gsoType = gso.rawValue
        self.headerLength = headerLength
        self.gsoSize = gsoSize
        self.checksumStart = checksumStart
        self.checksumOffset = checksumOffset
    }

    /// Reads the header at the start of `bytes` (which must hold `size` bytes).
    @inline(__always)
    public init(_ bytes: UnsafeRawBufferPointer) {
        flags = bytes[0]
        gsoType = bytes[1]
        headerLength = bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        gsoSize = bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        checksumStart = bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self)
        checksumOffset = bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self)
    }

    /// The GSO type without the ECN bit; nil for a type netft does not know.
    public var gso: GSO? { GSO(rawValue: gsoType & ~VirtioNetHeader.gsoECN) }

    @inline(__always)
    public func write(to bytes: UnsafeMutableRawBufferPointer) {
        bytes[0] = flags
        bytes[1] = gsoType
        bytes.storeBytes(of: headerLength, toByteOffset: 2, as: UInt16.self)
        bytes.storeBytes(of: gsoSize, toByteOffset: 4, as: UInt16.self)
        bytes.storeBytes(of: checksumStart, toByteOffset: 6, as: UInt16.self)
        bytes.storeBytes(of: checksumOffset, toByteOffset: 8, as: UInt16.self)
    }
}
