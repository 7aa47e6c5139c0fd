//! Markdown report (PR comments): the same facts as the text report.

use super::{image_facts, Report};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

pub fn render(r: &Report) -> String {
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
                    p.file,
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
                d.template, d.ours, d.karmor
            ));
        }
        if r.explain {
            for s in &i.skipped {
                out.push_str(&format!("- skipped `{}`: {}\n", s.template, cell(&s.reason)));
            }
            for p in &i.policies {
                for e in &p.evidence {
                    out.push_str(&format!(
                        "- evidence `{}`: `{}` matched {}\n",
                        p.file,
                        e.precondition,
                        cell(&e.matched.join(", "))
                    ));
                }
            }
        }
        out.push('\n');
    }
    out
}
