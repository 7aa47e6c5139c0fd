//! Output formats for a lint run, one module per format (ruff/oxc style). Every renderer takes the
//! whole `LintReport` and returns the complete text, so nothing is printed when rendering fails.

pub mod github;
pub mod human;
pub mod json;
pub mod sarif;

use crate::codes::Code;
use crate::diag::{Diagnostic, Severity};
use crate::source::LineCol;
use std::borrow::Cow;
use std::path::PathBuf;

/// Everything a lint run found, after suppressions.
#[derive(Debug, Default)]
pub struct LintReport {
    /// Input files read (including ones that turned out not to be YAML or UTF-8).
    pub files: usize,
    /// KubeArmor documents checked.
    pub documents: usize,
    /// Documents of other kinds, or not checked yet (KubeArmorNetworkPolicy).
    pub skipped: usize,
    /// Findings dropped by suppression comments or `armorc.toml`.
    pub suppressed: usize,
    /// Findings in input order, then source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl LintReport {
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == severity).count()
    }
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Github,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Human format: ANSI colours (only for a terminal, never in tests).
    pub color: bool,
    /// Human format: wrap width.
    pub width: usize,
    /// SARIF: directory that URIs are relative to (git top-level or the current directory).
    pub base_dir: PathBuf,
    /// SARIF: the current directory, to make relative input paths absolute first.
    pub cwd: PathBuf,
    /// SARIF tool version.
    pub version: String,
    /// Findings printed per file (0 = all); the rest are counted (`armorc lint --max-findings`).
    pub max_findings: usize,
}

/// Default of `Options::max_findings`: enough to fix a file by, bounded for a hostile one.
pub const MAX_FINDINGS_PER_FILE: usize = 100;

impl Options {
    /// Options for the current process: colour only on a terminal without NO_COLOR, terminal width,
    /// SARIF base = the git top-level above the current directory, else the current directory.
    pub fn detect(version: &str) -> Self {
        use std::io::IsTerminal;
        let tty = std::io::stdout().is_terminal();
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        // Wrap at the terminal's width; fixed when not a terminal, so output is reproducible.
        let width =
            if tty { terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)).unwrap_or(100) } else { 100 };
        Options {
            color,
            width,
            base_dir: git_top_level(&cwd).unwrap_or_else(|| cwd.clone()),
            cwd,
            version: version.to_string(),
            max_findings: MAX_FINDINGS_PER_FILE,
        }
    }
}

/// The nearest ancestor of `dir` (itself included) that holds `.git`.
pub fn git_top_level(dir: &std::path::Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.join(".git").exists()).map(|d| d.to_path_buf())
}

pub fn render(format: Format, report: &LintReport, options: &Options) -> String {
    match format {
        Format::Human => human::render(report, options),
        Format::Json => json::render(report, options),
        Format::Sarif => sarif::render(report, options),
        Format::Github => github::render(report, options),
    }
}

/// The findings to print: at most `max` per file (0 = all), in report order; and for each file
/// with more, its name and how many were left out.
pub fn shown(report: &LintReport, max: usize) -> (Vec<&Diagnostic>, Vec<(&str, usize)>) {
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    // Files in order of their first finding.
    let mut files: Vec<&str> = Vec::new();
    let mut shown = Vec::new();
    for d in &report.diagnostics {
        let seen = counts.entry(d.file.name.as_str()).or_insert_with(|| {
            files.push(d.file.name.as_str());
            0
        });
        *seen += 1;
        if max == 0 || *seen <= max {
            shown.push(d);
        }
    }
    let hidden = files
        .into_iter()
        .filter_map(|f| Some((f, counts[f].checked_sub(max).filter(|&n| n > 0 && max > 0)?)))
        .collect();
    (shown, hidden)
}

/// A file name as human output prints it: control characters (a newline in a file name would
/// forge a line of output) escaped as `\u{a}`, `\u{1b}`, ... (bidi overrides too).
pub fn display_name(name: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !name.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// 1-based start and end (end exclusive) of a finding; file-level findings sit at 1:1.
pub fn position(d: &Diagnostic) -> (LineCol, LineCol) {
    match d.span {
        Some(span) => (d.file.line_col(span.start), d.file.line_col(span.end)),
        None => {
            let origin = LineCol { line: 1, column: 1 };
            (origin, origin)
        }
    }
}

pub fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A one-line description of a code, for SARIF rules.
pub fn code_title(code: Code) -> String {
    code.title().to_string()
}

/// Untrusted text (file names from an image, event fields) for a terminal or a Markdown table:
/// control characters (newline, escape, DEL, C1) and the invisible line/bidi controls are shown as
/// `\n`, `\u{1b}`, so a crafted name cannot forge report lines or terminal sequences.
/// `armorc recommend`'s reports and `armorc summary`'s tables both use it.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}
