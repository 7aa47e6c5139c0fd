//! JSON output: exactly one object, `{"version":1,"summary":{...},"diagnostics":[...]}`.
//! Lines and columns are 1-based, columns in Unicode scalar values, ends exclusive;
//! file-level findings sit at 1:1.

use super::{position, Report};
use crate::diag::Severity;
use serde::Serialize;

#[derive(Serialize)]
struct Output<'a> {
    version: u32,
    summary: Summary,
    diagnostics: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Summary {
    files: usize,
    documents: usize,
    skipped: usize,
    errors: usize,
    warnings: usize,
    suppressed: usize,
}

#[derive(Serialize)]
struct Entry<'a> {
    code: &'static str,
    severity: Severity,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: &'a str,
    help: Option<&'a str>,
}

pub fn render(report: &Report) -> String {
    let output = Output {
        version: 1,
        summary: Summary {
            files: report.files,
            documents: report.documents,
            skipped: report.skipped,
            errors: report.errors(),
            warnings: report.warnings(),
            suppressed: report.suppressed,
        },
        diagnostics: report
            .diagnostics
            .iter()
            .map(|d| {
                let (start, end) = position(d);
                Entry {
                    code: d.code.as_str(),
                    severity: d.severity,
                    file: &d.file.name,
                    line: start.line,
                    column: start.column,
                    end_line: end.line,
                    end_column: end.column,
                    message: &d.message,
                    help: d.help.as_deref(),
                }
            })
            .collect(),
    };
    let mut text = serde_json::to_string(&output).expect("plain structs serialize");
    text.push('\n');
    text
}
