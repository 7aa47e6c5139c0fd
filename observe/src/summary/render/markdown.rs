//! Markdown: a heading and a header table per workload, then one pipe table per karmor table.
//! Cells escape `|`, `<`, `>`, `&` and control characters (event fields are untrusted).

use super::{escape_controls, facts, grids, totals_line, Report};
use std::io::{self, Write};

fn cell(s: &str) -> String {
    escape_controls(s).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('|', "\\|")
}

fn row(cells: impl IntoIterator<Item = String>) -> String {
    let cells: Vec<String> = cells.into_iter().collect();
    format!("| {} |\n", cells.join(" | "))
}

pub fn render(r: &Report<'_>, sink: &mut dyn Write) -> io::Result<()> {
    writeln!(sink, "# armorc summary\n\n{}.", totals_line(r))?;
    let mut out = String::new();
    for w in &r.workloads {
        out.clear();
        let name = if w.pod.is_empty() && !w.host.is_empty() {
            format!("host {}", w.host)
        } else {
            format!("{}/{}/{}", w.namespace, w.pod, w.container)
        };
        out.push_str(&format!("\n## {}\n\n| | |\n|---|---|\n", cell(&name)));
        for (k, v) in facts(w) {
            out.push_str(&row([k.to_string(), cell(v)]));
        }
        for g in grids(&w.tables) {
            out.push_str(&format!("\n### {}\n\n", g.title));
            out.push_str(&row(g.headers.iter().map(|h| h.to_string())));
            out.push_str(&row(g.headers.iter().map(|_| "---".to_string())));
            for i in 0..g.rows.len() {
                out.push_str(&row(g.rows.cells(i).iter().map(|c| cell(c))));
            }
        }
        sink.write_all(out.as_bytes())?;
    }
    Ok(())
}
