//! Checking a profile with `apparmor_parser -QK` (parse and compile, never load) and mapping its
//! complaint back through the source map to the policy rule that produced the line.

use super::sourcemap::{RuleOrigin, SourceMap};
use super::Profile;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `apparmor_parser` refused a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub profile: String,
    /// The parser's message, without the noise lines.
    pub message: String,
    /// The profile line the parser named (or the start of the sub-profile it named).
    pub line: Option<usize>,
    pub line_text: Option<String>,
    /// The policy rules that produced that line (empty for template lines).
    pub origins: Vec<RuleOrigin>,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(o) = self.origins.first() {
            write!(f, "{}:{}:{}: {} {}: ", o.file, o.line, o.column, o.policy, o.at)?;
        }
        write!(f, "apparmor_parser rejected profile {}", self.profile)?;
        if let Some(n) = self.line {
            write!(f, " at line {n}")?;
        }
        if let Some(t) = &self.line_text {
            write!(f, " (`{}`)", t.trim())?;
        }
        write!(f, ": {}", self.message)?;
        for o in self.origins.iter().skip(1) {
            write!(f, "\n  also produced by {o}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    Rejected(Rejection),
    /// The parser could not be run at all (not installed, temp dir not writable, ...).
    Unavailable(String),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Rejected(r) => r.fmt(f),
            CheckError::Unavailable(m) => write!(f, "cannot run apparmor_parser: {m}"),
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Run `apparmor_parser -QK` on the profile (through a temp file) and explain a rejection.
pub fn check_with_parser(profile: &Profile) -> Result<(), CheckError> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("armorc-aa-{}-{n}-{}", std::process::id(), profile.file_name));
    std::fs::write(&path, &profile.text).map_err(|e| CheckError::Unavailable(format!("{}: {e}", path.display())))?;
    let output = Command::new("apparmor_parser").arg("-QK").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let output = output.map_err(|e| CheckError::Unavailable(format!("apparmor_parser: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(CheckError::Rejected(explain_rejection(profile, &stderr)))
}

/// Build a rejection from the parser's stderr.
pub fn explain_rejection(profile: &Profile, stderr: &str) -> Rejection {
    let message: Vec<&str> =
        stderr.lines().filter(|l| !l.contains("Cache read/write disabled") && !l.trim().is_empty()).collect();
    let map = SourceMap::from_json(&profile.map_json).ok();
    let line = message.iter().find_map(|l| line_number(l));
    // Messages without a line: an undeclared variable (find its first use), or a profile name.
    let line = line
        .or_else(|| {
            let var = message.iter().find_map(|l| undeclared_variable(l))?;
            profile.text.lines().position(|t| t.contains(&format!("@{{{var}}}"))).map(|i| i + 1)
        })
        .or_else(|| {
            let name = message.iter().find_map(|l| profile_named(l))?;
            map.as_ref()?.profile_start(&name).map(|l| l.line)
        });
    let origins = match (line, &map) {
        (Some(n), Some(m)) => m.line(n).map(|l| l.origins.clone()).unwrap_or_default(),
        _ => vec![],
    };
    let text = message
        .iter()
        .map(|l| match l.find(" at line ") {
            Some(i) => l[i..].split_once(": ").map(|(_, rest)| rest).unwrap_or(l),
            None => l,
        })
        .collect::<Vec<_>>()
        .join("; ");
    Rejection {
        profile: profile.name.clone(),
        message: if text.is_empty() { "exit status without message".to_string() } else { text },
        line,
        line_text: line.and_then(|n| profile.text.lines().nth(n - 1)).map(str::to_string),
        origins,
    }
}

/// `... at line 12: ...` -> 12.
fn line_number(l: &str) -> Option<usize> {
    let rest = &l[l.find(" at line ")? + " at line ".len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// `Found reference to variable NAME, but is never declared` -> NAME.
fn undeclared_variable(l: &str) -> Option<String> {
    let rest = &l[l.find("reference to variable ")? + "reference to variable ".len()..];
    let name: String = rest.chars().take_while(|c| !matches!(c, ',' | ' ')).collect();
    (!name.is_empty()).then_some(name)
}

/// `ERROR processing regexs for profile NAME, failed to load` / `profile NAME: has merged rule`.
fn profile_named(l: &str) -> Option<String> {
    let rest =
        if let Some(i) = l.find("for profile ") { &l[i + "for profile ".len()..] } else { l.strip_prefix("profile ")? };
    let name: String = rest.chars().take_while(|c| !matches!(c, ',' | ':' | ' ')).collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_line_numbers_and_profile_names() {
        assert_eq!(
            line_number("AppArmor parser error for /t/x in profile /t/x at line 9: Invalid network entry."),
            Some(9)
        );
        assert_eq!(line_number("no line"), None);
        assert_eq!(undeclared_variable("Found reference to variable x, but is never declared").as_deref(), Some("x"));
        assert_eq!(
            profile_named("ERROR processing regexs for profile p_bin, failed to load").as_deref(),
            Some("p_bin")
        );
        assert_eq!(
            profile_named("profile p1: has merged rule /bin/x with conflicting x modifiers").as_deref(),
            Some("p1")
        );
    }
}
