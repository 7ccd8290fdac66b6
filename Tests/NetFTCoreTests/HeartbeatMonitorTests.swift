import Testing

@testable import NetFTCore

@Suite("Heartbeat monitor")
struct HeartbeatMonitorTests {
    /// Drives a monitor with a perfect peer (replies after `rtt`) until `cut`,
    /// then silence; returns the time of Down and the misses seen before it.
    static func timeToDown(_ settings: HeartbeatSettings, cut: UInt64, rttMs: UInt64 = 1) -> (down: UInt64, missesBefore: [Int]) {
        var m = HeartbeatMonitor(settings: settings, now: .zero)
        var pendingReply: (at: UInt64, ts: UInt64)?
        var missesBefore: [Int] = []
        for t in stride(from: UInt64(0), through: 600_000, by: 1) {
            let now = Instant.milliseconds(t)
            if let p = pendingReply, p.at == t {
                _ = m.replyReceived(requestTimestamp: p.ts, now: now)
                pendingReply = nil
            }
            let (send, event) = m.tick(now: now)
            if case .down(.missedHeartbeats(let n))? = event {
                #expect(n == settings.threshold)
                return (t, missesBefore)
            }
            if send {
                missesBefore.append(m.misses)
                if t < cut { pendingReply = (t + rttMs, now.nanoseconds) }
            }
        }
        Issue.record("never went down")
        return (0, [])
    }

    @Test("Down exactly at Threshold misses", arguments: [
        HeartbeatSettings.windowsDefault, .windows2016SameSubnet, .windows2016CrossSubnet, .fast,
        HeartbeatSettings(delay: 250, threshold: 3),
    ])
    func detectionAtThreshold(settings: HeartbeatSettings) {
        let delay = settings.delay.value
        let cut = delay * 10 + delay / 2  // just after a request was answered
        let (down, missesBefore) = Self.timeToDown(settings, cut: cut)
        // The request at 10*delay was answered; those from 11*delay on were not.
        // Down on the tick that finds the Threshold-th unanswered request.
        #expect(down == delay * UInt64(11 + settings.threshold))
        #expect(missesBefore.max()! == settings.threshold - 1, "never Down one heartbeat early")
        #expect(down - cut >= settings.detectionTime.value && down - cut <= settings.detectionTime.value + delay)
    }

    @Test func upOnFirstReplyAndRttMeasured() {
        var m = HeartbeatMonitor(settings: .windowsDefault, now: .zero)
        #expect(m.tick(now: .zero).sendRequest)
        #expect(m.state == .initializing)
        #expect(m.replyReceived(requestTimestamp: 0, now: .milliseconds(3)) == .up)
        #expect(m.rtt.smoothed == 3_000_000)
        #expect(m.state == .up)
    }

    @Test func recoversAfterDown() {
        var m = HeartbeatMonitor(settings: HeartbeatSettings(delay: 250, threshold: 3), now: .zero)
        _ = m.tick(now: .zero)
        _ = m.replyReceived(requestTimestamp: 0, now: .milliseconds(1))
        var t: UInt64 = 250
        while m.state != .down {
            _ = m.tick(now: .milliseconds(t))
            t += 250
        }
        let (send, _) = m.tick(now: .milliseconds(t))
        #expect(send, "a Down route keeps probing")
        #expect(m.replyReceived(requestTimestamp: t * 1_000_000, now: .milliseconds(t + 1)) == .up)
    }

    @Test func flappingRaisesTheRepliesNeededForUp() {
        var m = HeartbeatMonitor(settings: .fast, now: .zero)
        var t: UInt64 = 0
        func run(ms: UInt64, answer: Bool) -> [HeartbeatMonitor.Event] {
            var events: [HeartbeatMonitor.Event] = []
            let end = t + ms
            while t < end {
                let now = Instant.milliseconds(t)
                let (send, event) = m.tick(now: now)
                if let event { events.append(event) }
                if send && answer, let e = m.replyReceived(requestTimestamp: now.nanoseconds, now: .milliseconds(t) + 1) { events.append(e) }
                t += 1
            }
            return events
        }
        _ = run(ms: 200, answer: true)
        #expect(m.state == .up)
        var ups = 0
        var downs = 0
        for _ in 0..<5 {  // 300 ms dead, 300 ms alive: a flapping link
            downs += run(ms: 300, answer: false).filter { $0 != .up }.count
            ups += run(ms: 300, answer: true).filter { $0 == .up }.count
        }
        #expect(m.requiredReplies > HeartbeatSettings.fast.upAfter, "damping grew")
        #expect(ups < downs, "a flapping route is not brought Up on every blip (ups \(ups), downs \(downs))")
    }

    @Test("a route whose peer starts late is reported Down, then comes Up without damping or hold-down")
    func aPeerStartingLateIsNotAFlap() {
        var m = HeartbeatMonitor(settings: .fast, now: .zero)
        var t: UInt64 = 0
        var down: HeartbeatMonitor.Event?
        while down == nil && t < 1000 {
            down = m.tick(now: .milliseconds(t)).event
            t += 1
        }
        #expect(down == .down(.missedHeartbeats(HeartbeatSettings.fast.threshold)), "never answered: Down after the detection time")
        #expect(m.requiredReplies == HeartbeatSettings.fast.upAfter, "no damping for a route that was never Up")
        var up: HeartbeatMonitor.Event?
        while up == nil && t < 2000 {
            let now = Instant.milliseconds(t)
            if m.tick(now: now).sendRequest { up = m.replyReceived(requestTimestamp: now.nanoseconds, now: now + 1) }
            t += 1
        }
        #expect(up == .up)
        #expect(!m.isSettling(now: .milliseconds(t)), "its first Up takes traffic at once: nothing failed over from it")

        // The same route, once Up, does flap: its next Down damps and holds.
        while m.state == .up { _ = m.tick(now: .milliseconds(t)); t += 1 }
        while m.state != .up {
            let now = Instant.milliseconds(t)
            if m.tick(now: now).sendRequest { _ = m.replyReceived(requestTimestamp: now.nanoseconds, now: now + 1) }
            t += 1
        }
        #expect(m.isSettling(now: .milliseconds(t)), "back from a real Down: held down")
    }

    @Test func aStalledNodeCountsOneMissNotABurst() {
        var m = HeartbeatMonitor(settings: .windowsDefault, now: .zero)
        _ = m.tick(now: .zero)
        _ = m.replyReceived(requestTimestamp: 0, now: .milliseconds(1))
        // The process did not run for 4.5 s (CPU starvation), then ticks once.
        let (_, event) = m.tick(now: .milliseconds(5500))
        #expect(event == nil)
        #expect(m.misses == 0, "the request answered before the stall is not a miss")
        #expect(m.nextRequestAt == .milliseconds(6500))
    }

    @Test func staleRepliesAreDiscarded() {
        var m = HeartbeatMonitor(settings: HeartbeatSettings(delay: 250, threshold: 3), now: .zero)
        _ = m.tick(now: .zero)
        #expect(m.replyReceived(requestTimestamp: 0, now: .milliseconds(751)) == nil)
        #expect(m.staleReplies == 1)
        #expect(m.state == .initializing)
    }

    @Test func linkDownIsImmediateAndStopsProbing() {
        var m = HeartbeatMonitor(settings: .windowsDefault, now: .zero)
        _ = m.tick(now: .zero)
        _ = m.replyReceived(requestTimestamp: 0, now: .milliseconds(1))
        #expect(m.linkChanged(up: false, now: .milliseconds(10)) == .down(.localLinkDown))
        #expect(m.tick(now: .milliseconds(1000)).sendRequest == false)
        #expect(m.linkChanged(up: true, now: .milliseconds(1200)) == nil)
        #expect(m.nextRequestAt == .milliseconds(1200), "probes at once when the link returns")
    }

    @Test func lossRateOverTheHistory() {
        var h = LossHistory(length: 4)
        for answered in [true, false, false, true, false] { h.record(answered: answered) }
        #expect(h.lossRate == 0.75)
    }
}

@Suite("Heartbeat settings")
struct HeartbeatSettingsTests {
    @Test func windowsDefaultsAndLimits() throws {
        #expect(HeartbeatSettings.windowsDefault.delay == 1000 && HeartbeatSettings.windowsDefault.threshold == 5)
        #expect(try HeartbeatSettings.sameSubnet(delay: 250, threshold: 3).detectionTime == 750)
        #expect(try HeartbeatSettings.crossSubnet(delay: 4000, threshold: 120).delay == 4000)
        #expect(HeartbeatSettings.fast.detectionTime.value < 1000)
    }

    @Test("values outside the documented limits are refused with the reason", arguments: [
        (HeartbeatSettings.Setting.sameSubnetDelay, 249, "SameSubnetDelay 249 ms is outside 250-2000 ms"),
        (.sameSubnetDelay, 2001, "SameSubnetDelay 2001 ms is outside 250-2000 ms"),
        (.crossSubnetDelay, 4001, "CrossSubnetDelay 4001 ms is outside 250-4000 ms"),
        (.sameSubnetThreshold, 2, "SameSubnetThreshold 2 is outside 3-120"),
        (.crossSubnetThreshold, 121, "CrossSubnetThreshold 121 is outside 3-120"),
        (.fastDelay, 5, "FastDelay 5 ms is outside 10-249 ms"),
    ])
    func outOfRange(setting: HeartbeatSettings.Setting, value: Int, message: String) {
        #expect {
            try HeartbeatSettings.validate(setting, value)
        } throws: { error in
            "\(error)" == message
        }
    }
}
