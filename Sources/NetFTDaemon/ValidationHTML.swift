import NetFTCore

/// A validation report as one self-contained HTML page (no scripts, no
/// external files) to attach to a change ticket, one table per node.
public enum ValidationHTML {
    public static func page(_ reports: [ValidationReport], generated: String) -> String {
        let title = "netft validation: \(reports.first.map { HTML.escape($0.cluster) } ?? "")"
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(title)</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
            table{border-collapse:collapse;margin-bottom:2em;width:100%}
            th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
            th{background:#f3f3f3}
            .pass{background:#e6f4ea}.warning{background:#fff4d6}.fail{background:#fde7e7}
            .verdict{font-weight:bold;text-transform:uppercase}
            </style></head><body>
            <h1>\(title)</h1>
            <p>Generated \(HTML.escape(generated)).</p>

            """
        for report in reports {
            html += "<h2 class=\"\(report.verdict.rawValue)\">\(HTML.escape(report.node)): \(report.verdict.rawValue) "
            html += "(\(report.count(.pass)) pass, \(report.count(.warning)) warning, \(report.count(.fail)) fail; reachability from \(report.mode))</h2>\n"
            html += "<table><tr><th>verdict</th><th>check</th><th>subject</th><th>detail</th></tr>\n"
            for c in report.checks {
                html += "<tr class=\"\(c.verdict.rawValue)\"><td class=\"verdict\">\(c.verdict.rawValue)</td><td>\(HTML.escape(c.check))</td>"
                html += "<td>\(HTML.escape(c.subject))</td><td>\(HTML.escape(c.detail))</td></tr>\n"
            }
            html += "</table>\n"
        }
        return html + "</body></html>\n"
    }
}

/// Text made safe inside HTML elements and attribute values (both reports use it).
public enum HTML {
    public static func escape(_ text: String) -> String {
        var out = ""
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }
}
