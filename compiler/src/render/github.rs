//! GitHub Actions workflow commands: one `::error` / `::warning` annotation per finding.
//! Messages escape `%`, CR and LF; properties also escape `:` and `,`.

use super::{position, severity_word, LintReport, Options};
use std::fmt::Write;

pub fn render(report: &LintReport, options: &Options) -> String {
    let mut out = String::new();
    let (shown, hidden) = super::shown(report, options.max_findings);
    for d in shown {
        let (start, end) = position(d);
        let _ = writeln!(
            out,
            "::{} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            severity_word(d.severity),
            escape_property(&d.file.name),
            start.line,
            start.column,
            end.line,
            end.column,
            escape_property(d.code.as_str()),
            escape_data(&d.message)
        );
    }
    for (file, n) in hidden {
        let _ = writeln!(
            out,
            "::notice file={}::{n} more finding(s) in this file not shown (at most {} per file; --max-findings)",
            escape_property(file),
            options.max_findings
        );
    }
    out
}

/// Escaping for the message part of a workflow command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escaping for a property value (`file=`, `title=`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape_data("50% a\r\nb: c,d"), "50%25 a%0D%0Ab: c,d");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }
}
