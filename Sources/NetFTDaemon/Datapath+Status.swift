import Foundation
import NetFTCore
import NetFTDataplane

extension Datapath {
    /// The node as `netft status` shows it. Built on the datapath thread when
    /// asked (a control client or a scrape), encoded elsewhere.
    func snapshot() -> NodeStatus {
        let now = clock()
        var routes: [NodeStatus.RouteInfo] = []
        for peer in engine.table.peerIDs {
            let active = engine.table.activeRoute(to: peer)
            for id in engine.table.routeIDs(to: peer) {
                guard let s = engine.table.status(id) else { continue }
                let r = s.route
                let rtt = s.monitor.rtt
                routes.append(.init(
                    id: r.id, peer: r.peerName, peer_id: r.peer, network: r.network, interface: r.localInterface,
                    real_local: "\(r.realLocal.address)", real_remote: "\(r.realRemote.address)",
                    virtual_remote: "\(r.virtualRemote.address)", state: s.state.rawValue, active: active == id,
                    diagnosis: s.diagnosis?.description, reason: s.diagnosis?.code,
                    rtt_ms: Double(rtt.smoothed) / 1e6, rtt_min_ms: rtt.samples > 0 ? Double(rtt.minimum) / 1e6 : 0,
                    rtt_max_ms: Double(rtt.maximum) / 1e6, loss: s.monitor.history.lossRate,
                    cross_subnet: r.crossSubnet, delay_ms: r.heartbeat.delay.value, threshold: r.heartbeat.threshold, priority: r.priority,
                    frames_sent: s.counters.framesSent, frames_received: s.counters.framesReceived,
                    bytes_sent: s.counters.bytesSent, bytes_received: s.counters.bytesReceived))
            }
        }
        let nodes = config.nodes.filter { $0.id != me.id }.map { n in
            let ids = engine.table.routeIDs(to: n.id)
            return NodeStatus.NodeInfo(
                name: n.name, id: n.id, reachable: engine.table.isReachable(n.id), active_route: engine.table.activeRoute(to: n.id),
                session: engine.sessions.established(n.id).map { ClusterLog.hex($0.session) },
                virtual_ipv4: "\(VirtualAddresses.ipv4(cluster: config.cluster, node: n.id))",
                virtual_ipv6: "\(VirtualAddresses.ipv6(cluster: config.cluster, node: n.id))",
                routes_up: ids.filter { engine.table.status($0)?.state == .up }.count, routes: ids.count,
                unacknowledged: engine.streams[n.id]?.unacknowledged?.count ?? 0)
        }
        var drops: [String: UInt64] = ["no_peer": counters.noPeerDrops, "no_route": counters.noRouteDrops]
        var datapath: [String: UInt64] = [
            "adapter_back_pressure": counters.backPressure,
            // Segments per read (TSO in software) and per write (GRO): the offloads at work.
            "adapter_reads": counters.adapterReads, "adapter_read_segments": counters.adapterReadSegments,
            "adapter_writes": coalescer.packetsOut, "adapter_written_segments": coalescer.segmentsIn,
            // Stalls: the longest pass of the loop (its own work) and the latest timed wake-up (the host's).
            "loop_longest_pass_us": counters.longestPass / 1000, "loop_longest_late_wake_us": counters.longestLateWake / 1000,
            "loop_late_wakes": counters.lateWakes,
        ]
        drops["offload_malformed"] = counters.offloadMalformed
        drops["segment_too_large"] = counters.segmentTooLarge
        drops["adapter_write_errors"] = counters.adapterWriteErrors
        if let retention {
            datapath["lossless_resent"] = counters.resent
            datapath["lossless_resent_again"] = counters.resentAgain
            drops["lossless_resends_abandoned"] = counters.resendsAbandoned
            drops["lossless_unrecoverable"] = counters.unrecoverable
            drops["lossless_evicted"] = retention.values.reduce(0) { $0 + $1.evicted }
            datapath["lossless_retention_bytes"] = UInt64(retention.values.reduce(0) { $0 + $1.bytes })
        }
        for reason in FrameError.allCases where engine.drops[reason] > 0 { drops[reason.rawValue] = engine.drops[reason] }
        var links = dataplane.links.map { NodeStatus.LinkInfo(name: $0.name, address: "\($0.address)", path: dataplane.kind == .xdp ? "af_xdp" : "kernel") }
        if let xdp = dataplane as? XDPDataplane {
            for (i, reason) in xdp.fallbackReasons.enumerated() where reason != nil {
                links[i].path = "kernel"
                links[i].reason = reason
            }
            for st in xdp.socketStatistics() {
                drops["xsk_\(st.link)_rx_dropped"] = st.dropped
                drops["xsk_\(st.link)_fill_ring_empty"] = st.fillEmpty
                drops["xsk_\(st.link)_rx_ring_full"] = st.rxFull
            }
            for q in xdp.queueReceived() { datapath["af_xdp_rx_frames_\(q.link)_q\(q.queue)"] = q.frames }
            for (link, stats) in xdp.classifierStats() {
                datapath["classifier_\(link)_steered"] = stats.counts[.steered] ?? 0
                datapath["classifier_\(link)_pass_control"] = stats.counts[.passControl] ?? 0
                datapath["classifier_\(link)_no_socket"] = stats.counts[.noSocket] ?? 0
                datapath["classifier_\(link)_drop_unknown_source"] = stats.counts[.dropUnknownSource] ?? 0
                datapath["classifier_\(link)_drop_over_budget"] = stats.counts[.dropOverBudget] ?? 0
            }
            drops["xdp_tx_ring_full"] = xdp.counters.txFull
            drops["xdp_no_free_frame"] = xdp.counters.noFrame
            drops["xdp_unparsed"] = xdp.counters.unparsed
            drops["xdp_sent_via_kernel"] = xdp.counters.viaKernel
            datapath["af_xdp_rx_frames"] = xdp.counters.rx
            (datapath["af_xdp_sockets"], datapath["af_xdp_zero_copy_sockets"]) = (UInt64(xdp.socketModes.sockets), UInt64(xdp.socketModes.zeroCopy))
            datapath["af_xdp_tx_frames"] = xdp.counters.tx
            datapath["kernel_socket_tx_frames"] = xdp.counters.viaKernel
            datapath["data_frames_af_xdp"] = xdp.counters.dataViaAFXDP
            datapath["data_frames_kernel"] = xdp.counters.dataViaKernel
            datapath["xdp_tx_ring_full"] = xdp.counters.txFull
            datapath["fill_ring_empty"] = xdp.socketStatistics().reduce(0) { $0 + $1.fillEmpty }
        }
        if let udp = dataplane as? SocketDataplane {
            // Frames per message both ways: UDP_GRO runs received, UDP_SEGMENT runs sent.
            datapath["udp_received_messages"] = udp.counters.receivedMessages
            datapath["udp_received_frames"] = udp.counters.receivedFrames
            datapath["udp_sent_frames"] = udp.counters.sentFrames
            datapath["udp_sent_messages"] = udp.counters.sendCalls
            drops["udp_send_errors"] = udp.sendErrors
        }
        return NodeStatus(
            node: me.name, node_id: me.id, cluster: config.cluster, udp_port: config.port, session: ClusterLog.hex(engine.sessions.localID), security: "\(config.security)", key_fingerprint: config.security == .none ? nil : engine.sessions.key.fingerprint,
            previous_key_fingerprint: engine.sessions.previousKey?.fingerprint, dataplane: dataplane.kind.rawValue, dataplane_reason: facts.dataplaneReason,
            adapter: adapter.name, adapter_offloads: adapter.offloads, virtual_ipv4: "\(VirtualAddresses.ipv4(cluster: config.cluster, node: me.id))",
            virtual_ipv6: "\(VirtualAddresses.ipv6(cluster: config.cluster, node: me.id))", mtu: adapter.mtu,
            uptime_s: Double(now.since(started)) / 1e9, routes: routes, nodes: nodes, links: links, drops: drops, datapath: datapath,
            warnings: facts.warnings, watchdog_stalls: watchdog.stalls.load(ordering: .relaxed),
            hot_path_mallocs: mallocCount == nil ? nil : counters.hotPathMallocs, hot_path_packets: mallocCount == nil ? nil : counters.hotPathPackets)
    }
}
