//! Self-contained HTML report: inline CSS, no scripts, no external `src`/`href` (reference URLs
//! are shown as text), a summary by tag and severity, then per image the facts and policies.

use super::{image_facts, RecommendReport};

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px;background:#f4f6fa;color:#1d2433}\
h1{background:#1f4e8c;color:#fff;padding:12px 16px;border-radius:6px}\
h2{border-bottom:2px solid #1f4e8c;padding-bottom:4px}\
table{border-collapse:collapse;margin:8px 0 16px;background:#fff}\
th,td{border:1px solid #c9d1de;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#dbe5f3}.bar{display:inline-block;height:12px;background:#e07a1f;border-radius:2px}\
.Block{color:#b3261e;font-weight:bold}.Audit{color:#8a6d00;font-weight:bold}.Allow{color:#1b7a33;font-weight:bold}\
.error{background:#fde2e1;border:1px solid #b3261e;padding:8px;border-radius:4px}\
.summary{display:flex;gap:32px;flex-wrap:wrap}code{font-size:90%}";

pub fn render(r: &RecommendReport) -> String {
    let (tags, sev) = r.counts();
    let total: usize = r.images.iter().map(|i| i.policies.len()).sum();
    let max = tags.values().chain(sev.values()).copied().max().unwrap_or(1).max(1);
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    o.push_str("<title>armorc recommend report</title><style>");
    o.push_str(STYLE);
    o.push_str("</style></head><body>\n<h1>armorc recommend report</h1>\n");
    o.push_str(&format!(
        "<p id=\"totals\" data-policies=\"{total}\" data-images=\"{}\">{} policies for {} image(s); templates: {} ({})</p>\n",
        r.images.len(),
        total,
        r.images.len(),
        esc(&r.templates.source),
        esc(&r.templates.commit.clone().unwrap_or_else(|| r.templates.digest.clone()))
    ));
    for n in &r.templates.notes {
        o.push_str(&format!("<p class=\"note\">Templates: {}</p>\n", esc(n)));
    }
    o.push_str("<div class=\"summary\"><div><h2>By tag</h2><table id=\"by-tag\"><tr><th>Tag</th><th>Policies</th><th></th></tr>\n");
    for (t, n) in &tags {
        o.push_str(&format!(
            "<tr class=\"tag-count\" data-tag=\"{}\" data-count=\"{n}\"><td>{}</td><td>{n}</td><td><span class=\"bar\" style=\"width:{}px\"></span></td></tr>\n",
            esc(t),
            esc(t),
            1 + n * 120 / max
        ));
    }
    o.push_str("</table></div><div><h2>By severity</h2><table id=\"by-severity\"><tr><th>Severity</th><th>Policies</th><th></th></tr>\n");
    for (s, n) in sev.iter().rev() {
        o.push_str(&format!(
            "<tr class=\"severity-count\" data-severity=\"{s}\" data-count=\"{n}\"><td>{s}/10</td><td>{n}</td><td><span class=\"bar\" style=\"width:{}px\"></span></td></tr>\n",
            1 + n * 120 / max
        ));
    }
    o.push_str("</table></div></div>\n");
    for i in &r.images {
        o.push_str(&format!("<section class=\"image\"><h2>{}</h2>\n", esc(&i.image)));
        if let Some(e) = &i.error {
            o.push_str(&format!("<p class=\"error\">Failed: {}</p>\n", esc(e)));
        }
        o.push_str("<table class=\"facts\">");
        for (k, v) in image_facts(r, i) {
            o.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v)));
        }
        o.push_str("</table>\n");
        if !i.policies.is_empty() {
            o.push_str("<table class=\"policies\"><tr><th>POLICY</th><th>DESCRIPTION</th><th>SEVERITY</th><th>ACTION</th><th>TAGS</th></tr>\n");
            for p in &i.policies {
                let evidence: Vec<String> = p
                    .evidence
                    .iter()
                    .map(|e| format!("<code>{}</code>: {}", esc(&e.precondition), esc(&e.matched.join(", "))))
                    .collect();
                o.push_str(&format!(
                    "<tr><td><code>{}</code></td><td>{}<details><summary>evidence</summary>{}</details></td><td>{}/10</td><td class=\"{}\">{}</td><td>{}</td></tr>\n",
                    esc(&p.file),
                    esc(&p.summary),
                    evidence.join("<br>"),
                    p.severity,
                    esc(&p.action),
                    esc(&p.action),
                    p.tags.iter().map(|t| esc(t)).collect::<Vec<_>>().join("<br>")
                ));
            }
            o.push_str("</table>\n");
        }
        for n in &i.notes {
            o.push_str(&format!("<p class=\"note\">Note: {}</p>\n", esc(n)));
        }
        for d in &i.legacy_differences {
            o.push_str(&format!(
                "<p class=\"difference\">Differs from karmor: <code>{}</code> (ours: {}, karmor: {})</p>\n",
                esc(&d.template),
                d.ours,
                d.karmor
            ));
        }
        if r.explain && !i.skipped.is_empty() {
            o.push_str("<details><summary>Skipped templates</summary><ul>");
            for s in &i.skipped {
                o.push_str(&format!("<li><code>{}</code>: {}</li>", esc(&s.template), esc(&s.reason)));
            }
            o.push_str("</ul></details>\n");
        }
        o.push_str("</section>\n");
    }
    o.push_str("</body></html>\n");
    o
}
