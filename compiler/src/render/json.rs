//! JSON output: exactly one object, `{"version":1,"summary":{...},"diagnostics":[...]}`.
//! Lines and columns are 1-based, columns in Unicode scalar values, ends exclusive;
//! file-level findings sit at 1:1. At most `Options::max_findings` findings per file are listed;
//! `summary.not_shown` counts the rest (the error and warning counts include them).

use super::{position, LintReport, Options};
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
    not_shown: usize,
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

pub fn render(report: &LintReport, options: &Options) -> String {
    let (shown, hidden) = super::shown(report, options.max_findings);
    let output = Output {
        version: 1,
        summary: Summary {
            files: report.files,
            documents: report.documents,
            skipped: report.skipped,
            errors: report.errors(),
            warnings: report.warnings(),
            suppressed: report.suppressed,
            not_shown: hidden.iter().map(|(_, n)| n).sum(),
        },
        diagnostics: shown
            .into_iter()
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
