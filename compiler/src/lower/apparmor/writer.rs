//! Accumulates profile text and its source map together, so every line is mapped by construction.

use super::sourcemap::{LineFrom, MapBuilder, OriginEntry};

pub struct Writer<'a> {
    text: String,
    map: MapBuilder<'a>,
    /// The profile block being written and its first line.
    profile: Option<(String, usize)>,
}

impl Default for Writer<'_> {
    fn default() -> Self {
        // Profiles are tens of KB: start big enough to skip most regrowth copies.
        Writer { text: String::with_capacity(64 * 1024), map: MapBuilder::default(), profile: None }
    }
}

impl<'a> Writer<'a> {
    pub fn open_profile(&mut self, name: &str, header: String) {
        self.push_text(&header, false);
        let first = self.map.line(LineFrom::Base, &[]);
        self.profile = Some((name.to_string(), first));
    }

    pub fn close_profile(&mut self) {
        self.push_text("}", false);
        let last = self.map.line(LineFrom::Post, &[]);
        if let Some((name, first)) = self.profile.take() {
            self.map.profile(&name, first, last);
        }
    }

    pub fn base(&mut self, text: impl AsRef<str>) {
        self.push(text.as_ref(), LineFrom::Base, &[]);
    }

    pub fn post(&mut self, text: impl AsRef<str>) {
        self.push(text.as_ref(), LineFrom::Post, &[]);
    }

    /// The rule-table index of the origin the caller numbers `id`, for [`Writer::rule`].
    pub fn intern(&mut self, id: u32, origin: &'a OriginEntry) -> u32 {
        self.map.intern(id, origin)
    }

    pub fn rule(&mut self, text: &str, from: LineFrom, origins: &[u32]) {
        self.push(text, from, origins);
    }

    fn push(&mut self, text: &str, from: LineFrom, origins: &[u32]) {
        // Nested `profile` lines and closing braces stay at the margin, as the headers do.
        let indent = self.profile.is_some() && !text.starts_with("profile ") && text != "}";
        self.push_text(text, indent);
        self.map.line(from, origins);
    }

    fn push_text(&mut self, text: &str, indent: bool) {
        if indent {
            self.text.push_str("  ");
        }
        self.text.push_str(text);
        self.text.push('\n');
    }

    /// The profile text and its source map JSON.
    pub fn finish(self, profile: &str, file: &str) -> (String, String) {
        (self.text, self.map.to_json(profile, file))
    }
}
