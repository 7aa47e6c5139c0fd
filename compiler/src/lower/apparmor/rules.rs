//! IR rules -> AppArmor rule records (what to emit, not yet text), one record per IR rule.

use super::sourcemap::RuleOrigin;
use crate::ir;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    File,
    Process,
    Network,
    Capability,
}

/// What a rule names. Path-like keys keep the policy's raw text; rendering escapes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// A literal path (matchPaths): matches only itself.
    Path(String),
    /// A literal directory ending in `/`: `{,*}` or `{,**}` is appended.
    Dir {
        dir: String,
        recursive: bool,
    },
    /// An AppArmor glob pasted as written (matchPatterns).
    Pattern(String),
    /// `execname`: the base name in any directory (`/**/<name>`).
    Execname(String),
    /// A process matchPaths item with neither path nor execname.
    Nothing,
    /// A matchPatterns item that is no AppArmor path glob (KubeArmor pastes it anyway and the
    /// whole profile fails to load); lowered as a comment.
    NotAGlob {
        pattern: String,
        why: &'static str,
    },
    Protocol {
        name: String,
        known: Option<ir::Protocol>,
    },
    Capability {
        name: String,
        known: bool,
    },
}

impl Key {
    /// The identity used to decide whether a sub-profile already has a rule for the same thing
    /// (then the global rule is not copied into it, as source-specific rules take precedence).
    pub fn identity(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Key::Path(p) | Key::Pattern(p) => Cow::Borrowed(p),
            Key::Dir { dir, .. } => Cow::Borrowed(dir),
            Key::Execname(n) => Cow::Owned(format!("/**/{n}")),
            Key::Nothing => Cow::Borrowed(""),
            Key::NotAGlob { pattern, .. } => Cow::Borrowed(pattern),
            Key::Protocol { name, .. } => Cow::Borrowed(name),
            Key::Capability { name, .. } => Cow::Borrowed(name),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AaRule {
    pub category: Category,
    pub key: Key,
    pub deny: bool,
    pub read_only: bool,
    pub owner_only: bool,
    /// The fromSource path; `None` for global rules.
    pub source: Option<String>,
    pub origin: RuleOrigin,
}

impl AaRule {
    /// False for rules AppArmor cannot express (kept as comments); they do not switch a
    /// category into allowlist mode either.
    pub fn lowered(&self) -> bool {
        !matches!(self.key, Key::Nothing | Key::NotAGlob { .. })
    }

    /// True when this (sub-profile) directory rule covers `other`'s key, so a global rule for
    /// `other` is not copied next to it: recursive covers every descendant, non-recursive only
    /// direct children.
    pub fn covers(&self, other: &AaRule) -> bool {
        let Key::Dir { dir, recursive } = &self.key else { return false };
        if self.category != other.category {
            return false;
        }
        let target = match &other.key {
            Key::Path(p) => p.as_str(),
            Key::Dir { dir, .. } => dir.as_str(),
            _ => return false,
        };
        let Some(rest) = target.strip_prefix(dir.as_str()) else { return false };
        if rest.is_empty() {
            return false;
        }
        *recursive || !rest.trim_end_matches('/').contains('/')
    }
}

/// The AppArmor records of one policy: Audit rules and kinds AppArmor cannot mediate (DNS,
/// syscalls, devices) give none.
pub fn from_policy(policy: &ir::Policy) -> Vec<AaRule> {
    let id = policy.id();
    let mut out = Vec::new();
    for rule in &policy.rules {
        let deny = match rule.action {
            ir::Action::Block => true,
            ir::Action::Allow => false,
            ir::Action::Audit => continue,
        };
        let Some((category, key, read_only, owner_only)) = classify(&rule.target) else { continue };
        // An empty fromSource path is lowered as a global rule (as BPF-LSM does; KubeArmor's
        // AppArmor enforcer drops it). See docs/semantics.md.
        let source = rule.source.clone().filter(|s| !s.is_empty());
        out.push(AaRule {
            category,
            key,
            deny,
            read_only,
            owner_only,
            source,
            origin: RuleOrigin {
                policy: id.clone(),
                action: format!("{:?}", rule.action),
                file: rule.origin.file.clone(),
                line: rule.origin.line,
                column: rule.origin.column,
                at: rule.origin.at.clone(),
            },
        });
    }
    out
}

fn classify(target: &ir::RuleTarget) -> Option<(Category, Key, bool, bool)> {
    use ir::RuleTarget as T;
    Some(match target {
        T::ProcessPath { path, owner_only, .. } => {
            let key = if path.is_empty() { Key::Nothing } else { Key::Path(path.clone()) };
            (Category::Process, key, false, *owner_only)
        }
        T::ProcessExecname { name, owner_only, .. } => {
            (Category::Process, Key::Execname(name.clone()), false, *owner_only)
        }
        T::ProcessDir { dir, recursive, owner_only, .. } => {
            (Category::Process, Key::Dir { dir: dir.clone(), recursive: *recursive }, false, *owner_only)
        }
        T::ProcessPattern { pattern, owner_only } => (Category::Process, pattern_key(pattern), false, *owner_only),
        T::FilePath { path, read_only, owner_only, .. } => {
            (Category::File, Key::Path(path.clone()), *read_only, *owner_only)
        }
        T::FileDir { dir, recursive, read_only, owner_only, .. } => {
            (Category::File, Key::Dir { dir: dir.clone(), recursive: *recursive }, *read_only, *owner_only)
        }
        T::FilePattern { pattern, read_only, owner_only } => {
            (Category::File, pattern_key(pattern), *read_only, *owner_only)
        }
        T::Protocol { protocol, known, .. } => {
            (Category::Network, Key::Protocol { name: protocol.clone(), known: *known }, false, false)
        }
        T::Capability { name, number } => {
            (Category::Capability, Key::Capability { name: name.clone(), known: number.is_some() }, false, false)
        }
        T::Dns { .. } | T::Syscall { .. } | T::Device { .. } => return None,
    })
}

/// matchPatterns are pasted as AppArmor globs; text the parser would refuse is not.
fn pattern_key(pattern: &str) -> Key {
    match glob_problem(pattern) {
        None => Key::Pattern(pattern.to_string()),
        Some(why) => Key::NotAGlob { pattern: pattern.to_string(), why },
    }
}

/// Variables the tunables included by every profile (`<tunables/global>`) define.
const KNOWN_VARIABLES: [&str; 15] = [
    "HOME",
    "HOMEDIRS",
    "PROC",
    "multiarch",
    "run",
    "sys",
    "pid",
    "pids",
    "tid",
    "uid",
    "uids",
    "etc_ro",
    "etc_rw",
    "apparmorfs",
    "securityfs",
];

/// Why `pattern` is no AppArmor path glob apparmor_parser accepts, if it is not: it must be
/// absolute (or start with a variable), use only defined variables, have `{}` groups with at
/// least two alternatives, non-empty `[]` classes with complete ranges, and no control characters.
pub fn glob_problem(pattern: &str) -> Option<&'static str> {
    if !(pattern.starts_with('/') || pattern.starts_with("@{")) {
        return Some("does not start with `/` (AppArmor globs are absolute paths, not regular expressions)");
    }
    if pattern.chars().any(|c| c.is_control()) {
        return Some("contains control characters");
    }
    // Variables are expanded before globbing, wherever they appear (even inside `[]`).
    let mut rest = pattern;
    while let Some(i) = rest.find("@{") {
        let escaped = rest[..i].ends_with('\\');
        let after = &rest[i + 2..];
        let name = after.split('}').next().unwrap_or("");
        if !escaped && (!after.contains('}') || !KNOWN_VARIABLES.contains(&name)) {
            return Some("uses an AppArmor variable the profile does not define");
        }
        rest = after;
    }
    let chars: Vec<char> = pattern.chars().collect();
    // Per open `{`: number of top-level commas seen.
    let mut groups: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 == chars.len() {
                    return Some("ends with a lone `\\`");
                }
                i += 1;
            }
            '@' if chars.get(i + 1) == Some(&'{') => {
                // Checked above; skip the name.
                let name_len = chars[i + 2..].iter().take_while(|&&c| c != '}').count();
                i += 2 + name_len;
            }
            '[' => {
                let mut j = i + 1;
                if chars.get(j) == Some(&'^') {
                    j += 1;
                }
                let start = j;
                loop {
                    match chars.get(j) {
                        None => return Some("has an unclosed `[`"),
                        Some(']') if j > start => break,
                        Some(']') => return Some("has an empty `[]` class"),
                        Some('\\') => j += 2,
                        Some('-') if chars.get(j + 1) == Some(&']') => return Some("has an incomplete range in `[]`"),
                        Some(_) => j += 1,
                    }
                }
                i = j;
            }
            ']' => return Some("has a `]` without `[`"),
            '{' => groups.push(0),
            ',' => {
                if let Some(n) = groups.last_mut() {
                    *n += 1;
                }
            }
            '}' => match groups.pop() {
                None => return Some("has a `}` without `{`"),
                Some(0) => return Some("has a `{}` group without alternatives"),
                Some(_) => {}
            },
            _ => {}
        }
        i += 1;
    }
    if !groups.is_empty() {
        return Some("has an unclosed `{`");
    }
    None
}
