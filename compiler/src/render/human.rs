//! Human output: for each finding a miette report (`file:line:col: severity[CODE]`, message, the
//! source line(s) with the span underlined and labelled, help), then one summary line.

use super::{display_name, position, severity_word, LintReport, Options};
use crate::diag::{Diagnostic, Severity};
use crate::source::LineCol;
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan,
    SpanContents,
};
use std::fmt::Write;

/// Lines of context shown above and below a span.
const CONTEXT_LINES: usize = 1;
/// Bytes of a long source line shown: a window around the span (as rustc and ruff do), so a
/// finding costs the same output whatever the line's length. Shorter lines are shown whole.
pub const WINDOW_BYTES: usize = 240;
/// Bytes of the window before the span's start.
const WINDOW_BEFORE: usize = 80;
/// Lines of a multi-line span shown (from its first line); the label ends there.
pub const SPAN_LINES: usize = 8;
/// Marks a line cut at the window's edge.
const ELLIPSIS: &str = "…";

pub fn render(report: &LintReport, options: &Options) -> String {
    let theme = if options.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_context_lines(CONTEXT_LINES)
        .with_links(false);
    let mut out = String::new();
    let (shown, hidden) = super::shown(report, options.max_findings);
    for d in shown {
        let shown = Shown::new(d);
        if handler.render_report(&mut out, &shown).is_err() {
            // Only when the span is outside the text: fall back to one plain line.
            let (start, _) = position(d);
            let _ = writeln!(
                out,
                "{}:{}:{}: {}[{}] {}",
                display_name(&d.file.name),
                start.line,
                start.column,
                severity_word(d.severity),
                d.code,
                d.message
            );
        }
        out.push('\n');
    }
    for (file, n) in hidden {
        let _ = writeln!(
            out,
            "{}: {} not shown (at most {} per file; --max-findings)",
            display_name(file),
            plural(n, "more finding"),
            options.max_findings
        );
    }
    out.push_str(&summary(report));
    out.push('\n');
    out
}

/// `N files, N KubeArmor documents, N skipped: N errors, N warnings, N suppressed`.
pub fn summary(report: &LintReport) -> String {
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

/// A `Diagnostic` seen through miette's `Diagnostic` trait, its source cut to an excerpt.
struct Shown<'a> {
    d: &'a Diagnostic,
    code: String,
    excerpt: Excerpt,
    labels: Vec<LabeledSpan>,
}

impl<'a> Shown<'a> {
    fn new(d: &'a Diagnostic) -> Self {
        // `file:line:col: severity[CODE]` first: one line per finding to grep or click, and the
        // finding's own position even when miette shows a related span's snippet first.
        let (start, _) = position(d);
        let code = format!(
            "{}:{}:{}: {}[{}]",
            display_name(&d.file.name),
            start.line,
            start.column,
            severity_word(d.severity),
            d.code
        );
        let (excerpt, labels) = Excerpt::new(d);
        Shown { d, code, excerpt, labels }
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
        Some(&self.excerpt)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// The part of a file one finding shows, as miette reads it: the lines around each span (the
/// file's lines, each cut to a window of `WINDOW_BYTES` around the span when longer), joined
/// into one small text. Labels point into this text; line numbers and the header's column are
/// the file's own (columns in Unicode scalar values, as every other output counts them).
/// Building it reads only those lines, so output and time per finding stay bounded.
struct Excerpt {
    name: String,
    text: String,
    lines: Vec<ExcerptLine>,
    /// Each label's start in `text` and its position in the file.
    starts: Vec<(usize, LineCol)>,
}

struct ExcerptLine {
    /// Byte range in `Excerpt::text`, line break included.
    start: usize,
    end: usize,
    /// 0-based line number in the file.
    line: usize,
    /// Lines of one segment are consecutive in the file; segments are apart.
    segment: usize,
    /// Where the window's text starts in `Excerpt::text`.
    window_at: usize,
    /// The line in the file (without its line break) and the window's byte range in it.
    file_start: usize,
    file_len: usize,
    window: (usize, usize),
}

impl ExcerptLine {
    /// Position in the excerpt of the file offset `offset` on this line: inside the window as
    /// is, left of it at the leading ellipsis, right of it at the trailing one (`end`: after it).
    fn map(&self, text: &str, offset: usize, end: bool) -> usize {
        let column = offset.saturating_sub(self.file_start);
        let (from, to) = self.window;
        if column > self.file_len {
            return if end { self.end } else { self.window_at + (to - from) };
        }
        if column < from {
            return if end { self.window_at } else { self.start };
        }
        if column > to {
            let past = self.window_at + (to - from);
            return if end { past + ELLIPSIS.len().min(self.end - past) } else { past };
        }
        floor_boundary(text, self.window_at + column - from)
    }
}

impl Excerpt {
    fn new(d: &Diagnostic) -> (Excerpt, Vec<LabeledSpan>) {
        let file = &d.file;
        let text = file.text.as_str();
        let len = text.len();
        // (label, primary, start, end) in file offsets; a file-level finding points at 1:1.
        let (start, end) = d.span.map(|s| (s.start, s.end)).unwrap_or((0, 0));
        let mut spans = vec![(d.label.clone(), true, start, end)];
        spans.extend(d.related.iter().map(|(s, t)| (Some(t.clone()), false, s.start, s.end)));
        let mut ranges = Vec::new();
        for (_, _, start, end) in &mut spans {
            *start = floor_boundary(text, (*start).min(len));
            *end = floor_boundary(text, (*end).min(len)).max(*start);
            let first = file.line_index(*start);
            // The span's last byte decides its last line (a span ending at a newline stays on it).
            let mut last = if *end > *start { file.line_index(*end - 1) } else { first };
            if last - first >= SPAN_LINES {
                last = first + SPAN_LINES - 1;
                *end = file.line_range(last).end;
            }
            let last_line = file.line_count() - 1;
            ranges.push((first.saturating_sub(CONTEXT_LINES), (last + CONTEXT_LINES).min(last_line), *start));
        }
        // Segments: the line ranges merged where they touch, as miette merges its contexts.
        ranges.sort_unstable();
        let mut segments: Vec<(usize, usize)> = Vec::new();
        for &(from, to, _) in &ranges {
            match segments.last_mut() {
                Some(last) if from <= last.1 + 1 => last.1 = last.1.max(to),
                _ => segments.push((from, to)),
            }
        }
        let mut excerpt = Excerpt {
            name: display_name(&file.name).into_owned(),
            text: String::new(),
            lines: Vec::new(),
            starts: Vec::new(),
        };
        for (segment, &(from, to)) in segments.iter().enumerate() {
            // The window's anchor: the primary span's start if it is here, else the first span's.
            let inside = |s: &usize| (from..=to).contains(&file.line_index(*s));
            let anchor = spans
                .iter()
                .find(|s| s.1 && inside(&s.2))
                .or_else(|| spans.iter().filter(|s| inside(&s.2)).min_by_key(|s| s.2))
                .map(|s| s.2 - file.line_range(file.line_index(s.2)).start)
                .unwrap_or(0);
            for line in from..=to {
                let range = file.line_range(line);
                let window = window(&text[range.clone()], anchor);
                let start = excerpt.text.len();
                if window.0 > 0 {
                    excerpt.text.push_str(ELLIPSIS);
                }
                let window_at = excerpt.text.len();
                push_visible(&mut excerpt.text, &text[range.start + window.0..range.start + window.1]);
                if window.1 < range.len() {
                    excerpt.text.push_str(ELLIPSIS);
                }
                if line + 1 < file.line_count() {
                    excerpt.text.push('\n');
                }
                excerpt.lines.push(ExcerptLine {
                    start,
                    end: excerpt.text.len(),
                    line,
                    segment,
                    window_at,
                    file_start: range.start,
                    file_len: range.len(),
                    window,
                });
            }
        }
        let mut labels = Vec::with_capacity(spans.len());
        for (label, primary, start, end) in spans {
            let at = excerpt.line_of(file.line_index(start));
            let from = excerpt.lines[at].map(&excerpt.text, start, false);
            let last = if end > start { file.line_index(end - 1) } else { file.line_index(start) };
            let to = excerpt.lines[excerpt.line_of(last)].map(&excerpt.text, end, true).max(from);
            excerpt.starts.push((from, file.line_col(start)));
            let span: SourceSpan = (from, to - from).into();
            labels.push(if primary {
                LabeledSpan::new_primary_with_span(label, span)
            } else {
                LabeledSpan::new_with_span(label, span)
            });
        }
        (excerpt, labels)
    }

    /// Index in `lines` of file line `line` (every span's lines are in the excerpt).
    fn line_of(&self, line: usize) -> usize {
        self.lines.partition_point(|l| l.line < line).min(self.lines.len() - 1)
    }

    /// Index in `lines` of the line holding excerpt offset `offset`.
    fn line_at(&self, offset: usize) -> usize {
        self.lines.partition_point(|l| l.start <= offset).saturating_sub(1)
    }
}

impl SourceCode for Excerpt {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let start = span.offset();
        let end = start + span.len();
        if end > self.text.len() || self.lines.is_empty() {
            return Err(MietteError::OutOfBounds);
        }
        let first = self.line_at(start);
        let segment = self.lines[first].segment;
        let mut last = if end > start { self.line_at(end - 1) } else { first };
        // Context stays inside the segment: the lines next to it are not the file's neighbours.
        let seg_first = self.lines[..first].iter().rposition(|l| l.segment != segment).map_or(0, |i| i + 1);
        let seg_last =
            self.lines[first..].iter().position(|l| l.segment != segment).map_or(self.lines.len(), |i| first + i) - 1;
        last = last.min(seg_last);
        let from = first.saturating_sub(before).max(seg_first);
        let to = (last + after).min(seg_last);
        let (data_from, line, column) = if before == 0 {
            let position = self.starts.iter().find(|(at, _)| *at == start).map(|(_, p)| *p);
            match position {
                Some(p) => (start, p.line - 1, p.column - 1),
                None => (start, self.lines[first].line, 0),
            }
        } else {
            (self.lines[from].start, self.lines[from].line, 0)
        };
        let data = &self.text[data_from..self.lines[to].end];
        let lines = data.matches('\n').count() + usize::from(!data.ends_with('\n'));
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            data.as_bytes(),
            (data_from, data.len()).into(),
            line,
            column,
            lines,
        )))
    }
}

/// The byte range of `line` shown when the span starts at byte `anchor` of it: all of a short
/// line, else `WINDOW_BYTES` starting `WINDOW_BEFORE` before the anchor (on char boundaries).
fn window(line: &str, anchor: usize) -> (usize, usize) {
    if line.len() <= WINDOW_BYTES {
        return (0, line.len());
    }
    let from = anchor.saturating_sub(WINDOW_BEFORE).min(line.len() - WINDOW_BYTES);
    (floor_boundary(line, from), floor_boundary(line, from + WINDOW_BYTES))
}

/// Append `text` with terminal control characters replaced by characters of the same UTF-8
/// length (so offsets into the excerpt stay valid): C0 and DEL by `?`, C1 by `¿`, bidi
/// overrides by U+FFFD. A source line cannot move the cursor or reorder what is shown.
fn push_visible(out: &mut String, text: &str) {
    for c in text.chars() {
        out.push(match c {
            '\t' => c,
            '\u{0}'..='\u{1f}' | '\u{7f}' => '?',
            '\u{80}'..='\u{9f}' => '¿',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '\u{fffd}',
            _ => c,
        });
    }
}

/// The char boundary at or before `offset`.
fn floor_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::Code;
    use crate::source::{SourceFile, Span};

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
        Options {
            color: false,
            width: 100,
            base_dir: "/".into(),
            cwd: "/".into(),
            version: "0".into(),
            max_findings: 100,
        }
    }

    fn one(d: Diagnostic) -> String {
        render(&LintReport { files: 1, documents: 1, diagnostics: vec![d], ..LintReport::default() }, &options())
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

    /// A finding past column 65,535 (miette pads with the column: Rust's format width is a u16)
    /// and one in the middle of a 200 KB line: no panic, and the snippet is a bounded window.
    #[test]
    fn long_lines_are_windowed() {
        for (before, after) in [(70_000, 10), (100_000, 100_000), (0, 200_000)] {
            let text = format!("k: {}BAD{}\nnext: 1\n", "x".repeat(before), "y".repeat(after));
            let start = text.find("BAD").unwrap();
            let out = one(diagnostic(&text, Some(Span::new(start, start + 3))));
            assert!(out.len() < 3_000, "{} bytes of output", out.len());
            assert!(out.contains("BAD"), "{out}");
            assert!(out.contains(&format!("f.yaml:1:{}", before + 4)), "{out}");
            assert_eq!(out.contains("…x"), before > 0, "{out}");
            assert_eq!(out.contains("y…"), after > 200, "{out}");
            assert!(out.contains("2 │ next: 1"), "{out}");
        }
        // A span covering the whole line is cut at the window too.
        let text = "z".repeat(300_000);
        let out = one(diagnostic(&text, Some(Span::new(0, text.len()))));
        assert!(out.len() < 3_000, "{} bytes of output", out.len());
    }

    #[test]
    fn long_spans_show_a_bounded_number_of_lines() {
        let text: String = (0..10_000).map(|i| format!("line{i}: 1\n")).collect();
        let out = one(diagnostic(&text, Some(Span::new(0, text.len()))));
        assert!(out.contains("line0: 1") && out.contains(&format!("line{}: 1", SPAN_LINES - 1)), "{out}");
        assert!(!out.contains(&format!("line{}: 1", SPAN_LINES + 1)), "{out}");
    }

    #[test]
    fn related_spans_far_apart_keep_their_line_numbers() {
        let text: String = (1..=500).map(|i| format!("l{i}: v\n")).collect();
        let at = |s: &str| text.find(s).unwrap();
        let mut d = diagnostic(&text, Some(Span::new(at("l400:"), at("l400:") + 4)));
        d.related.push((Span::new(at("l3:"), at("l3:") + 2), "first".into()));
        let out = one(d);
        assert!(out.starts_with("f.yaml:400:1: warning[Y001]"), "{out}");
        for line in ["2 │ l2: v", "3 │ l3: v", "4 │ l4: v", "399 │ l399: v", "400 │ l400: v", "401 │ l401: v"]
        {
            assert!(out.contains(line), "{line}: {out}");
        }
        assert!(!out.contains("l200"), "{out}");
    }

    #[test]
    fn control_characters_are_not_printed() {
        let text = "a: \u{1b}[2Jb\u{202e}c\u{85}\n";
        let mut d = diagnostic(text, Some(Span::new(3, 6)));
        d.file = SourceFile::new("evil\nf.yaml:9:9: error[X]\u{1b}[0m", text);
        let out = one(d);
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        assert!(!out.contains('\u{202e}'), "{out:?}");
        assert!(out.starts_with("evil\\u{a}f.yaml:9:9: error[X]\\u{1b}[0m:1:4: warning[Y001]\n"), "{out}");
        assert!(!out.lines().any(|l| l.starts_with("f.yaml:9:9")), "{out}");
    }

    #[test]
    fn findings_per_file_are_capped_and_counted() {
        let text = "k: v\n";
        let diagnostics: Vec<Diagnostic> = (0..250).map(|_| diagnostic(text, Some(Span::new(0, 1)))).collect();
        let report = LintReport { files: 1, documents: 1, diagnostics, ..LintReport::default() };
        let out = render(&report, &options());
        assert_eq!(out.matches("warning[Y001]").count(), 100, "{out}");
        assert!(out.contains("f.yaml: 150 more findings not shown (at most 100 per file; --max-findings)"), "{out}");
        assert!(out.ends_with("0 errors, 250 warnings, 0 suppressed\n"), "{out}");
        let all = render(&report, &Options { max_findings: 0, ..options() });
        assert_eq!(all.matches("warning[Y001]").count(), 250);
    }
}
