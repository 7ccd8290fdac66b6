import CNetFTShims

/// What a NIC's driver says it can do with XDP, asked of the kernel's netdev
/// generic-netlink family without attaching anything.
public enum XDPFeatures {
    /// NETDEV_XDP_ACT_* bits of interface `index` in the calling thread's network namespace.
    public static func of(interfaceIndex index: Int32, name: String) throws(SystemError) -> UInt64 {
        var features: UInt64 = 0
        try check("read the XDP features of \(name) (netdev generic netlink, Linux 6.3+)", netft_xdp_features(index, &features))
        return features
    }
}
