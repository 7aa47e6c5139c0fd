//! Accumulates profile text and its source map together, so every line is mapped by construction.

use super::sourcemap::{LineFrom, MapBuilder, OriginEntry};
use crate::model::apparmor::{LineNumber, TextLine, TextLines};
use foldhash::fast::FixedState;
use std::collections::HashMap;

pub struct Writer<'a> {
    text: String,
    /// Every line of `text`, numbered: rule lines by the lowering's run-wide table, the others by
    /// `own` (the profiles of a file repeat them).
    record_lines: bool,
    lines: Vec<TextLine>,
    own: HashMap<String, u32, FixedState>,
    map: MapBuilder<'a>,
    /// The profile block being written and its first line.
    profile: Option<(String, usize)>,
}

impl Writer<'_> {
    /// `record_lines`: whether `finish` gives the text's lines (`TextLines`) too.
    pub fn new(record_lines: bool) -> Self {
        // Profiles are tens of KB: start big enough to skip most regrowth copies.
        Writer {
            text: String::with_capacity(64 * 1024),
            record_lines,
            lines: Vec::with_capacity(if record_lines { 2048 } else { 0 }),
            own: HashMap::default(),
            map: MapBuilder::default(),
            profile: None,
        }
    }
}

impl<'a> Writer<'a> {
    pub fn open_profile(&mut self, name: &str, header: String) {
        self.push_text(&header, false, None);
        let first = self.map.line(LineFrom::Base, &[]);
        self.profile = Some((name.to_string(), first));
    }

    pub fn close_profile(&mut self) {
        self.push_text("}", false, None);
        let last = self.map.line(LineFrom::Post, &[]);
        if let Some((name, first)) = self.profile.take() {
            self.map.profile(&name, first, last);
        }
    }

    pub fn base(&mut self, text: impl AsRef<str>) {
        self.push(text.as_ref(), LineFrom::Base, &[], None);
    }

    pub fn post(&mut self, text: impl AsRef<str>) {
        self.push(text.as_ref(), LineFrom::Post, &[], None);
    }

    /// The rule-table index of the origin the caller numbers `id`, for [`Writer::rule`].
    pub fn intern(&mut self, id: u32, origin: &'a OriginEntry) -> u32 {
        self.map.intern(id, origin)
    }

    /// A rule line; `number`: its number in the lowering's run-wide line table, if it has one.
    pub fn rule(&mut self, text: &str, from: LineFrom, origins: &[u32], number: Option<u32>) {
        self.push(text, from, origins, number);
    }

    fn push(&mut self, text: &str, from: LineFrom, origins: &[u32], number: Option<u32>) {
        // Nested `profile` lines and closing braces stay at the margin, as the headers do.
        let indent = self.profile.is_some() && !text.starts_with("profile ") && text != "}";
        self.push_text(text, indent, number);
        self.map.line(from, origins);
    }

    fn push_text(&mut self, text: &str, indent: bool, number: Option<u32>) {
        let start = self.text.len() as u32;
        if indent {
            self.text.push_str("  ");
        }
        self.text.push_str(text);
        if !self.record_lines {
            return self.text.push('\n');
        }
        let number = match number {
            Some(n) => LineNumber::Table(n),
            None => {
                let next = self.own.len() as u32;
                LineNumber::Text(match self.own.get(text) {
                    Some(&n) => n,
                    None => *self.own.entry(text.to_string()).or_insert(next),
                })
            }
        };
        self.lines.push(TextLine { start, end: self.text.len() as u32, number: Some(number) });
        self.text.push('\n');
    }

    /// The profile text, its lines (numbers of run-wide table `table`) and its source map JSON.
    pub fn finish(self, profile: &str, file: &str, table: u64) -> (String, TextLines, String) {
        // Without recorded lines the profile names no table (equal lowerings, equal profiles).
        let lines = if self.record_lines { TextLines { table, lines: self.lines } } else { TextLines::default() };
        (self.text, lines, self.map.to_json(profile, file))
    }
}
