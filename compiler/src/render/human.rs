//! Human output: for each finding a miette report (`file:line:col: severity[CODE]`, message, the
//! source line(s) with the span underlined and labelled, help), then one summary line.

use super::{position, severity_word, Options, Report};
use crate::diag::{Diagnostic, Severity};
use crate::source::SourceFile;
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan,
    SpanContents,
};
use std::fmt::Write;

/// Lines of context shown above and below a span.
const CONTEXT_LINES: usize = 1;

pub fn render(report: &Report, options: &Options) -> String {
    let theme = if options.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_context_lines(CONTEXT_LINES)
        .with_links(false);
    let mut out = String::new();
    for d in &report.diagnostics {
        let shown = Shown::new(d);
        if handler.render_report(&mut out, &shown).is_err() {
            // Only when the span is outside the text: fall back to one plain line.
            let (start, _) = position(d);
            let _ = writeln!(
                out,
                "{}:{}:{}: {}[{}] {}",
                d.file.name,
                start.line,
                start.column,
                severity_word(d.severity),
                d.code,
                d.message
            );
        }
        out.push('\n');
    }
    out.push_str(&summary(report));
    out.push('\n');
    out
}

/// `N files, N KubeArmor documents, N skipped: N errors, N warnings, N suppressed`.
pub fn summary(report: &Report) -> String {
    format!(
        "{}, {}, {} skipped: {}, {}, {} suppressed",
        plural(report.files, "file"),
        plural(report.documents, "KubeArmor document"),
        report.skipped,
        plural(report.errors(), "error"),
        plural(report.warnings(), "warning"),
        report.suppressed
    )
}

/// `1 file`, `2 files`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A `Diagnostic` seen through miette's `Diagnostic` trait.
struct Shown<'a> {
    d: &'a Diagnostic,
    code: String,
    source: LineView<'a>,
}

impl<'a> Shown<'a> {
    fn new(d: &'a Diagnostic) -> Self {
        // `file:line:col: severity[CODE]` first: one line per finding to grep or click, and the
        // finding's own position even when miette shows a related span's snippet first.
        let (start, _) = position(d);
        let code =
            format!("{}:{}:{}: {}[{}]", d.file.name, start.line, start.column, severity_word(d.severity), d.code);
        Shown { d, code, source: LineView(&d.file) }
    }
}

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl std::error::Error for Shown<'_> {}

impl miette::Diagnostic for Shown<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(&self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.d.help.as_ref().map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.d.file.text.len();
        let clamp = |start: usize, end: usize| -> SourceSpan {
            let start = start.min(len);
            (start, end.min(len).saturating_sub(start)).into()
        };
        // A file-level finding points at 1:1.
        let (start, end) = self.d.span.map(|s| (s.start, s.end)).unwrap_or((0, 0));
        let mut labels = vec![LabeledSpan::new_primary_with_span(self.d.label.clone(), clamp(start, end))];
        for (span, text) in &self.d.related {
            labels.push(LabeledSpan::new_with_span(Some(text.clone()), clamp(span.start, span.end)));
        }
        Some(Box::new(labels.into_iter()))
    }
}

/// miette's own `SourceCode` for `str` scans the text from its start for every span and counts
/// columns in bytes; this view reads only the lines around the span and counts columns in
/// Unicode scalar values, as every other output does.
struct LineView<'a>(&'a SourceFile);

impl SourceCode for LineView<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let text = self.0.text.as_str();
        let start = span.offset();
        let end = start + span.len();
        if start > text.len() || end > text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let first_line_start = line_start(text, start);
        let mut from = first_line_start;
        for _ in 0..before {
            if from == 0 {
                break;
            }
            from = line_start(text, from - 1);
        }
        // The span's last byte decides its last line (a span ending at a newline stays on it).
        let last = if end > start { end - 1 } else { end };
        let mut to = line_end(text, last);
        for _ in 0..after {
            if to >= text.len() {
                break;
            }
            to = line_end(text, to);
        }
        let start = floor_boundary(text, start);
        let position = self.0.line_col(if before == 0 { start } else { from });
        let (data_from, column) = if before == 0 { (start, position.column - 1) } else { (from, 0) };
        let data = &text[data_from..to];
        let lines = data.matches('\n').count() + usize::from(!data.ends_with('\n'));
        Ok(Box::new(MietteSpanContents::new_named(
            self.0.name.clone(),
            data.as_bytes(),
            (data_from, to - data_from).into(),
            position.line - 1,
            column,
            lines,
        )))
    }
}

/// Offset of the start of the line holding `offset` (bytewise: `offset` need not be a char boundary).
fn line_start(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset].iter().rposition(|&b| b == b'\n').map(|i| i + 1).unwrap_or(0)
}

/// Offset just past the newline ending the line holding `offset` (or the end of the text).
fn line_end(text: &str, offset: usize) -> usize {
    text.as_bytes()[offset..].iter().position(|&b| b == b'\n').map(|i| offset + i + 1).unwrap_or(text.len())
}

/// The char boundary at or before `offset`.
fn floor_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::Code;
    use crate::source::Span;

    fn diagnostic(text: &str, span: Option<Span>) -> Diagnostic {
        Diagnostic {
            code: Code::Y001,
            severity: Severity::Warning,
            message: "message".into(),
            file: SourceFile::new("f.yaml", text),
            span,
            label: Some("label".into()),
            help: Some("help text".into()),
            related: Vec::new(),
        }
    }

    fn options() -> Options {
        Options { color: false, width: 100, base_dir: "/".into(), cwd: "/".into(), version: "0".into() }
    }

    fn one(d: Diagnostic) -> String {
        render(&Report { files: 1, documents: 1, diagnostics: vec![d], ..Report::default() }, &options())
    }

    #[test]
    fn header_counts_columns_in_scalar_values() {
        let text = "a: 1\nnote: \"日本\" x: y\nz: 2\n";
        let start = text.find("x:").unwrap();
        let out = one(diagnostic(text, Some(Span::new(start, start + 1))));
        assert!(out.starts_with("f.yaml:2:12: warning[Y001]\n"), "{out}");
        assert!(out.contains("[f.yaml:2:12]"), "{out}");
        assert!(out.contains("1 │ a: 1") && out.contains("3 │ z: 2"), "one line of context each side: {out}");
        assert!(out.contains("help: help text"), "{out}");
        assert!(out.ends_with("1 file, 1 KubeArmor document, 0 skipped: 0 errors, 1 warning, 0 suppressed\n"), "{out}");
    }

    #[test]
    fn edge_spans_do_not_panic() {
        let text = "k: é\nlast";
        for span in [
            None,
            Some(Span::new(0, 0)),
            Some(Span::new(text.len(), text.len())),
            Some(Span::new(4, 5)), // inside the two bytes of é
            Some(Span::new(0, text.len())),
            Some(Span::new(text.len() + 5, text.len() + 9)),
        ] {
            let out = one(diagnostic(text, span));
            assert!(out.contains("message"), "{span:?}: {out}");
        }
        assert!(one(diagnostic("", None)).contains("message"));
        assert!(one(diagnostic("", None)).contains("[f.yaml:1:1]") || one(diagnostic("", None)).contains("f.yaml"));
    }
}
