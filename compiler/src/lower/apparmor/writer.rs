//! Accumulates profile text and its source map together, so every line is mapped by construction.

use super::sourcemap::{LineFrom, MapLine, RuleOrigin, SourceMap};

#[derive(Default)]
pub struct Writer {
    text: String,
    lines: Vec<MapLine>,
    /// The profile block being written.
    profile: Option<String>,
}

impl Writer {
    pub fn open_profile(&mut self, name: &str, header: String) {
        self.profile = Some(name.to_string());
        self.push(header, LineFrom::Base, vec![]);
    }

    pub fn close_profile(&mut self) {
        self.push("}".to_string(), LineFrom::Post, vec![]);
        self.profile = None;
    }

    pub fn base(&mut self, text: impl Into<String>) {
        self.push(text.into(), LineFrom::Base, vec![]);
    }

    pub fn post(&mut self, text: impl Into<String>) {
        self.push(text.into(), LineFrom::Post, vec![]);
    }

    pub fn rule(&mut self, text: String, from: LineFrom, origins: Vec<RuleOrigin>) {
        self.push(text, from, origins);
    }

    fn push(&mut self, text: String, from: LineFrom, origins: Vec<RuleOrigin>) {
        let indent = if self.profile.is_some() && !text.starts_with("profile ") && text != "}" { "  " } else { "" };
        self.text.push_str(indent);
        self.text.push_str(&text);
        self.text.push('\n');
        self.lines.push(MapLine { line: self.lines.len() + 1, profile: self.profile.clone(), from, origins });
    }

    pub fn finish(self, profile: &str, file: &str) -> (String, SourceMap) {
        (self.text, SourceMap { profile: profile.to_string(), file: file.to_string(), lines: self.lines })
    }
}
