//! kubearmor/policy-templates release layout (`metadata.yaml` + `yaml:` policy files): loading,
//! translation of karmor preconditions into our language (rule in docs/templates.md), and
//! karmor's own matching for `--legacy-karmor`.

use super::yamltree::Node;
use super::{yaml_error, FileSet, LegacyInfo, LoadError, PolicyKind, Reference, Template};
use armorc_grammar::precondition::{self, Expr, Span};
use serde::Deserialize;

#[derive(Deserialize)]
struct Metadata {
    #[serde(default, rename = "version")]
    _version: Option<String>,
    #[serde(default, rename = "policyRules")]
    policy_rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    name: String,
    #[serde(default)]
    precondition: Option<Vec<String>>,
    #[serde(default)]
    description: Description,
    #[serde(default)]
    yaml: Option<String>,
    #[serde(default)]
    spec: Option<Node>,
}

#[derive(Deserialize, Default)]
struct Description {
    #[serde(default)]
    refs: Vec<LegacyRef>,
    #[serde(default)]
    tldr: String,
    #[serde(default)]
    detailed: String,
}

#[derive(Deserialize)]
struct LegacyRef {
    name: String,
    #[serde(default)]
    url: Vec<String>,
}

/// Load every rule of one `metadata.yaml`. Non-KubeArmor policy files (Kyverno) become notes.
pub fn load_metadata(files: &FileSet, path: &str) -> Result<(Vec<Template>, Vec<String>), LoadError> {
    let meta: Metadata = serde_saphyr::from_str(&files[path]).map_err(|e| yaml_error(path, &e))?;
    let dir = path.strip_suffix("metadata.yaml").unwrap_or("");
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for rule in meta.policy_rules {
        let (policy, origin) = match (&rule.yaml, &rule.spec) {
            (Some(y), _) => {
                let local = format!("{dir}{y}");
                let (origin, text) = match files.get(&local) {
                    Some(t) => (local, t),
                    None => match files.get(y.as_str()) {
                        Some(t) => (y.clone(), t),
                        None => {
                            return Err(LoadError::RuleFileMissing {
                                file: path.to_string(),
                                rule: rule.name.clone(),
                                yaml: y.clone(),
                            })
                        }
                    },
                };
                let node: Node = serde_saphyr::from_str(text).map_err(|e| yaml_error(&origin, &e))?;
                (node, origin)
            }
            (None, Some(spec)) => (
                Node::Map(vec![
                    ("apiVersion".into(), Node::Str("security.kubearmor.com/v1".into())),
                    ("kind".into(), Node::Str("KubeArmorPolicy".into())),
                    ("metadata".into(), Node::Map(vec![])),
                    ("spec".into(), spec.clone()),
                ]),
                format!("{path}#{}", rule.name),
            ),
            (None, None) => {
                return Err(LoadError::RuleWithoutPolicy { file: path.to_string(), rule: rule.name.clone() })
            }
        };
        let api = policy.get("apiVersion").and_then(Node::as_str).unwrap_or("");
        if !api.contains("kubearmor") {
            notes.push(format!("{origin}: rule `{}` skipped: not a KubeArmor policy (apiVersion `{api}`)", rule.name));
            continue;
        }
        let (template, removed) = convert(rule, policy, origin)?;
        if removed > 0 {
            notes.push(format!(
                "{}: template `{}`: {removed} identical duplicate rule(s) removed",
                template.origin, template.name
            ));
        }
        out.push(template);
    }
    Ok((out, notes))
}

/// Our name for a legacy rule: lower-cased, `_`/`.` -> `-`, capped (DNS-1123 label).
fn legacy_name(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-').to_string();
    s.chars().take(63).collect::<String>().trim_end_matches('-').to_string()
}

/// Converts one rule; also returns how many identical duplicate list items were dropped.
fn convert(rule: Rule, mut policy: Node, origin: String) -> Result<(Template, usize), LoadError> {
    let kind_text = policy.get("kind").and_then(Node::as_str).unwrap_or("").to_string();
    let kind = super::PolicyKind::parse(&kind_text)
        .ok_or_else(|| LoadError::UnsupportedKind { origin: origin.clone(), kind: kind_text.clone() })?;
    let name = legacy_name(&rule.name);
    if !super::is_dns_label(&name) {
        return Err(LoadError::RuleName { origin, rule: rule.name });
    }
    let spec = policy.get_mut("spec").ok_or_else(|| LoadError::NoSpec { origin: origin.clone() })?;
    let severity = match spec.get("severity") {
        Some(Node::Int(i)) if (1..=10).contains(i) => *i as u8,
        Some(other) => return Err(LoadError::LegacySeverity { origin, value: format!("{other:?}") }),
        None => 1,
    };
    let tags: Vec<String> = match spec.get("tags") {
        Some(Node::Seq(items)) => items.iter().filter_map(|t| t.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    let mut cluster_expressions = Vec::new();
    match kind {
        PolicyKind::KubeArmorPolicy => spec.set("selector", Node::Raw("{{yaml selector}}".into())),
        PolicyKind::KubeArmorClusterPolicy => {
            if let Some(Node::Seq(exprs)) = spec.get("selector").and_then(|s| s.get("matchExpressions")) {
                cluster_expressions = exprs.iter().map(to_json).collect();
            }
            spec.set("selector", Node::Raw("{{yaml selector}}".into()));
        }
        PolicyKind::KubeArmorHostPolicy => spec.set("nodeSelector", Node::Raw("{{yaml node_selector}}".into())),
    }
    // An identical repeated rule (v0.2.6 system-files-mod lists `/etc/shadow-` twice) means
    // nothing more to KubeArmor, but the compiler's duplicate-rule finding would disable the
    // template where karmor recommends it: keep the first.
    let removed = dedupe_lists(spec);
    slot_actions(spec);
    policy.set("metadata", Node::Raw("{{yaml metadata}}".into()));
    let preconditions = rule.precondition.unwrap_or_default();
    let (precondition, untranslatable) = match translate(&preconditions) {
        Ok(e) => (e, None),
        Err(why) => (Expr::Const(false, Span { start: 0, end: 0 }), Some(why)),
    };
    let references = rule
        .description
        .refs
        .iter()
        .flat_map(|r| r.url.iter().map(move |u| Reference { title: r.name.clone(), url: u.clone() }))
        .collect();
    let template = Template {
        name,
        summary: rule.description.tldr.trim().to_string(),
        description: rule.description.detailed.trim().to_string(),
        references,
        tags,
        severity,
        kind,
        precondition,
        cluster_expressions,
        body: policy.emit(),
        origin,
        legacy: Some(LegacyInfo { preconditions, untranslatable }),
        invalid: None,
    };
    Ok((template, removed))
}

/// Drops list items equal to an earlier item of the same list, anywhere below `n`; returns how
/// many were dropped.
fn dedupe_lists(n: &mut Node) -> usize {
    match n {
        Node::Map(m) => m.iter_mut().map(|(_, v)| dedupe_lists(v)).sum(),
        Node::Seq(items) => {
            let before = items.len();
            let mut kept: Vec<Node> = Vec::with_capacity(before);
            for item in items.drain(..) {
                if !kept.contains(&item) {
                    kept.push(item);
                }
            }
            *items = kept;
            before - items.len() + items.iter_mut().map(dedupe_lists).sum::<usize>()
        }
        _ => 0,
    }
}

fn to_json(n: &Node) -> serde_json::Value {
    match n {
        Node::Null => serde_json::Value::Null,
        Node::Bool(b) => (*b).into(),
        Node::Int(i) => (*i).into(),
        Node::Float(f) => serde_json::json!(f),
        Node::Str(s) | Node::Raw(s) => s.clone().into(),
        Node::Seq(v) => v.iter().map(to_json).collect(),
        Node::Map(m) => m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect::<serde_json::Map<_, _>>().into(),
    }
}

/// Every `action:` (policy level and per rule) becomes `{{action "<Value>"}}` so `--action`
/// can override it; values are normalised to KubeArmor's case (`audit` -> `Audit`).
fn slot_actions(n: &mut Node) {
    match n {
        Node::Map(m) => {
            for (k, v) in m.iter_mut() {
                if k == "action" {
                    if let Node::Str(a) = v {
                        let fixed = match a.to_ascii_lowercase().as_str() {
                            "allow" => "Allow".to_string(),
                            "audit" => "Audit".to_string(),
                            "block" => "Block".to_string(),
                            _ => a.clone(),
                        };
                        *v = Node::Raw(format!("{{{{action {}}}}}", serde_json::to_string(&fixed).expect("str")));
                    }
                } else {
                    slot_actions(v);
                }
            }
        }
        Node::Seq(items) => items.iter_mut().for_each(slot_actions),
        _ => {}
    }
}

/// Go's `filepath.Clean` (lexical): collapse `//`, drop `.`, resolve `..`, drop trailing `/`.
pub fn go_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|s| *s != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Why a legacy precondition cannot be translated to our language, or karmor cannot evaluate it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    #[error("precondition `{precondition}` uses regex syntax `{syntax}` that has no glob equivalent")]
    RegexSyntax { precondition: String, syntax: char },
    #[error("precondition `{precondition}` is not an absolute path")]
    NotAbsolute { precondition: String },
    /// The translated glob is not a valid precondition (`message`: the parser's).
    #[error("precondition `{precondition}`: {message}")]
    Translation { precondition: String, message: String },
    /// Go's `regexp.MustCompile` rejects the pattern: karmor panics on this template.
    #[error("karmor would crash on precondition `{precondition}` (Go regexp rejects `{regex}`: {reason})")]
    KarmorCrash { precondition: String, regex: String, reason: String },
    #[error("precondition `{0}` was not counted")]
    NotCounted(String),
}

/// The documented translation rule (docs/templates.md, "Legacy translation"):
/// 1. any entry containing `OPTSCAN` -> `true` (the template is generic);
/// 2. the list -> `all(..)` of its entries (one entry -> itself; empty list -> `true`);
/// 3. per entry, after `filepath.Clean`: `P/*` or `P/.*` -> `exists("P/*")` (something directly
///    under P); a trailing `*` -> the glob `P*`; an original trailing `/` -> `dir("P")`;
///    otherwise `exists("P")`; `.` is taken literally. Any other regex syntax is untranslatable.
pub fn translate(preconditions: &[String]) -> Result<Expr, LegacyError> {
    let z = Span { start: 0, end: 0 };
    if preconditions.iter().any(|p| p.contains("OPTSCAN")) {
        return Ok(Expr::Const(true, z));
    }
    let mut items = Vec::new();
    for p in preconditions {
        items.push(translate_one(p)?);
    }
    Ok(match items.len() {
        0 => Expr::Const(true, z),
        1 => items.pop().expect("one"),
        _ => Expr::All(items, z),
    })
}

fn translate_one(raw: &str) -> Result<Expr, LegacyError> {
    let z = Span { start: 0, end: 0 };
    let trailing_slash = raw.trim_end().ends_with('/');
    let clean = go_clean(raw.trim());
    let (base, kind_text, glob) = if let Some(b) = clean.strip_suffix("/.*").or_else(|| clean.strip_suffix("/*")) {
        (b.to_string(), "exists", format!("{b}/*"))
    } else if let Some(b) = clean.strip_suffix('*') {
        (b.to_string(), "exists", format!("{b}*"))
    } else if trailing_slash {
        (clean.clone(), "dir", clean.clone())
    } else {
        (clean.clone(), "exists", clean.clone())
    };
    if let Some(c) = base.chars().find(|c| "()[]{}|+?^$\\*".contains(*c)) {
        return Err(LegacyError::RegexSyntax { precondition: raw.to_string(), syntax: c });
    }
    if !base.starts_with('/') {
        return Err(LegacyError::NotAbsolute { precondition: raw.to_string() });
    }
    let text = format!("{kind_text}({})", precondition::quote(&glob));
    let parsed = precondition::parse(&text)
        .map_err(|e| LegacyError::Translation { precondition: raw.to_string(), message: e.message.to_string() });
    parsed.map(|e| match e {
        Expr::Test { kind, pattern, .. } => Expr::Test { kind, pattern, span: z },
        other => other,
    })
}

/// Fixed stand-in for karmor's temporary extraction directory: its paths carry this prefix and
/// its regexes are unanchored at the start, so a pattern can match inside it.
pub const KARMOR_PREFIX: &str = "/tmp/karmor000000000";

/// What one precondition's regex found in karmor's file list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KarmorHits {
    /// Matches, counting a file once per layer that wrote it (karmor's list has it once per layer).
    pub count: usize,
    /// The first matches (image paths, without karmor's temporary prefix), for `--explain`.
    pub sample: Vec<String>,
}

/// Paths kept per precondition in `KarmorHits::sample`.
const KARMOR_SAMPLE: usize = 16;

/// Per precondition string: what its regex finds in karmor's file list, or why karmor would panic
/// on it (a regex Go's `regexp.MustCompile` rejects).
pub type KarmorCounts = std::collections::HashMap<String, Result<KarmorHits, LegacyError>>;

/// karmor's regex for one precondition: `filepath.Clean`, then `$` unless it ends in `*`.
fn karmor_regex(p: &str) -> String {
    let mut re = go_clean(p);
    if !re.ends_with('*') {
        re.push('$');
    }
    re
}

/// Go's regexp (RE2 syntax, Perl flags) refuses a repetition operator applied to a repetition
/// (`a**`, `a++`, `a{2}*`, `a*??`), where Rust's regex accepts it; returns the offending
/// operators. Non-greedy `?` after one operator is allowed. Escapes, `\Q..\E` and classes are
/// skipped; `{` counts as an operator only in the forms `{n}`, `{n,}`, `{n,m}`.
fn go_nested_repetition(re: &str) -> Option<String> {
    let b = re.as_bytes();
    let mut i = 0;
    // Start of the previous repetition operator (and whether it already took its `?`).
    let mut last: Option<(usize, bool)> = None;
    while i < b.len() {
        let start = i;
        let op_len = match b[i] {
            b'*' | b'+' | b'?' => 1,
            b'{' => repeat_braces(&b[i..]).unwrap_or(0),
            _ => 0,
        };
        if op_len > 0 {
            match last {
                Some((_, false)) if b[i] == b'?' => last = last.map(|(s, _)| (s, true)),
                Some((s, _)) => return Some(re[s..start + op_len].to_string()),
                None => last = Some((start, false)),
            }
            i += op_len;
            continue;
        }
        last = None;
        match b[i] {
            b'\\' if b.get(i + 1) == Some(&b'Q') => {
                i = re[i + 2..].find("\\E").map_or(b.len(), |e| i + 2 + e + 2);
            }
            b'\\' => i += 2,
            b'[' => {
                // `[]a]` and `[^]a]`: a `]` right after the opening is a member.
                i += 1;
                if b.get(i) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i) == Some(&b']') {
                    i += 1;
                }
                while i < b.len() && b[i] != b']' {
                    i += match b[i] {
                        b'\\' => 2,
                        // `[:alpha:]` inside a class: its `]` does not close the class.
                        b'[' if b[i..].starts_with(b"[:") => re[i..].find(":]").map_or(1, |e| e + 2),
                        _ => 1,
                    };
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// Length of `{n}`, `{n,}` or `{n,m}` at the start of `b`.
fn repeat_braces(b: &[u8]) -> Option<usize> {
    let close = b.iter().position(|&c| c == b'}')?;
    let inner = std::str::from_utf8(&b[1..close]).ok()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let ok = match inner.split_once(',') {
        None => digits(inner),
        Some((a, b)) => digits(a) && (b.is_empty() || digits(b)),
    };
    ok.then_some(close + 1)
}

/// Count matches of every distinct precondition in one pass over the files (a RegexSet), each
/// file already prefixed with `KARMOR_PREFIX` (see `matching::karmor_file_list`).
pub fn karmor_counts<'a>(
    preconditions: impl IntoIterator<Item = &'a String>,
    regular_files: &[String],
) -> KarmorCounts {
    let mut counts = KarmorCounts::new();
    let mut valid: Vec<&String> = Vec::new();
    for p in preconditions {
        if counts.contains_key(p) {
            continue;
        }
        let re = karmor_regex(p);
        let rejected = go_nested_repetition(&re).map(|op| format!("invalid nested repetition operator: `{op}`"));
        match rejected.map_or_else(|| regex::Regex::new(&re).map(|_| ()).map_err(|e| e.to_string()), Err) {
            Ok(()) => {
                counts.insert(p.clone(), Ok(KarmorHits::default()));
                valid.push(p);
            }
            Err(e) => {
                counts
                    .insert(p.clone(), Err(LegacyError::KarmorCrash { precondition: p.clone(), regex: re, reason: e }));
            }
        }
    }
    let set = regex::RegexSet::new(valid.iter().map(|p| karmor_regex(p))).expect("each pattern compiled alone");
    let mut hits = vec![KarmorHits::default(); valid.len()];
    for f in regular_files {
        for i in set.matches(f).iter() {
            hits[i].count += 1;
            if hits[i].sample.len() < KARMOR_SAMPLE {
                hits[i].sample.push(f.strip_prefix(KARMOR_PREFIX).unwrap_or(f).to_string());
            }
        }
    }
    for (p, h) in valid.into_iter().zip(hits) {
        counts.insert(p.clone(), Ok(h));
    }
    counts
}

/// karmor's decision (reference §1.8) from the counts: entries in order, `OPTSCAN` returns true
/// at once, otherwise pass when the total of matches reaches the number of entries.
pub fn karmor_decide(preconditions: &[String], counts: &KarmorCounts) -> Result<bool, LegacyError> {
    let mut matched = 0usize;
    for p in preconditions {
        match counts.get(p) {
            Some(Ok(h)) => matched += h.count,
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(LegacyError::NotCounted(p.clone())),
        }
        if p.contains("OPTSCAN") {
            return Ok(true);
        }
    }
    Ok(matched >= preconditions.len())
}

/// karmor's matcher over a prefixed file list (see `karmor_counts`); the tests' shorthand.
#[cfg(test)]
fn karmor_matches(preconditions: &[String], regular_files: &[String]) -> Result<bool, LegacyError> {
    karmor_decide(preconditions, &karmor_counts(preconditions, regular_files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    /// Reference Appendix A, row by row.
    #[test]
    fn appendix_a_parity_vectors() {
        let cases: &[(&[&str], &[&str], bool)] = &[
            (&["/usr/bin/who"], &["/usr/bin/who"], true),
            (&["/usr/bin/who"], &["/usr/bin/whoami"], false),
            (&["/usr/bin/who"], &["/opt/x/usr/bin/who"], true),
            (&["/bin/chmod"], &["/usr/bin/chmod"], true),
            (&["/bin/sh"], &["/bin/dash"], false),
            (&["/sbin/*"], &["/usr/sbin/nologin"], true),
            (&["/etc*"], &["/etc/hostname"], true),
            (&["/etc/selinux/"], &["/etc/selinux/config"], false),
            (&["/a", "/b", "/c"], &["/x/a", "/y/a", "/z/a"], true),
            (&["/x", "OPTSCAN"], &[], true),
            (&[], &["/anything"], true),
            // whiteouts ignored: the deleted file is still in karmor's list of extracted files.
            (&["/usr/bin/foo"], &["/usr/bin/foo", "/usr/bin/.wh.foo"], true),
        ];
        for (pre, files, want) in cases {
            let listed: Vec<String> = files.iter().map(|f| format!("{KARMOR_PREFIX}{f}")).collect();
            assert_eq!(karmor_matches(&v(pre), &listed).unwrap(), *want, "{pre:?} over {files:?}");
        }
    }

    #[test]
    fn go_rejects_stacked_quantifiers_that_rust_accepts() {
        for (re, op) in [("/a**", "**"), ("/a++", "++"), ("/a{2}*", "{2}*"), ("/a*??", "*??"), ("x?*", "?*")] {
            assert!(regex::Regex::new(re).is_ok(), "Rust accepts {re}");
            assert_eq!(go_nested_repetition(re).as_deref(), Some(op), "{re}");
        }
        for re in
            ["/a*?", "/a??", "/etc/ssl/.*", r"/a\**", "[*]*", "(a*)*", "/a{x}*", r"\Q**\E*", "[]*]*", "[[:alpha:]*]*"]
        {
            assert_eq!(go_nested_repetition(re), None, "{re}");
        }
        let counts = karmor_counts(&v(&["/usr/bin/a**", "/usr/bin/b"]), &[format!("{KARMOR_PREFIX}/usr/bin/b")]);
        let err = counts["/usr/bin/a**"].clone().unwrap_err();
        assert!(err.to_string().contains("invalid nested repetition operator: `**`"), "{err}");
        assert_eq!(counts["/usr/bin/b"], Ok(KarmorHits { count: 1, sample: v(&["/usr/bin/b"]) }));
    }

    #[test]
    fn go_clean_matches_go() {
        assert_eq!(go_clean("/etc/selinux/"), "/etc/selinux");
        assert_eq!(go_clean("//a/./b/../c"), "/a/c");
        assert_eq!(go_clean("/.."), "/");
        assert_eq!(go_clean(""), ".");
    }

    #[test]
    fn translation_rule() {
        let t = |xs: &[&str]| translate(&v(xs)).map(|e| e.to_string());
        assert_eq!(t(&["/sbin/*", "OPTSCAN"]).unwrap(), "true");
        assert_eq!(
            t(&["/usr/bin/mysql", "/usr/sbin/useradd"]).unwrap(),
            r#"all(exists("/usr/bin/mysql"), exists("/usr/sbin/useradd"))"#
        );
        assert_eq!(t(&["/etc/selinux/"]).unwrap(), r#"dir("/etc/selinux")"#);
        assert_eq!(t(&["/etc/ssl/.*"]).unwrap(), r#"exists("/etc/ssl/*")"#);
        assert_eq!(t(&["/dev/shm*"]).unwrap(), r#"exists("/dev/shm*")"#);
        assert_eq!(t(&[]).unwrap(), "true");
        assert!(t(&["/usr/(a|b)"]).is_err());
    }
}
