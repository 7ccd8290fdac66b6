import NetFTCore

/// The node's side of its virtual adapter, as the datapath uses it: a
/// descriptor to poll, and packets each led by a virtio-net header. The TUN
/// device (`VirtualAdapter`) is the real one; a test gives the datapath one
/// made of a socket pair, so a node runs without root or devices.
public protocol PacketAdapter: AnyObject {
    var name: String { get }
    var fileDescriptor: Int32 { get }
    var mtu: UInt32 { get }
    /// The offloads the adapter takes, in words (status and the start line).
    var offloads: [String] { get }
    /// Reads one header and packet into `buffer` (`largestAdapterRead` bytes); 0 when none waits.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int
    /// Writes one packet led by `header`; false if refused.
    @discardableResult
    func write(_ header: VirtioNetHeader, _ packet: UnsafeRawBufferPointer) -> Bool
}

/// The largest adapter read: a virtio-net header and a 64 KB super-packet.
public let largestAdapterRead = VirtioNetHeader.size + 65535
