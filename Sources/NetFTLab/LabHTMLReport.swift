import Foundation
import NetFTFabric
import NetFTDaemon

/// `netft lab --report FILE`: one self-contained HTML page (inline SVG, no
/// scripts) with the summary table and, per scenario, a timeline of every
/// node's route states and the test stream's gaps.
public enum LabHTMLReport {
    static let colors = ["up": "#2e7d32", "down": "#c62828", "no daemon": "#616161"]
    static let otherColor = "#f9a825"

    public static func page(_ report: LabReport, generated: String) -> String {
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>netft lab report</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
            table{border-collapse:collapse;margin:1em 0 2em}
            th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
            th{background:#f3f3f3}.pass{background:#e6f4ea}.fail{background:#fde7e7}
            .expect{color:#555}
            </style></head><body>
            <h1>netft lab: \(report.passed ? "all scenarios passed" : "some scenarios FAILED")</h1>
            <p>\(report.nodes) nodes &times; \(report.networks) networks, \(HTML.escape(report.dataplane)) dataplane, \(HTML.escape(report.profile)) profile\(report.stack.map { ", " + HTML.escape($0) } ?? ""). Generated \(HTML.escape(generated)).</p>

            """
        for line in report.reachability { html += "<p class=\"fail\">\(HTML.escape(line))</p>\n" }
        html += "<table><tr><th>scenario</th><th>result</th><th>detect ms</th><th>recover ms</th><th>lost</th><th>resent</th><th>rings</th><th>diagnosis</th></tr>\n"
        for s in report.scenarios {
            let cells = [s.detect_ms, s.recover_ms, s.lost_packets, s.resent_packets, s.ring_reformations].map { $0.map(String.init) ?? "-" }
            html += "<tr class=\"\(s.passed ? "pass" : "fail")\"><td><a href=\"#\(anchor(s.name))\">\(HTML.escape(s.name))</a></td><td>\(s.passed ? "pass" : "FAIL")</td>"
            html += cells.map { "<td>\($0)</td>" }.joined() + "<td>\(HTML.escape(s.diagnosis))</td></tr>\n"
        }
        html += "</table>\n"
        for (i, s) in report.scenarios.enumerated() {
            html += "<h2 id=\"\(anchor(s.name))\">\(i + 1). \(HTML.escape(s.name)): \(s.passed ? "pass" : "FAIL")</h2>\n"
            html += "<p class=\"expect\">expected: \(HTML.escape(s.expectation))</p>\n"
            for f in s.failures { html += "<p class=\"fail\">\(HTML.escape(f))</p>\n" }
            html += s.timeline.map(svg) ?? "<p>no timeline recorded</p>\n"
        }
        return html + "</body></html>\n"
    }

    /// The timeline: a lane per node and route, coloured by state (tall where
    /// the route is active), and a lane for the stream with its gaps in red.
    static func svg(_ t: ScenarioTimeline) -> String {
        let left = 190.0, width = 1000.0, lane = 16.0, pitch = 20.0, top = 10.0
        let plot = width - left - 10
        let duration = max(t.duration, 0.001)
        func x(_ seconds: Double) -> Double { left + plot * min(max(seconds, 0), duration) / duration }
        let streamLane = t.gaps.isEmpty && t.lanes.isEmpty ? 0 : 1
        let height = top + pitch * Double(t.lanes.count + streamLane) + 60
        var s = "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-size=\"11\" font-family=\"sans-serif\">\n"
        for (i, name) in t.lanes.enumerated() {
            let y = top + pitch * Double(i)
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(y + lane - 4))\" text-anchor=\"end\">\(HTML.escape(name))</text>\n"
            for span in t.spans where span.lane == name {
                let h = span.active ? lane : lane * 0.55
                let color = colors[span.state] ?? otherColor
                s += "<rect x=\"\(f(x(span.from)))\" y=\"\(f(y + (lane - h) / 2))\" width=\"\(f(max(1, x(span.to) - x(span.from))))\" height=\"\(f(h))\" fill=\"\(color)\""
                s += "\(span.active ? "" : " fill-opacity=\"0.5\"")><title>\(HTML.escape(name)): \(HTML.escape(span.state))\(span.active ? ", active" : "") \(f(span.from))-\(f(span.to)) s</title></rect>\n"
            }
        }
        let streamY = top + pitch * Double(t.lanes.count)
        s += "<text x=\"\(f(left - 6))\" y=\"\(f(streamY + lane - 4))\" text-anchor=\"end\">stream node1 &#8594; node2</text>\n"
        s += "<rect x=\"\(f(left))\" y=\"\(f(streamY + lane / 2 - 1))\" width=\"\(f(plot))\" height=\"2\" fill=\"#90a4ae\"/>\n"
        for gap in t.gaps {
            s += "<rect class=\"gap\" x=\"\(f(x(gap.from)))\" y=\"\(f(streamY))\" width=\"\(f(max(1.5, x(gap.to) - x(gap.from))))\" height=\"\(f(lane))\" fill=\"#c62828\">"
            s += "<title>no arrival for \(Int(((gap.to - gap.from) * 1000).rounded())) ms at \(f(gap.from)) s</title></rect>\n"
        }
        // Time axis with a tick every "nice" step.
        let axisY = streamY + pitch + 4
        s += "<line x1=\"\(f(left))\" y1=\"\(f(axisY))\" x2=\"\(f(left + plot))\" y2=\"\(f(axisY))\" stroke=\"#333\"/>\n"
        let step = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60].first { duration / $0 <= 12 } ?? 120
        var tick = 0.0
        while tick <= duration + 1e-9 {
            s += "<line x1=\"\(f(x(tick)))\" y1=\"\(f(axisY))\" x2=\"\(f(x(tick)))\" y2=\"\(f(axisY + 4))\" stroke=\"#333\"/>"
            s += "<text x=\"\(f(x(tick)))\" y=\"\(f(axisY + 16))\" text-anchor=\"middle\">\(f(tick)) s</text>\n"
            tick += step
        }
        // Legend.
        var lx = left
        for (label, color) in [("up", colors["up"]!), ("down", colors["down"]!), ("other state", otherColor), ("no daemon", colors["no daemon"]!), ("stream gap ≥ \(Int(t.gapThreshold * 1000)) ms", "#c62828")] {
            s += "<rect x=\"\(f(lx))\" y=\"\(f(axisY + 26))\" width=\"10\" height=\"10\" fill=\"\(color)\"/><text x=\"\(f(lx + 14))\" y=\"\(f(axisY + 35))\">\(HTML.escape(label))</text>\n"
            lx += 30 + Double(label.count) * 6.5
        }
        s += "<text x=\"\(f(lx))\" y=\"\(f(axisY + 35))\">tall bar: the active route</text>\n"
        return s + "</svg>\n"
    }

    static func f(_ v: Double) -> String { String(format: "%.2f", v) }
    static func anchor(_ name: String) -> String { "scenario-" + name.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined() }
}
