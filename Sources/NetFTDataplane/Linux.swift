/// Linux's numbers that `import Glibc` leaves out, named once (the kernel's
/// uapi headers give each; swift-system's Constants file is the pattern).
public enum Linux {
    // Sockets
    static let ipMTUDiscover: Int32 = 10  // IP_MTU_DISCOVER
    static let ipv6MTUDiscover: Int32 = 23  // IPV6_MTU_DISCOVER
    static let pmtuDiscoverDo: Int32 = 2  // IP_PMTUDISC_DO == IPV6_PMTUDISC_DO
    static let receiveBufferForce: Int32 = 33  // SO_RCVBUFFORCE
    static let memoryInfo: Int32 = 55  // SO_MEMINFO
    static let memoryInfoDrops = 8  // SK_MEMINFO_DROPS
    static let memoryInfoCount = 9  // SK_MEMINFO_VARS

    // Links
    static let interfaceLowerUp: UInt32 = 0x10000  // IFF_LOWER_UP: the carrier

    // Neighbours (NUD_*)
    public static let neighbourIncomplete: UInt16 = 0x01
    public static let neighbourStale: UInt16 = 0x04
    public static let neighbourFailed: UInt16 = 0x20
}
