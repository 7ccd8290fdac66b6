import Foundation
import NetFTDaemon

/// The datapath counters of one or more daemons (`netft status --json`),
/// summed: what proves which path the frames took and what the offloads did.
/// The tests assert on them and the bench reports them.
public struct PathCounters: Sendable {
    public var dataViaAFXDP: UInt64 = 0
    public var dataViaKernel: UInt64 = 0
    public var fillRingEmpty: UInt64 = 0
    /// Every other AF_XDP drop the kernel counts (rx dropped, rx ring full), and TX ring full.
    public var xskDrops: UInt64 = 0
    public var txRingFull: UInt64 = 0
    /// Frames the classifier found no socket for (a queue without one).
    public var noSocket: UInt64 = 0
    public var adapterReads: UInt64 = 0
    public var adapterReadSegments: UInt64 = 0
    public var adapterWrites: UInt64 = 0
    public var adapterWrittenSegments: UInt64 = 0
    public var udpReceivedMessages: UInt64 = 0
    public var udpReceivedFrames: UInt64 = 0
    public var udpSentMessages: UInt64 = 0
    public var udpSentFrames: UInt64 = 0
    /// AF_XDP frames received per socket, by "link_qN".
    public var queueFrames: [String: UInt64] = [:]

    public init() {}

    public init(status: NodeStatus) {
        let datapath = status.datapath
        let drops = status.drops
        dataViaAFXDP = datapath["data_frames_af_xdp"] ?? 0
        dataViaKernel = datapath["data_frames_kernel"] ?? 0
        fillRingEmpty = datapath["fill_ring_empty"] ?? 0
        txRingFull = datapath["xdp_tx_ring_full"] ?? 0
        adapterReads = datapath["adapter_reads"] ?? 0
        adapterReadSegments = datapath["adapter_read_segments"] ?? 0
        adapterWrites = datapath["adapter_writes"] ?? 0
        adapterWrittenSegments = datapath["adapter_written_segments"] ?? 0
        udpReceivedMessages = datapath["udp_received_messages"] ?? 0
        udpReceivedFrames = datapath["udp_received_frames"] ?? 0
        udpSentMessages = datapath["udp_sent_messages"] ?? 0
        udpSentFrames = datapath["udp_sent_frames"] ?? 0
        for (key, value) in datapath where key.hasPrefix("classifier_") && key.hasSuffix("_no_socket") { noSocket += value }
        for (key, value) in drops where key.hasPrefix("xsk_") && (key.hasSuffix("_rx_dropped") || key.hasSuffix("_rx_ring_full")) { xskDrops += value }
        for (key, value) in datapath where key.hasPrefix("af_xdp_rx_frames_") { queueFrames[String(key.dropFirst("af_xdp_rx_frames_".count))] = value }
    }

    public static func + (a: PathCounters, b: PathCounters) -> PathCounters {
        var s = a
        s.dataViaAFXDP += b.dataViaAFXDP
        s.dataViaKernel += b.dataViaKernel
        s.fillRingEmpty += b.fillRingEmpty
        s.xskDrops += b.xskDrops
        s.txRingFull += b.txRingFull
        s.noSocket += b.noSocket
        s.adapterReads += b.adapterReads
        s.adapterReadSegments += b.adapterReadSegments
        s.adapterWrites += b.adapterWrites
        s.adapterWrittenSegments += b.adapterWrittenSegments
        s.udpReceivedMessages += b.udpReceivedMessages
        s.udpReceivedFrames += b.udpReceivedFrames
        s.udpSentMessages += b.udpSentMessages
        s.udpSentFrames += b.udpSentFrames
        s.queueFrames.merge(b.queueFrames, uniquingKeysWith: +)
        return s
    }

    /// What changed from `before` to this (counters only grow).
    public func since(_ before: PathCounters) -> PathCounters {
        func d(_ a: UInt64, _ b: UInt64) -> UInt64 { a >= b ? a - b : 0 }
        var s = self
        s.dataViaAFXDP = d(dataViaAFXDP, before.dataViaAFXDP)
        s.dataViaKernel = d(dataViaKernel, before.dataViaKernel)
        s.fillRingEmpty = d(fillRingEmpty, before.fillRingEmpty)
        s.xskDrops = d(xskDrops, before.xskDrops)
        s.txRingFull = d(txRingFull, before.txRingFull)
        s.noSocket = d(noSocket, before.noSocket)
        s.adapterReads = d(adapterReads, before.adapterReads)
        s.adapterReadSegments = d(adapterReadSegments, before.adapterReadSegments)
        s.adapterWrites = d(adapterWrites, before.adapterWrites)
        s.adapterWrittenSegments = d(adapterWrittenSegments, before.adapterWrittenSegments)
        s.udpReceivedMessages = d(udpReceivedMessages, before.udpReceivedMessages)
        s.udpReceivedFrames = d(udpReceivedFrames, before.udpReceivedFrames)
        s.udpSentMessages = d(udpSentMessages, before.udpSentMessages)
        s.udpSentFrames = d(udpSentFrames, before.udpSentFrames)
        s.queueFrames = queueFrames.reduce(into: [:]) { $0[$1.key] = d($1.value, before.queueFrames[$1.key] ?? 0) }
        return s
    }

    /// Data frames that took the kernel socket, of all data frames (xdp dataplane).
    public var kernelShare: Double {
        let all = dataViaAFXDP + dataViaKernel
        return all == 0 ? 0 : Double(dataViaKernel) / Double(all)
    }

    /// Wire segments per adapter read (TSO/USO in software), and per adapter write (GRO).
    public var segmentsPerRead: Double { adapterReads == 0 ? 0 : Double(adapterReadSegments) / Double(adapterReads) }
    public var segmentsPerWrite: Double { adapterWrites == 0 ? 0 : Double(adapterWrittenSegments) / Double(adapterWrites) }
    /// Frames per UDP message: UDP_GRO on receive, UDP_SEGMENT on send.
    public var framesPerReceive: Double { udpReceivedMessages == 0 ? 0 : Double(udpReceivedFrames) / Double(udpReceivedMessages) }
    public var framesPerSend: Double { udpSentMessages == 0 ? 0 : Double(udpSentFrames) / Double(udpSentMessages) }

    public var summary: String {
        String(
            format: "af_xdp data %llu, kernel data %llu (share %.4f), fill_ring_empty %llu, xsk drops %llu, tx ring full %llu, no socket %llu, segments/read %.1f, segments/write %.1f, udp frames/recv %.1f, frames/send %.1f",
            dataViaAFXDP, dataViaKernel, kernelShare, fillRingEmpty, xskDrops, txRingFull, noSocket, segmentsPerRead, segmentsPerWrite, framesPerReceive, framesPerSend)
    }
}

extension ClusterFabric {
    /// The path counters of every node, summed.
    public func pathCounters() -> PathCounters {
        nodes.compactMap { status($0.name).map(PathCounters.init(status:)) }.reduce(PathCounters(), +)
    }
}
