//! karmor-style text report: a key/value block per image, then a bordered table
//! `POLICY | SHORT DESC | SEVERITY | ACTION | TAGS`, rows sorted by file (stable).

use super::{escape_controls, image_facts, RecommendReport};

/// Cells are owned strings.
fn esc(s: &str) -> String {
    escape_controls(s).into_owned()
}

/// Width of the TAGS column: tags are joined with `, ` and wrapped to it, so a row is as tall as
/// its summary or tag list needs, not one line per tag.
const TAGS_WIDTH: usize = 30;

/// Split a cell into lines no wider than `width` (at spaces or `-` when possible).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split(' ') {
            let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
            if candidate.chars().count() <= width || line.is_empty() {
                line = candidate;
            } else {
                lines.push(std::mem::take(&mut line));
                line = word.to_string();
            }
            while line.chars().count() > width {
                let cut: String = line.chars().take(width).collect();
                let at = cut.rfind('-').filter(|&i| i > 0).map_or(cut.len(), |i| i + 1);
                lines.push(line[..at].to_string());
                line = line[at..].to_string();
            }
        }
        lines.push(line);
    }
    lines
}

fn table(headers: &[&str], widths: &[usize], rows: &[Vec<String>], out: &mut String) {
    let border = {
        let mut s = String::from("+");
        for w in widths {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s
    };
    let line = |cells: &[String], out: &mut String| {
        out.push('|');
        for (c, w) in cells.iter().zip(widths) {
            out.push_str(&format!(" {c:<w$} |"));
        }
        out.push('\n');
    };
    out.push_str(&border);
    out.push('\n');
    line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(), out);
    out.push_str(&border);
    out.push('\n');
    for row in rows {
        let wrapped: Vec<Vec<String>> = row.iter().zip(widths).map(|(c, w)| wrap(c, *w)).collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
        for i in 0..height {
            let cells: Vec<String> = wrapped.iter().map(|w| w.get(i).cloned().unwrap_or_default()).collect();
            line(&cells, out);
        }
        out.push_str(&border);
        out.push('\n');
    }
}

pub fn render(r: &RecommendReport) -> String {
    let mut out = String::new();
    for n in &r.templates.notes {
        out.push_str(&format!("templates: {}\n", esc(n)));
    }
    for (n, i) in r.images.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let facts = image_facts(r, i);
        let kw = facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in facts {
            out.push_str(&format!("  {k:<kw$} | {}\n", esc(&v)));
        }
        if !i.policies.is_empty() {
            let rows: Vec<Vec<String>> = i
                .policies
                .iter()
                .map(|p| {
                    vec![esc(&p.file), esc(&p.summary), p.severity.to_string(), esc(&p.action), esc(&p.tags.join(", "))]
                })
                .collect();
            table(
                &["POLICY", "SHORT DESC", "SEVERITY", "ACTION", "TAGS"],
                &[35, 36, 8, 6, TAGS_WIDTH],
                &rows,
                &mut out,
            );
        } else if i.error.is_none() {
            out.push_str("  (no template applies)\n");
        }
        for note in &i.notes {
            out.push_str(&format!("  note: {}\n", esc(note)));
        }
        for d in &i.legacy_differences {
            out.push_str(&format!(
                "  differs from karmor: {} (ours: {}, karmor: {})\n",
                esc(&d.template),
                if d.ours { "recommended" } else { "skipped" },
                if d.karmor { "recommended" } else { "skipped" }
            ));
        }
        if r.explain {
            for s in &i.skipped {
                out.push_str(&format!("  skipped {}: {}\n", esc(&s.template), esc(&s.reason)));
            }
            for p in &i.policies {
                for e in &p.evidence {
                    out.push_str(&format!(
                        "  evidence {}: {} -> {}\n",
                        esc(&p.file),
                        esc(&e.precondition),
                        esc(&e.matched.join(", "))
                    ));
                }
            }
        }
    }
    out
}
