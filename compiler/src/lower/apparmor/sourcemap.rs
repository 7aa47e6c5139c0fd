//! `<profile>.map.json`: for every line of a profile file, what produced it.

use serde::{Deserialize, Serialize};

/// One policy rule (or native `apparmor:` line) that produced a profile line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapLine {
    /// 1-based line number in the profile file.
    pub line: usize,
    /// The (sub-)profile the line is in; `None` outside any profile block.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub profile: Option<String>,
    pub from: LineFrom,
    /// Every rule that produced the line (identical lines from several rules are merged).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub origins: Vec<RuleOrigin>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMap {
    pub profile: String,
    pub file: String,
    pub lines: Vec<MapLine>,
}

impl SourceMap {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("source map serializes");
        s.push('\n');
        s
    }

    pub fn from_json(text: &str) -> Result<SourceMap, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid AppArmor source map: {e}"))
    }

    pub fn line(&self, n: usize) -> Option<&MapLine> {
        self.lines.iter().find(|l| l.line == n)
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
