/// Constants of the netft wire format shared with the XDP classifier
/// (bpf/netft_wire.h); a test checks both sides agree.
public enum Wire {
    /// "NeFT" in network order: the first four bytes after the UDP header.
    public static let magic: UInt32 = 0x4E65_4654
    public static let version: UInt8 = 1
    public static let defaultPort: UInt16 = 3343
}
