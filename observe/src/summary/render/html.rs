//! Self-contained HTML: inline CSS and inline SVG bar charts (events per table, events per
//! workload), no scripts, no external `src`/`href`. Every bar carries `data-label` and
//! `data-count` so a test can read the charts back from the DOM.

use super::{facts, grids, totals_line, Report};
use std::io::{self, Write};

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px;background:#f4f6fa;color:#1d2433}\
h1{background:#1f4e8c;color:#fff;padding:12px 16px;border-radius:6px}\
h2{border-bottom:2px solid #1f4e8c;padding-bottom:4px}h3{margin:16px 0 4px}\
table{border-collapse:collapse;margin:8px 0 16px;background:#fff}\
th,td{border:1px solid #c9d1de;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#dbe5f3}td.num{text-align:right}\
.charts{display:flex;gap:32px;flex-wrap:wrap}figure{margin:0;background:#fff;padding:8px 12px;border:1px solid #c9d1de;border-radius:6px}\
figcaption{font-weight:bold;margin-bottom:6px}svg text{font-size:12px;fill:#1d2433}svg rect{fill:#e07a1f}\
.Block{color:#b3261e;font-weight:bold}.Audit{color:#8a6d00;font-weight:bold}.Allow{color:#1b7a33;font-weight:bold}\
.Denied,.Failed{color:#6b3fa0;font-weight:bold}.facts th{background:#eef2f8}code{font-size:90%}";

/// Longest label drawn in full beside a bar (the whole label is in `data-label` and `<title>`).
const LABEL_CHARS: usize = 40;

fn bar_chart(id: &str, caption: &str, bars: &[(String, u64)]) -> String {
    const ROW: usize = 22;
    const LABEL_W: usize = 290;
    const BAR_W: usize = 300;
    let max = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let height = bars.len() * ROW + 6;
    let mut o = format!(
        "<figure><figcaption>{}</figcaption><svg id=\"{id}\" role=\"img\" aria-label=\"{}\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">\n",
        esc(caption),
        esc(caption),
        LABEL_W + BAR_W + 90,
        LABEL_W + BAR_W + 90
    );
    for (i, (label, n)) in bars.iter().enumerate() {
        let y = i * ROW + 4;
        let shown: String = if label.chars().count() > LABEL_CHARS {
            label.chars().take(LABEL_CHARS - 1).chain(['…']).collect()
        } else {
            label.clone()
        };
        // A non-zero count always gets a visible bar.
        let w = if *n == 0 { 0 } else { (n * BAR_W as u64 / max).max(2) };
        o.push_str(&format!(
            "<g class=\"bar\" data-label=\"{l}\" data-count=\"{n}\"><title>{l}: {n}</title><text x=\"0\" y=\"{ty}\">{s}</text><rect x=\"{LABEL_W}\" y=\"{y}\" width=\"{w}\" height=\"16\" rx=\"2\"></rect><text x=\"{tx}\" y=\"{ty}\">{n}</text></g>\n",
            l = esc(label),
            s = esc(&shown),
            ty = y + 13,
            tx = LABEL_W as u64 + w + 6,
        ));
    }
    o.push_str("</svg></figure>");
    o
}

fn workload_name(w: &super::WorkloadSummary<'_>) -> String {
    if w.pod.is_empty() && !w.host.is_empty() {
        format!("host {}", w.host)
    } else {
        format!("{}/{}/{}", w.namespace, w.pod, w.container)
    }
}

pub fn render(r: &Report<'_>, sink: &mut dyn Write) -> io::Result<()> {
    let mut per_table = [0u64; 5];
    let mut per_workload = Vec::new();
    for w in &r.workloads {
        let counts = w.tables.counts();
        for (sum, n) in per_table.iter_mut().zip(counts) {
            *sum += n;
        }
        per_workload.push((workload_name(w), counts.iter().sum::<u64>()));
    }
    let t = &r.totals;
    let mut o = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    o.push_str("<title>armorc summary</title><style>");
    o.push_str(STYLE);
    o.push_str("</style></head><body>\n<h1>armorc summary</h1>\n");
    o.push_str(&format!(
        "<p id=\"totals\" data-events=\"{}\" data-telemetry=\"{}\" data-alerts=\"{}\" data-filtered-out=\"{}\" data-untabled=\"{}\" data-alert-only-rows=\"{}\" data-workloads=\"{}\">{}</p>\n",
        t.events,
        t.telemetry,
        t.alerts,
        t.filtered_out,
        t.untabled,
        t.alert_only_rows,
        r.workloads.len(),
        esc(&totals_line(r))
    ));
    let tables: Vec<(String, u64)> =
        super::TABLE_TITLES.iter().zip(per_table).map(|(title, n)| (title.to_string(), n)).collect();
    o.push_str("<div class=\"charts\">");
    o.push_str(&bar_chart("by-table", "Events per table", &tables));
    o.push_str(&bar_chart("by-workload", "Events per workload", &per_workload));
    o.push_str("</div>\n");
    for w in &r.workloads {
        sink.write_all(o.as_bytes())?;
        o.clear();
        o.push_str(&format!(
            "<section class=\"workload\"><h2>{}</h2>\n<table class=\"facts\">",
            esc(&workload_name(w))
        ));
        for (k, v) in facts(w) {
            o.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v)));
        }
        o.push_str("</table>\n");
        for g in grids(&w.tables) {
            o.push_str(&format!("<h3>{}</h3>\n<table class=\"rows\"><tr>", esc(g.title)));
            for h in g.headers {
                o.push_str(&format!("<th>{}</th>", esc(h)));
            }
            o.push_str("</tr>\n");
            for i in 0..g.rows.len() {
                o.push_str("<tr>");
                for (h, c) in g.headers.iter().zip(g.rows.cells(i)) {
                    match *h {
                        "STATUS" => {
                            let words: Vec<String> = c
                                .split(',')
                                .filter(|s| !s.is_empty())
                                .map(|s| format!("<span class=\"{0}\">{0}</span>", esc(s)))
                                .collect();
                            o.push_str(&format!("<td>{}</td>", words.join(", ")));
                        }
                        "COUNT" | "PORT" | "BIND PORT" => o.push_str(&format!("<td class=\"num\">{}</td>", esc(&c))),
                        _ => o.push_str(&format!("<td><code>{}</code></td>", esc(&c))),
                    }
                }
                o.push_str("</tr>\n");
            }
            o.push_str("</table>\n");
        }
        o.push_str("</section>\n");
    }
    o.push_str("</body></html>\n");
    sink.write_all(o.as_bytes())
}
