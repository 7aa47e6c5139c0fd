//! Suppressions: `# armorc: ignore[CODE,...] reason` comments and the optional `armorc.toml`.
//!
//! A comment after YAML on a line covers findings that start on that line. A comment on a line of
//! its own covers the next line that is not itself a comment (so several can be stacked above one
//! line). File-level findings (reported at 1:1) are covered by a comment on line 1. `armorc.toml`
//! ignores codes everywhere and adds exclude globs. Suppressed findings are counted, not shown.

use crate::diag::Diagnostic;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const MARKER: &str = "armorc:";

/// The `ignore[...]` comments of one file, keyed by the 1-based line they cover.
#[derive(Debug, Default)]
pub struct Suppressions {
    by_line: HashMap<usize, Vec<String>>,
}

/// A malformed suppression comment (reported as a note; it suppresses nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadComment {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Suppressions {
    /// Scan a file's text for suppression comments. `known` tells whether a code exists.
    pub fn parse(text: &str, known: impl Fn(&str) -> bool) -> (Self, Vec<BadComment>) {
        let mut by_line: HashMap<usize, Vec<String>> = HashMap::new();
        let mut bad = Vec::new();
        // Codes from own-line comments waiting for the line they cover.
        let mut pending: Vec<String> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let comment_at = comment_start(line);
            let own_line = comment_at.is_some_and(|at| line[..at].trim().is_empty());
            if !own_line && !pending.is_empty() {
                by_line.entry(number).or_default().append(&mut pending);
            }
            let Some(at) = comment_at else { continue };
            let comment = line[at + 1..].trim_start();
            let Some(rest) = comment.strip_prefix(MARKER) else { continue };
            let column = line[..at].chars().count() + 1;
            match parse_codes(rest.trim_start()) {
                Ok(codes) => {
                    let mut good = Vec::new();
                    for code in codes {
                        if known(&code) {
                            good.push(code);
                        } else {
                            bad.push(BadComment {
                                line: number,
                                column,
                                message: format!("unknown code `{code}` in suppression comment"),
                            });
                        }
                    }
                    if own_line {
                        pending.extend(good.iter().cloned());
                        // Also covers its own line, where file-level findings (1:1) may sit.
                        by_line.entry(number).or_default().extend(good);
                    } else {
                        by_line.entry(number).or_default().extend(good);
                    }
                }
                Err(message) => bad.push(BadComment { line: number, column, message }),
            }
        }
        (Suppressions { by_line }, bad)
    }

    /// True when `code` is ignored on `line` (1-based).
    pub fn covers(&self, code: &str, line: usize) -> bool {
        self.by_line.get(&line).is_some_and(|codes| codes.iter().any(|c| c == code))
    }
}

/// Byte offset of the `#` that starts a YAML comment on this line: at the start or after
/// whitespace, and outside quotes.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let (mut single, mut double) = (false, false);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if double => i += 1,
            b'"' if !single => double = !double,
            // In a single-quoted scalar '' is an escaped quote.
            b'\'' if single && bytes.get(i + 1) == Some(&b'\'') => i += 1,
            b'\'' if single => single = false,
            // Outside, a ' opens a scalar only where a value starts; an apostrophe inside a
            // plain scalar (don't) must not hide a comment.
            b'\'' if !double && (i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'[' | b'{' | b',' | b':' | b'-')) => {
                single = true
            }
            b'#' if !single && !double && (i == 0 || matches!(bytes[i - 1], b' ' | b'\t')) => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parse `ignore[CODE, CODE] reason` (the reason is free text and optional).
fn parse_codes(text: &str) -> Result<Vec<String>, String> {
    let Some(rest) = text.strip_prefix("ignore") else {
        return Err("expected `# armorc: ignore[CODE] reason`".into());
    };
    let Some(rest) = rest.trim_start().strip_prefix('[') else {
        return Err("expected `[` after `armorc: ignore`".into());
    };
    let Some(close) = rest.find(']') else {
        return Err("missing `]` in `armorc: ignore[...]`".into());
    };
    let codes: Vec<String> = rest[..close].split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
    if codes.is_empty() {
        return Err("`armorc: ignore[]` names no code".into());
    }
    Ok(codes)
}

/// Drop the suppressed findings of one file; returns how many were dropped.
pub fn apply(diagnostics: &mut Vec<Diagnostic>, comments: &Suppressions, config: &Config) -> usize {
    let before = diagnostics.len();
    if config.ignore.is_empty() && comments.by_line.is_empty() {
        return 0; // the usual case: nothing to suppress, no line numbers to compute
    }
    diagnostics.retain(|d| {
        let code = d.code.as_str();
        if config.ignore.iter().any(|c| c == code) {
            return false;
        }
        let line = d.span.map(|s| d.file.line_col(s.start).line).unwrap_or(1);
        !comments.covers(code, line)
    });
    before - diagnostics.len()
}

/// `armorc.toml`.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Codes ignored in every file.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Exclude globs, as `--exclude`.
    #[serde(default)]
    pub exclude: Vec<String>,
}

pub const CONFIG_FILE: &str = "armorc.toml";

/// Why the configuration file cannot be used. Messages name the file (and line and column).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {}", crate::inputs::io_message(.error))]
    Read { file: String, error: std::io::Error },
    #[error("{file}: not UTF-8 (byte {at})")]
    NotUtf8 { file: String, at: usize },
    /// TOML syntax or a field that is not part of the configuration.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid { file: String, line: usize, column: usize, message: String },
    #[error("{file}:{line}:{column}: unknown code `{code}` in `ignore`")]
    UnknownCode { file: String, line: usize, column: usize, code: String },
}

/// Load the configuration: `explicit` (from `--config`, must exist) or `armorc.toml` in the
/// current directory (optional). Returns the file it came from. Errors name file, line and column.
pub fn load_config(
    explicit: Option<&Path>,
    known: impl Fn(&str) -> bool,
) -> Result<(Config, Option<PathBuf>), ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = PathBuf::from(CONFIG_FILE);
            if !p.is_file() {
                return Ok((Config::default(), None));
            }
            p
        }
    };
    let name = path.display().to_string();
    let bytes = match crate::inputs::read_file_capped(&path, crate::inputs::MAX_CONFIG_BYTES) {
        Ok(b) => b,
        Err(error) => return Err(ConfigError::Read { file: name, error }),
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return Err(ConfigError::NotUtf8 { file: name, at: e.utf8_error().valid_up_to() }),
    };
    let config = parse_config(&name, &text, known)?;
    Ok((config, Some(path)))
}

/// Parse the text of a configuration file named `name`.
pub fn parse_config(name: &str, text: &str, known: impl Fn(&str) -> bool) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| position(text, s.start)).unwrap_or((1, 1));
        ConfigError::Invalid { file: name.to_string(), line, column, message: e.message().to_string() }
    })?;
    for code in &config.ignore {
        if !known(code) {
            let (line, column) = text.find(&format!("\"{code}\"")).map(|i| position(text, i + 1)).unwrap_or((1, 1));
            return Err(ConfigError::UnknownCode { file: name.to_string(), line, column, code: code.clone() });
        }
    }
    Ok(config)
}

fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(code: &str) -> bool {
        matches!(code, "S101" | "L203" | "Y001")
    }

    #[test]
    fn same_line_and_line_above() {
        let text =
            "a: 1 # armorc: ignore[S101] legacy\n# armorc: ignore[L203,Y001] why\n# armorc: ignore[S101]\nb: 2\nc: 3\n";
        let (s, bad) = Suppressions::parse(text, known);
        assert!(bad.is_empty(), "{bad:?}");
        assert!(s.covers("S101", 1));
        assert!(!s.covers("L203", 1));
        assert!(s.covers("L203", 4) && s.covers("Y001", 4) && s.covers("S101", 4));
        assert!(!s.covers("S101", 5));
        assert!(!s.covers("S101", 2) && s.covers("L203", 2));
    }

    #[test]
    fn not_a_comment_inside_quotes() {
        let text =
            "msg: \"x # armorc: ignore[S101]\"\nm2: 'it''s # armorc: ignore[S101]'\nurl: a#armorc: ignore[S101]\n";
        let (s, _) = Suppressions::parse(text, known);
        assert!(!s.covers("S101", 1) && !s.covers("S101", 2) && !s.covers("S101", 3));
    }

    #[test]
    fn malformed_and_unknown_codes_are_reported() {
        let text = "a: 1 # armorc: ignore[S999]\nb: 1  # armorc: ignore S101\nc: 1 # armorc: ignore[]\n";
        let (s, bad) = Suppressions::parse(text, known);
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert_eq!((bad[0].line, bad[0].column), (1, 6));
        assert!(bad[0].message.contains("S999"));
        assert!(!s.covers("S101", 2));
    }

    #[test]
    fn config_parses_and_reports_positions() {
        let c = parse_config("armorc.toml", "ignore = [\"S101\"]\nexclude = [\"vendor\"]\n", known).unwrap();
        assert_eq!(c.ignore, vec!["S101"]);
        assert_eq!(c.exclude, vec!["vendor"]);
        let e = parse_config("armorc.toml", "ignore = [\"S101\"]\nexclud = []\n", known).unwrap_err().to_string();
        assert!(e.starts_with("armorc.toml:2:1:"), "{e}");
        let e = parse_config("armorc.toml", "\nignore = [\"S777\"]\n", known).unwrap_err();
        assert!(matches!(&e, ConfigError::UnknownCode { line: 2, column: 12, code, .. } if code == "S777"), "{e}");
        let e = e.to_string();
        assert!(e.starts_with("armorc.toml:2:12:") && e.contains("S777"), "{e}");
    }
}
