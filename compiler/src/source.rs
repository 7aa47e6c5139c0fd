//! Source files and byte spans. Every AST node carries a `Span` into the text of its `SourceFile`;
//! line/column are computed on demand (1-based, columns in Unicode scalar values).

use std::sync::Arc;

/// Half-open byte range `[start, end)` into a source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end: end.max(start) }
    }
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// One input: its display name (the path as reached from the argument, or `-`) and its text.
#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

/// A 1-based position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Self> {
        let text = text.into();
        // Count first (a fast vectorized pass) so the index is allocated once, not regrown:
        // regrowing large vectors touches fresh pages and shows up as page faults.
        let newlines = || memchr::memchr_iter(b'\n', text.as_bytes());
        let mut line_starts = Vec::with_capacity(newlines().count() + 1);
        line_starts.push(0);
        line_starts.extend(newlines().map(|i| i + 1));
        Arc::new(SourceFile { name: name.into(), text, line_starts })
    }

    /// 0-based index of the line holding byte `offset` (clamped to the text).
    pub fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// Number of lines (a text ending in a newline has an empty last line).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Byte range of line `index` (0-based) without its line break (`\n` or `\r\n`).
    pub fn line_range(&self, index: usize) -> std::ops::Range<usize> {
        let index = index.min(self.line_starts.len() - 1);
        let start = self.line_starts[index];
        let mut end = self.line_starts.get(index + 1).map(|&next| next - 1).unwrap_or(self.text.len());
        if end > start && self.text.as_bytes()[end - 1] == b'\r' {
            end -= 1;
        }
        start..end
    }

    /// 1-based line and column (in Unicode scalar values) of a byte offset.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = offset.min(self.text.len());
        let line = self.line_index(offset);
        let start = self.line_starts[line];
        let mut end = offset;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let column = self.text[start..end].chars().count() + 1;
        LineCol { line: line + 1, column }
    }
}
