//! `<profile>.map.json`: for every line of a profile file, what produced it.
//!
//! On disk the map is compact JSON (version 2): policy ids and file names once each in `policies`
//! and `files`; each rule once in `rules` as `[policy index, action, file index, line, column,
//! at]`; each profile block once in `profiles` (its first and last line); and `lines`, one string
//! with a space-separated code per profile line: `b` (template before the rules), `p` (template
//! after them), `r<i>[,<j>...]` (policy rules, indexes into `rules`), `n<i>[,...]` (native lines).
//! In memory, [`SourceMap`] is the expanded form: one [`MapLine`] per line with its origins.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One policy rule (or native `apparmor:` line) that produced a profile line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuleOrigin {
    /// `Policy::id()`.
    pub policy: String,
    /// `Allow`, `Block`, or `native` for `spec.apparmor` lines.
    pub action: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Path inside the document, e.g. `spec.file.matchPaths[0]`.
    pub at: String,
}

impl std::fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: {} {} ({})", self.file, self.line, self.column, self.policy, self.at, self.action)
    }
}

/// What a line comes from: the fixed template before the rules (`base`), the fixed template after
/// them (`post`), or rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineFrom {
    Base,
    Post,
    Rule,
    Native,
}

impl LineFrom {
    fn code(self) -> char {
        match self {
            LineFrom::Base => 'b',
            LineFrom::Post => 'p',
            LineFrom::Rule => 'r',
            LineFrom::Native => 'n',
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapLine {
    /// 1-based line number in the profile file.
    pub line: usize,
    /// The (sub-)profile the line is in; `None` outside any profile block.
    pub profile: Option<String>,
    pub from: LineFrom,
    /// Every rule that produced the line (identical lines from several rules are merged).
    pub origins: Vec<RuleOrigin>,
}

/// Why a source map (`*.map.json`) cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceMapError {
    #[error("invalid AppArmor source map: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error(
        "AppArmor source map version {0} is not supported (this armorc reads version {FORMAT_VERSION}; recompile)"
    )]
    Version(u32),
    #[error("invalid AppArmor source map: rule {rule}: no policy {policy}")]
    NoPolicy { rule: usize, policy: usize },
    #[error("invalid AppArmor source map: rule {rule}: no file {file}")]
    NoFile { rule: usize, file: usize },
    #[error("invalid AppArmor source map: line {line}: unknown code {code:?}")]
    UnknownCode { line: usize, code: String },
    #[error("invalid AppArmor source map: line {line}: no rule {id:?}")]
    NoRule { line: usize, id: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceMap {
    pub profile: String,
    pub file: String,
    pub lines: Vec<MapLine>,
}

const FORMAT_VERSION: u32 = 2;

/// The on-disk form (read with serde; written by [`MapBuilder::to_json`]).
#[derive(Deserialize)]
struct Wire {
    version: u32,
    profile: String,
    file: String,
    profiles: Vec<ProfileSpan>,
    policies: Vec<String>,
    files: Vec<String>,
    rules: Vec<(usize, String, usize, usize, usize, String)>,
    lines: String,
}

/// A `profile NAME ... { ... }` block: its opening and closing line (1-based, inclusive).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ProfileSpan {
    pub name: String,
    pub first: usize,
    pub last: usize,
}

/// A rule origin with the JSON of its rule-table row rendered once: a policy rule lands in the
/// maps of every target it applies to.
#[derive(Clone, Debug)]
pub struct OriginEntry {
    pub origin: RuleOrigin,
    /// `"Block"`: written between the policy and file indexes.
    action_json: String,
    /// `,line,column,"at"]`: written after the file index.
    tail_json: String,
}

impl OriginEntry {
    pub fn new(origin: RuleOrigin) -> OriginEntry {
        let action_json = json_str(&origin.action);
        let tail_json = format!(",{},{},{}]", origin.line, origin.column, json_str(&origin.at));
        OriginEntry { origin, action_json, tail_json }
    }
}

/// Builds the compact map line by line (used by the profile writer, so nothing is expanded).
#[derive(Default)]
pub struct MapBuilder<'a> {
    rules: Vec<&'a OriginEntry>,
    /// Caller's origin id -> index in `rules`.
    rule_ids: HashMap<u32, u32, foldhash::fast::FixedState>,
    profiles: Vec<ProfileSpan>,
    lines: String,
    count: usize,
}

impl<'a> MapBuilder<'a> {
    /// The index in the rule table of the origin the caller numbers `id` (added on first use).
    pub fn intern(&mut self, id: u32, origin: &'a OriginEntry) -> u32 {
        let next = self.rules.len() as u32;
        let i = *self.rule_ids.entry(id).or_insert(next);
        if i == next {
            self.rules.push(origin);
        }
        i
    }

    /// Record the next line; returns its 1-based number.
    pub fn line(&mut self, from: LineFrom, origins: &[u32]) -> usize {
        if self.count > 0 {
            self.lines.push(' ');
        }
        self.lines.push(from.code());
        for (k, &i) in origins.iter().enumerate() {
            if k > 0 {
                self.lines.push(',');
            }
            push_decimal(&mut self.lines, i);
        }
        self.count += 1;
        self.count
    }

    pub fn profile(&mut self, name: &str, first: usize, last: usize) {
        self.profiles.push(ProfileSpan { name: name.to_string(), first, last });
    }

    pub fn to_json(self, profile: &str, file: &str) -> String {
        // Written by hand into one buffer: the field order is fixed and the tables are built on
        // the way (a compile writes thousands of these).
        let (mut policies, mut files) = (Names::default(), Names::default());
        let mut rules = String::with_capacity(self.rules.len() * 48);
        for (k, r) in self.rules.iter().enumerate() {
            let (p, f) = (policies.index(&r.origin.policy), files.index(&r.origin.file));
            rules.push_str(if k == 0 { "[" } else { ",[" });
            push_decimal(&mut rules, p as u32);
            rules.push(',');
            rules.push_str(&r.action_json);
            rules.push(',');
            push_decimal(&mut rules, f as u32);
            rules.push_str(&r.tail_json);
        }
        let mut out = String::with_capacity(rules.len() + self.lines.len() + 1024);
        out.push_str("{\"version\":");
        push_decimal(&mut out, FORMAT_VERSION);
        out.push_str(",\"profile\":");
        push_json_str(&mut out, profile);
        out.push_str(",\"file\":");
        push_json_str(&mut out, file);
        out.push_str(",\"profiles\":[");
        for (k, p) in self.profiles.iter().enumerate() {
            out.push_str(if k == 0 { "{\"name\":" } else { ",{\"name\":" });
            push_json_str(&mut out, &p.name);
            out.push_str(",\"first\":");
            push_decimal(&mut out, p.first as u32);
            out.push_str(",\"last\":");
            push_decimal(&mut out, p.last as u32);
            out.push('}');
        }
        for (key, names) in [("policies", &policies), ("files", &files)] {
            out.push_str("],\"");
            out.push_str(key);
            out.push_str("\":[");
            for (k, n) in names.list.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                push_json_str(&mut out, n);
            }
        }
        out.push_str("],\"rules\":[");
        out.push_str(&rules);
        // Line codes are letters, digits, commas and spaces: nothing to escape.
        out.push_str("],\"lines\":\"");
        out.push_str(&self.lines);
        out.push_str("\"}\n");
        out
    }
}

/// Distinct names in first-use order (the policy and file tables).
#[derive(Default)]
struct Names<'a> {
    list: Vec<&'a str>,
    ids: HashMap<&'a str, usize, foldhash::fast::FixedState>,
}

impl<'a> Names<'a> {
    fn index(&mut self, name: &'a str) -> usize {
        *self.ids.entry(name).or_insert_with(|| {
            self.list.push(name);
            self.list.len() - 1
        })
    }
}

/// `n` in decimal, without the formatting machinery (maps hold millions of rule indexes).
fn push_decimal(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// `s` as a JSON string literal, appended (without serde's buffer when nothing needs escaping).
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&json_str(s));
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

impl SourceMap {
    /// The compact on-disk JSON of this map.
    pub fn to_json(&self) -> String {
        // Distinct origins first, numbered in first-use order, so the builder can borrow them.
        let mut ids: HashMap<&RuleOrigin, u32> = HashMap::new();
        let mut entries = Vec::new();
        for o in self.lines.iter().flat_map(|l| &l.origins) {
            ids.entry(o).or_insert_with(|| {
                entries.push(OriginEntry::new(o.clone()));
                entries.len() as u32 - 1
            });
        }
        let mut b = MapBuilder::default();
        let mut open: Option<(&str, usize)> = None;
        for l in &self.lines {
            let line_ids: Vec<u32> =
                l.origins.iter().map(|o| ids[o]).map(|i| b.intern(i, &entries[i as usize])).collect();
            b.line(l.from, &line_ids);
            match (open, l.profile.as_deref()) {
                (Some((name, _)), Some(p)) if name == p => {}
                (current, next) => {
                    if let Some((name, first)) = current {
                        b.profile(name, first, l.line - 1);
                    }
                    open = next.map(|p| (p, l.line));
                }
            }
        }
        if let Some((name, first)) = open {
            b.profile(name, first, self.lines.len());
        }
        b.to_json(&self.profile, &self.file)
    }

    pub fn from_json(text: &str) -> Result<SourceMap, SourceMapError> {
        let wire: Wire = serde_json::from_str(text)?;
        if wire.version != FORMAT_VERSION {
            return Err(SourceMapError::Version(wire.version));
        }
        let mut rules = Vec::with_capacity(wire.rules.len());
        for (k, (p, action, f, line, column, at)) in wire.rules.into_iter().enumerate() {
            let policy = wire.policies.get(p).ok_or(SourceMapError::NoPolicy { rule: k, policy: p })?.clone();
            let file = wire.files.get(f).ok_or(SourceMapError::NoFile { rule: k, file: f })?.clone();
            rules.push(RuleOrigin { policy, action, file, line, column, at });
        }
        let mut lines = Vec::new();
        for (i, code) in wire.lines.split(' ').enumerate() {
            let n = i + 1;
            let mut chars = code.chars();
            let from = match chars.next() {
                Some('b') => LineFrom::Base,
                Some('p') => LineFrom::Post,
                Some('r') => LineFrom::Rule,
                Some('n') => LineFrom::Native,
                _ => return Err(SourceMapError::UnknownCode { line: n, code: code.to_string() }),
            };
            let rest = chars.as_str();
            let mut origins = Vec::new();
            if !rest.is_empty() {
                for id in rest.split(',') {
                    let rule = id.parse::<usize>().ok().and_then(|k| rules.get(k));
                    origins.push(rule.ok_or_else(|| SourceMapError::NoRule { line: n, id: id.to_string() })?.clone());
                }
            }
            let profile = wire.profiles.iter().find(|p| p.first <= n && n <= p.last).map(|p| p.name.clone());
            lines.push(MapLine { line: n, profile, from, origins });
        }
        if wire.lines.is_empty() {
            lines.clear();
        }
        Ok(SourceMap { profile: wire.profile, file: wire.file, lines })
    }

    pub fn line(&self, n: usize) -> Option<&MapLine> {
        n.checked_sub(1).and_then(|i| self.lines.get(i)).filter(|l| l.line == n)
    }

    /// The line that opens `profile <name>`.
    pub fn profile_start(&self, name: &str) -> Option<&MapLine> {
        self.lines.iter().find(|l| l.profile.as_deref() == Some(name))
    }
}

/// `armorc explain PROFILE`: every profile line with the rules that produced it.
pub fn explain(profile_text: &str, map_json: &str) -> String {
    let map = match SourceMap::from_json(map_json) {
        Ok(m) => m,
        Err(e) => return format!("error: {e}\n"),
    };
    let mut out = format!("profile {} ({})\n", map.profile, map.file);
    for (i, text) in profile_text.lines().enumerate() {
        let n = i + 1;
        let entry = map.line(n);
        let tag = match entry.map(|e| e.from) {
            Some(LineFrom::Base) => "base",
            Some(LineFrom::Post) => "post",
            Some(LineFrom::Rule) => "rule",
            Some(LineFrom::Native) => "native",
            None => "?",
        };
        out.push_str(&format!("{n:>5} {tag:<6} {text}\n"));
        for o in entry.map(|e| e.origins.as_slice()).unwrap_or_default() {
            out.push_str(&format!("{:>12} <- {o}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(at: &str) -> RuleOrigin {
        RuleOrigin {
            policy: "KubeArmorPolicy/ns/p".into(),
            action: "Block".into(),
            file: "p.yaml".into(),
            line: 3,
            column: 7,
            at: at.into(),
        }
    }

    #[test]
    fn compact_form_round_trips_every_line() {
        let line = |n, profile: Option<&str>, from, origins| MapLine {
            line: n,
            profile: profile.map(str::to_string),
            from,
            origins,
        };
        let (a, b) = (origin("spec.file.matchPaths[0]"), origin("spec.file.matchPaths[1]"));
        let map = SourceMap {
            profile: "p".into(),
            file: "p".into(),
            lines: vec![
                line(1, None, LineFrom::Base, vec![]),
                line(2, Some("p"), LineFrom::Base, vec![]),
                line(3, Some("p"), LineFrom::Rule, vec![a.clone(), b.clone()]),
                line(4, Some("p"), LineFrom::Native, vec![b.clone()]),
                line(5, Some("p"), LineFrom::Post, vec![]),
                line(6, None, LineFrom::Base, vec![]),
                line(7, Some("p_x"), LineFrom::Base, vec![]),
                line(8, Some("p_x"), LineFrom::Rule, vec![a]),
                line(9, Some("p_x"), LineFrom::Post, vec![]),
            ],
        };
        let json = map.to_json();
        assert_eq!(json.matches("spec.file.matchPaths[1]").count(), 1, "each rule once: {json}");
        assert_eq!(SourceMap::from_json(&json).unwrap(), map);
    }

    #[test]
    fn damaged_maps_are_errors() {
        let base =
            r#"{"version":2,"profile":"p","file":"p","profiles":[],"policies":[],"files":[],"rules":[],"lines":"#;
        assert_eq!(
            SourceMap::from_json(&format!("{base}\"b r0\"}}")).unwrap_err().to_string(),
            r#"invalid AppArmor source map: line 2: no rule "0""#
        );
        assert!(SourceMap::from_json(&format!("{base}\"b x\"}}")).unwrap_err().to_string().contains("unknown code"));
        assert!(SourceMap::from_json(r#"{"version":1}"#).is_err());
        let rule = r#"{"version":2,"profile":"p","file":"p","profiles":[],"policies":[],"files":["f"],"rules":[[0,"Block",0,1,1,"at"]],"lines":"r0"}"#;
        assert!(SourceMap::from_json(rule).unwrap_err().to_string().contains("no policy 0"));
    }
}
