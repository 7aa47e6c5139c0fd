//! karmor summary's text layout: per workload a key/value header, then bordered tables
//! (tablewriter's look: centred headers, left-aligned cells), then one totals line.

use super::{escape_controls, facts, grids, totals_line, Grid, Report};
use std::io::{self, Write};

fn pad(out: &mut String, text: &str, width: usize) {
    out.push_str(text);
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(text.chars().count())));
}

fn table(g: &Grid<'_>, out: &mut String) {
    // Two passes over the rows (widths, then text): cells are made twice, never all kept.
    let mut widths: Vec<usize> = g.headers.iter().map(|h| h.len()).collect();
    for i in 0..g.rows.len() {
        for (w, c) in widths.iter_mut().zip(g.rows.cells(i)) {
            *w = (*w).max(escape_controls(&c).chars().count());
        }
    }
    let mut border = String::from("+");
    for w in &widths {
        border.extend(std::iter::repeat_n('-', w + 2));
        border.push('+');
    }
    border.push('\n');
    out.push_str(&border);
    out.push('|');
    for (h, w) in g.headers.iter().zip(&widths) {
        // Centred by hand: `format!`'s widths stop at 65,535 and a path may be longer.
        let left = (w - h.len()) / 2;
        out.push(' ');
        out.extend(std::iter::repeat_n(' ', left));
        pad(out, h, w - left);
        out.push_str(" |");
    }
    out.push('\n');
    out.push_str(&border);
    for i in 0..g.rows.len() {
        out.push('|');
        for (c, w) in g.rows.cells(i).iter().zip(&widths) {
            out.push(' ');
            pad(out, &escape_controls(c), *w);
            out.push_str(" |");
        }
        out.push('\n');
    }
    out.push_str(&border);
}

pub fn render(r: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut text = String::new();
    for w in &r.workloads {
        text.clear();
        text.push('\n');
        let facts = facts(w);
        let kw = facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in facts {
            text.push_str("  ");
            pad(&mut text, k, kw);
            text.push_str("  ");
            text.push_str(&escape_controls(v));
            text.push('\n');
        }
        for g in grids(&w.tables) {
            text.push_str(&format!("\n{}\n", g.title));
            table(&g, &mut text);
        }
        out.write_all(text.as_bytes())?;
    }
    writeln!(out, "\n{}", totals_line(r))
}
