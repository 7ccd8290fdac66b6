import CNetFTShims
import Glibc
import NetFTCore
import NetFTDataplane
import Synchronization

/// What the control plane asks of the datapath thread. The datapath owns the
/// route table and the dataplane; nothing else touches them, so every change
/// and every read from outside arrives as one of these.
enum DatapathCommand: Sendable {
    /// netlink: a local interface became usable or unusable.
    case linkChanged(interface: String, up: Bool)
    /// netlink: the next-hop MACs of the node's links, whole.
    case neighbours([IPAddress: UInt64])
    /// netlink: a link's own MAC changed.
    case sourceMAC(link: Int, mac: UInt64)
    /// SIGHUP or `netft reload`: a configuration already parsed, validated and
    /// planned off the datapath; `reply` gets the outcome.
    case reload(ReloadPlan, reply: (@Sendable (Bool, String) -> Void)?)
    /// SIGHUP with a key file whose key is not the running one: rotate to it.
    case rotateKey(ClusterKey)
    /// The node's status, handed to the callback (called on the datapath thread: keep it short).
    case status(@Sendable (NodeStatus) -> Void)
    /// Every route as the pinned BPF map shows it.
    case routeMirror(@Sendable ([RouteMirror.Entry]) -> Void)
    case stop(reason: String)
}

/// A queue into one thread that polls: posting takes a lock and writes an
/// eventfd; the owner polls the eventfd with its other descriptors, so it
/// takes the lock only when something was posted, never per packet.
final class Mailbox<Message: Sendable>: Sendable {
    /// Readable while messages wait.
    let fd: Int32
    private let queue = Mutex<[Message]>([])

    init() throws(SystemError) {
        fd = netft_eventfd()
        guard fd >= 0 else { throw SystemError("create an eventfd for a mailbox", returned: fd) }
    }

    deinit { close(fd) }

    func post(_ message: Message) {
        queue.withLock { $0.append(message) }
        wake()
    }

    /// Makes the owner's poll return without a message (e.g. to stop).
    func wake() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Moves every waiting message into `messages` (which should be empty;
    /// its capacity is handed back to the queue, so steady use allocates nothing).
    func take(into messages: inout [Message]) {
        var count: UInt64 = 0
        _ = read(fd, &count, 8)
        queue.withLock { swap(&$0, &messages) }
    }
}
