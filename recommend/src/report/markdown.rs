//! Markdown report (PR comments): the same facts as the text report.

use super::{escape_controls, image_facts, RecommendReport};

/// Control characters escaped (a file name cannot end a table row) and `|`.
fn cell(s: &str) -> String {
    escape_controls(s).replace('|', "\\|")
}

pub fn render(r: &RecommendReport) -> String {
    let mut out = String::from("# armorc recommend report\n\n");
    for n in &r.templates.notes {
        out.push_str(&format!("- templates: {}\n", cell(n)));
    }
    if !r.templates.notes.is_empty() {
        out.push('\n');
    }
    for i in &r.images {
        out.push_str(&format!("## {}\n\n| | |\n|---|---|\n", cell(&i.image)));
        for (k, v) in image_facts(r, i) {
            out.push_str(&format!("| {k} | {} |\n", cell(&v)));
        }
        out.push('\n');
        if !i.policies.is_empty() {
            out.push_str("| POLICY | SHORT DESC | SEVERITY | ACTION | TAGS |\n|---|---|---|---|---|\n");
            for p in &i.policies {
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} | {} |\n",
                    cell(&p.file),
                    cell(&p.summary),
                    p.severity,
                    p.action,
                    cell(&p.tags.join(", "))
                ));
            }
            out.push('\n');
        }
        for note in &i.notes {
            out.push_str(&format!("- note: {}\n", cell(note)));
        }
        for d in &i.legacy_differences {
            out.push_str(&format!(
                "- differs from karmor: `{}` (ours: {}, karmor: {})\n",
                cell(&d.template),
                d.ours,
                d.karmor
            ));
        }
        if r.explain {
            for s in &i.skipped {
                out.push_str(&format!("- skipped `{}`: {}\n", cell(&s.template), cell(&s.reason)));
            }
            for p in &i.policies {
                for e in &p.evidence {
                    out.push_str(&format!(
                        "- evidence `{}`: `{}` matched {}\n",
                        cell(&p.file),
                        cell(&e.precondition),
                        cell(&e.matched.join(", "))
                    ));
                }
            }
        }
        out.push('\n');
    }
    out
}
