/// The blocks of a pcapng file (draft-ietf-opsawg-pcapng): a section header,
/// one interface description per captured interface, one enhanced packet per
/// frame. pcapng rather than pcap because a node captures several NICs (and
/// its adapter, of another link type) into one file, each frame tagged with
/// the interface it was seen on. Pure: bytes in, bytes out.
public enum PcapngEncoder {
    /// Link types a netft capture records (LINKTYPE_* values).
    public enum LinkType {
        public static let ethernet: UInt16 = 1
        public static let rawIP: UInt16 = 101
    }

    private enum BlockType {
        static let sectionHeader: UInt32 = 0x0A0D_0D0A
        static let interfaceDescription: UInt32 = 1
        static let enhancedPacket: UInt32 = 6
    }

    private enum Option {
        static let end: UInt16 = 0, comment: UInt16 = 1
        static let shbUserApplication: UInt16 = 4, ifName: UInt16 = 2, ifDescription: UInt16 = 3
    }

    /// The section header: byte order, version 1.0, unknown section length, the writing application.
    public static func sectionHeader(application: String) -> [UInt8] {
        var body: [UInt8] = []
        body.append(le: UInt32(0x1A2B_3C4D))
        body.append(le: UInt16(1))
        body.append(le: UInt16(0))
        body.append(le: UInt64.max)  // section length: not known in advance
        body.append(option: Option.shbUserApplication, Array(application.utf8))
        body.append(le: Option.end)
        body.append(le: UInt16(0))
        return block(BlockType.sectionHeader, body)
    }

    /// Describes interface number N (in the order written): its link type, name and a description.
    public static func interfaceDescription(linkType: UInt16, name: String, description: String?, snapshotLength: UInt32 = 65535) -> [UInt8] {
        var body: [UInt8] = []
        body.append(le: linkType)
        body.append(le: UInt16(0))
        body.append(le: snapshotLength)
        body.append(option: Option.ifName, Array(name.utf8))
        if let description { body.append(option: Option.ifDescription, Array(description.utf8)) }
        body.append(le: Option.end)
        body.append(le: UInt16(0))
        return block(BlockType.interfaceDescription, body)
    }

    /// One frame seen on interface `interface` at `microsecondsSince1970` (the default resolution).
    public static func enhancedPacket(interface: UInt32, microsecondsSince1970: UInt64, bytes: [UInt8], wireLength: UInt32? = nil) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(20 + bytes.count + 3)
        body.append(le: interface)
        body.append(le: UInt32(truncatingIfNeeded: microsecondsSince1970 >> 32))
        body.append(le: UInt32(truncatingIfNeeded: microsecondsSince1970))
        body.append(le: UInt32(bytes.count))
        body.append(le: wireLength ?? UInt32(bytes.count))
        body.append(contentsOf: bytes)
        body.padToWord()
        return block(BlockType.enhancedPacket, body)
    }

    /// Type, total length, body, total length again (so readers can walk backwards).
    private static func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
        let total = UInt32(12 + body.count)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(total))
        bytes.append(le: type)
        bytes.append(le: total)
        bytes.append(contentsOf: body)
        bytes.append(le: total)
        return bytes
    }
}

extension [UInt8] {
    fileprivate mutating func append<T: FixedWidthInteger>(le value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    fileprivate mutating func append(option code: UInt16, _ value: [UInt8]) {
        append(le: code)
        append(le: UInt16(value.count))
        append(contentsOf: value)
        padToWord()
    }

    fileprivate mutating func padToWord() {
        while count % 4 != 0 { append(0) }
    }
}
