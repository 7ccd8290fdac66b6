import NetFTCore
import NetFTDataplane

/// A failover's resend whose acknowledgement has not come yet.
struct ResendWatch {
    /// The last stream sequence the resend covered.
    var upTo: UInt64
    /// When to look at the peer's acknowledgement again.
    var deadline: Instant
    /// Times this range was sent (the failover's resend included).
    var attempts: Int
}

/// Lossless failover's resends. A failover resends everything the peer has
/// not acknowledged, in one burst, on the new route. Part of that burst can
/// be lost too (a receiver ring or a switch buffer it overflows), and a hole
/// holds the peer's cumulative ack back: so the ack is watched, and a resend
/// it does not cover in time is sent again from the ack point.
extension Datapath {
    /// Sends of one failover's range at most; past them what the ack never
    /// covered is counted (`lossless_resends_abandoned`) and logged.
    static let resendAttempts = 3

    /// After a failover (`attempt` 1), resends what `peer` has not
    /// acknowledged, oldest first, on its new route, before any new traffic.
    /// Later attempts resend only what the failover's resend covered. Copies
    /// already overwritten (the retention bound) are counted and named in the log.
    func resendUnacknowledged(to peer: NodeID, attempt: Int = 1) {
        defer { refreshResendDeadline() }
        guard let ring = retention?[peer], let pending = engine.streams[peer]?.unacknowledged else {
            resendWatches[peer] = nil
            return
        }
        let upTo = attempt == 1 ? pending.upperBound : min(pending.upperBound, resendWatches[peer]?.upTo ?? pending.upperBound)
        guard pending.lowerBound <= upTo else {
            resendWatches[peer] = nil
            return
        }
        let now = clock()
        var resent = 0
        var missing = 0
        for sequence in pending.lowerBound...upTo {
            guard let packet = ring.packet(sequence) else {
                missing += 1
                continue
            }
            dataplane.send { buffer in
                UnsafeMutableRawBufferPointer(rebasing: buffer[FrameCodec.payloadOffset...]).copyMemory(from: packet)
                guard let sent = try? engine.encapsulate(to: peer, payloadLength: packet.count, in: buffer, now: now, resending: sequence),
                    let target = routeLinks[sent.route]
                else { return nil }
                resent += 1
                return Outbound(link: target.link, remote: target.remote, length: sent.length)
            }
        }
        dataplane.flush()
        counters.resent &+= UInt64(resent)
        if attempt > 1 { counters.resentAgain &+= UInt64(resent) }
        resendWatches[peer] = resent > 0 ? ResendWatch(upTo: upTo, deadline: now + resendWait(to: peer), attempts: attempt) : nil
        let name = peerName(peer)
        if attempt > 1 {
            if resent > 0 {
                log.info("[NETFT] lossless failover: resent \(resent) frame\(resent == 1 ? "" : "s") to \(name) again (attempt \(attempt)): its acknowledgement stalled at \(pending.lowerBound - 1)")
            }
            return  // what the retention lost was counted at the failover
        }
        counters.unrecoverable &+= UInt64(missing)
        if resent > 0 { log.info("[NETFT] lossless failover: resent \(resent) unacknowledged frame\(resent == 1 ? "" : "s") to \(name) on the new route") }
        if missing > 0 {
            log.warning("[NETFT] lossless failover: \(missing) frame\(missing == 1 ? "" : "s") to \(name) could not be resent: the retention of \(ring.capacity) packets was full (lossless_buffer_packets)")
        }
    }

    /// Looks again at each resend whose wait is over: acknowledged, it is
    /// done; not, it is sent again from the ack point, up to `resendAttempts`.
    func retryStalledResends() {
        let now = clock()
        guard let due = resendDeadline, now >= due else { return }
        for (peer, watch) in resendWatches where now >= watch.deadline {
            let acknowledged = engine.streams[peer]?.acknowledged ?? watch.upTo
            if acknowledged >= watch.upTo {
                resendWatches[peer] = nil
            } else if watch.attempts >= Self.resendAttempts {
                resendWatches[peer] = nil
                counters.resendsAbandoned &+= watch.upTo - acknowledged
                let name = peerName(peer)
                log.warning("[NETFT] lossless failover: \(watch.upTo - acknowledged) frames to \(name) still unacknowledged after \(watch.attempts) sends; given up (lossless_resends_abandoned)")
            } else {
                resendUnacknowledged(to: peer, attempt: watch.attempts + 1)
            }
        }
        refreshResendDeadline()
    }

    /// How long an ack of a resend may take: the peer's ack delay, two round
    /// trips on the active route, and 10 ms of slack for a busy peer.
    func resendWait(to peer: NodeID) -> Milliseconds {
        let rtt = engine.table.activeRoute(to: peer).flatMap { engine.table.status($0)?.monitor.rtt.smoothed } ?? 0
        return Milliseconds(DataStream.ackDelay.value + 2 * rtt / 1_000_000 + 10)
    }

    /// The peer's name in the configuration, for log lines.
    func peerName(_ peer: NodeID) -> String { config.nodes.first { $0.id == peer }?.name ?? "node \(peer)" }

    func refreshResendDeadline() {
        resendDeadline = resendWatches.values.map(\.deadline).min()
    }
}
