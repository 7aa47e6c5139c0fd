//! One renderer per format over the same [`Report`]: `text` (karmor's aligned tables),
//! `markdown`, `json` (the report as is), `html` (self-contained, inline SVG charts).

mod html;
mod json;
mod markdown;
mod text;

use super::{status_text, time_text, ConnectionRow, PathRow, Report, Tables, WorkloadSummary, TABLE_TITLES};
// Event fields are untrusted and must not drive a terminal (text and Markdown tables).
use armorc_compiler::render::escape_controls;
use std::borrow::Cow;
use std::io::{self, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Html,
}

impl Format {
    /// `text`, `json`, `markdown` or `html`.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            "markdown" => Some(Format::Markdown),
            "html" => Some(Format::Html),
            _ => None,
        }
    }
}

/// Write `report` in `format` to `out`, a workload at a time (a large report is never held
/// whole as text).
pub fn render(report: &Report<'_>, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Text => text::render(report, out),
        Format::Json => json::render(report, out),
        Format::Markdown => markdown::render(report, out),
        Format::Html => html::render(report, out),
    }
}

/// One non-empty table: its title, karmor's headers, and its rows, whose cells are made on demand
/// (a report of 200,000 rows is not copied cell by cell before it is written).
struct Grid<'r> {
    title: &'static str,
    headers: &'static [&'static str],
    rows: Rows<'r>,
}

enum Rows<'r> {
    Paths(&'r [PathRow<'r>]),
    Connections(&'r [ConnectionRow<'r>]),
    Binds(&'r [ConnectionRow<'r>]),
}

impl<'r> Rows<'r> {
    fn len(&self) -> usize {
        match self {
            Rows::Paths(rows) => rows.len(),
            Rows::Connections(rows) | Rows::Binds(rows) => rows.len(),
        }
    }

    /// Row `i`'s cells as plain text (each renderer escapes them its own way).
    fn cells(&self, i: usize) -> Vec<Cow<'r, str>> {
        match self {
            Rows::Paths(rows) => {
                let r = &rows[i];
                vec![
                    Cow::Borrowed(r.source),
                    r.destination.clone(),
                    Cow::Owned(r.count.to_string()),
                    Cow::Owned(time_text(r.last_updated)),
                    Cow::Owned(status_text(r.status)),
                ]
            }
            Rows::Connections(rows) => {
                let r = &rows[i];
                vec![
                    Cow::Borrowed(r.protocol),
                    Cow::Borrowed(r.command),
                    Cow::Owned(r.address.to_string()),
                    Cow::Owned(r.port.to_string()),
                    Cow::Borrowed(""),
                    Cow::Borrowed(""),
                    Cow::Owned(r.count.to_string()),
                    Cow::Owned(time_text(r.last_updated)),
                ]
            }
            Rows::Binds(rows) => {
                let r = &rows[i];
                vec![
                    Cow::Borrowed(r.protocol),
                    Cow::Borrowed(r.command),
                    Cow::Owned(r.port.to_string()),
                    Cow::Owned(r.address.to_string()),
                    Cow::Owned(r.count.to_string()),
                    Cow::Owned(time_text(r.last_updated)),
                ]
            }
        }
    }
}

const PROCESS_HEADERS: &[&str] = &["SRC PROCESS", "DESTINATION PROCESS PATH", "COUNT", "LAST UPDATED TIME", "STATUS"];
const FILE_HEADERS: &[&str] = &["SRC PROCESS", "DESTINATION FILE PATH", "COUNT", "LAST UPDATED TIME", "STATUS"];
/// NAMESPACE and LABELS are the peer's: karmor's discovery engine looks them up in the cluster;
/// events do not carry them, so these columns stay empty (docs/observe.md).
const CONNECTION_HEADERS: &[&str] =
    &["PROTOCOL", "COMMAND", "POD/SVC/IP", "PORT", "NAMESPACE", "LABELS", "COUNT", "LAST UPDATED TIME"];
const BIND_HEADERS: &[&str] = &["PROTOCOL", "COMMAND", "BIND PORT", "BIND ADDRESS", "COUNT", "LAST UPDATED TIME"];

/// The non-empty tables of a workload, in karmor's order.
fn grids<'r>(t: &'r Tables<'r>) -> Vec<Grid<'r>> {
    let all = [
        (PROCESS_HEADERS, Rows::Paths(&t.process)),
        (FILE_HEADERS, Rows::Paths(&t.file)),
        (CONNECTION_HEADERS, Rows::Connections(&t.ingress)),
        (CONNECTION_HEADERS, Rows::Connections(&t.egress)),
        (BIND_HEADERS, Rows::Binds(&t.bind)),
    ];
    TABLE_TITLES
        .into_iter()
        .zip(all)
        .filter(|(_, (_, rows))| rows.len() > 0)
        .map(|(title, (headers, rows))| Grid { title, headers, rows })
        .collect()
}

/// The group header, karmor's names: Pod Name, Namespace Name, Cluster Name, Container Name,
/// Labels; for host events Host Name and Cluster Name.
fn facts<'r>(w: &WorkloadSummary<'r>) -> Vec<(&'static str, &'r str)> {
    if !w.host.is_empty() {
        return vec![("Host Name", w.host), ("Cluster Name", w.cluster)];
    }
    vec![
        ("Pod Name", w.pod),
        ("Namespace Name", w.namespace),
        ("Cluster Name", w.cluster),
        ("Container Name", w.container),
        ("Labels", w.labels),
    ]
}

/// `14 events: 12 telemetry, 2 alerts; 0 filtered out; 0 telemetry without a table; 1 alert-only
/// row not shown`.
fn totals_line(r: &Report<'_>) -> String {
    let t = &r.totals;
    let mut line = format!(
        "{} events: {} telemetry, {} alerts; {} filtered out; {} telemetry without a table",
        t.events, t.telemetry, t.alerts, t.filtered_out, t.untabled
    );
    if t.alert_only_rows > 0 {
        line.push_str(&format!("; {} alert-only rows not shown", t.alert_only_rows));
    }
    if r.aggregated {
        line.push_str("; file paths aggregated");
    }
    line
}

#[cfg(test)]
mod tests;
