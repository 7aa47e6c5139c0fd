//! Which templates apply to an image: tag filter, then the precondition over the file index
//! (symlinks followed), with evidence; karmor's matching for `--legacy-karmor`.

use crate::index::{EntryKind, FileIndex};
use crate::templates::{self, legacy, Template};
use armorc_grammar::precondition::{Expr, Pattern, TestKind};

/// Paths listed per precondition in evidence (the rest is counted, not listed).
const MAX_EVIDENCE_PATHS: usize = 16;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Evidence {
    /// The test, in canonical precondition syntax.
    pub precondition: String,
    /// Paths that satisfied it (at most MAX_EVIDENCE_PATHS).
    pub matched: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Recommend(Vec<Evidence>),
    Skip(String),
}

/// How preconditions are evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Ours,
    LegacyKarmor,
}

/// Paths (in index space) that satisfy one test.
pub fn test_matches(index: &FileIndex, kind: TestKind, pattern: &Pattern, limit: usize) -> Vec<String> {
    let pass = |p: &str| match kind {
        TestKind::Exists => index.exists(p),
        TestKind::File => index.is_file(p),
        TestKind::Dir => index.is_dir(p),
        TestKind::Executable => index.is_executable(p),
    };
    let mut out = Vec::new();
    if pattern.is_literal() {
        for p in pattern.literal_paths() {
            if pass(&p) && !out.contains(&p) {
                out.push(p);
            }
        }
        return out;
    }
    // Walk only below each alternative's literal prefix, after resolving it (usr-merge:
    // `/sbin/*` looks under `/usr/sbin`).
    let mut prefixes = pattern.prefixes();
    prefixes.dedup();
    for prefix in prefixes {
        let Some((resolved, EntryKind::Dir { .. })) = index.resolve(&prefix) else { continue };
        let under = if resolved == "/" { "/".to_string() } else { format!("{resolved}/") };
        for path in index.paths().filter(|p| p.starts_with(&under)) {
            if pattern.matches_below(&prefix, &resolved, path) && pass(path) && !out.iter().any(|o| o == path) {
                out.push(path.to_string());
                if out.len() >= limit {
                    return out;
                }
            }
        }
    }
    out
}

/// Evaluate an expression; on success, the evidence of the tests that made it true.
pub fn evaluate(expr: &Expr, index: &FileIndex) -> Option<Vec<Evidence>> {
    match expr {
        Expr::Const(b, _) => b.then(Vec::new),
        Expr::Test { kind, pattern, .. } => {
            let matched = test_matches(index, *kind, pattern, MAX_EVIDENCE_PATHS);
            (!matched.is_empty()).then(|| vec![Evidence { precondition: expr.to_string(), matched }])
        }
        Expr::All(items, _) => {
            let mut ev = Vec::new();
            for e in items {
                ev.extend(evaluate(e, index)?);
            }
            Some(ev)
        }
        Expr::Any(items, _) => {
            let mut ev = Vec::new();
            let mut any = false;
            for e in items {
                if let Some(x) = evaluate(e, index) {
                    any = true;
                    ev.extend(x);
                }
            }
            any.then_some(ev)
        }
        Expr::Not(inner, _) => match evaluate(inner, index) {
            Some(_) => None,
            None => Some(vec![Evidence { precondition: expr.to_string(), matched: Vec::new() }]),
        },
    }
}

/// What a witness entry must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WitnessKind {
    File,
    Executable,
    Dir,
}

/// A concrete path matching a pattern: first `{}` alternative, `**` empty, `*`/`?` -> `x`,
/// a class -> its first character.
pub fn example_path(pattern: &Pattern) -> String {
    let mut s = pattern.text.clone();
    while let Some(open) = s.find('{') {
        let Some(len) = s[open..].find('}') else { break };
        let first = s[open + 1..open + len].split(',').next().unwrap_or("").to_string();
        s = format!("{}{}{}", &s[..open], first, &s[open + len + 1..]);
    }
    let s = s.replace("/**", "");
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => out.push('x'),
            '[' => {
                let class: String = chars.by_ref().take_while(|c| *c != ']').collect();
                let class = class.trim_start_matches(['!', '^']);
                out.push(class.chars().next().unwrap_or('x'));
            }
            c => out.push(c),
        }
    }
    out
}

/// Entries that make `expr` true in an otherwise empty image (for tests and fixtures): `all`
/// needs each part, `any` its first, `not` nothing.
pub fn witness(expr: &Expr) -> Vec<(String, WitnessKind)> {
    match expr {
        Expr::All(items, _) => items.iter().flat_map(witness).collect(),
        Expr::Any(items, _) => items.first().map(witness).unwrap_or_default(),
        Expr::Not(..) | Expr::Const(..) => Vec::new(),
        Expr::Test { kind, pattern, .. } => {
            let k = match kind {
                TestKind::Dir => WitnessKind::Dir,
                TestKind::Executable => WitnessKind::Executable,
                TestKind::File | TestKind::Exists => WitnessKind::File,
            };
            vec![(example_path(pattern), k)]
        }
    }
}

/// The regular files karmor would have listed: every regular file of every layer, once per layer
/// that wrote it, whiteout markers included, even when a later layer deleted or replaced it
/// (karmor extracts layers one over the other and never applies whiteouts; symlinks and hard
/// links are not listed), under its temporary-directory prefix (`legacy::KARMOR_PREFIX`), as its
/// unanchored regexes saw them.
pub fn karmor_file_list(index: &FileIndex) -> Vec<String> {
    index.layer_files().map(|p| format!("{}{p}", legacy::KARMOR_PREFIX)).collect()
}

/// karmor's match counts for every legacy precondition of a library over one image.
pub fn karmor_counts_for(templates: &[Template], index: &FileIndex) -> legacy::KarmorCounts {
    let pres = templates.iter().filter_map(|t| t.legacy.as_ref()).flat_map(|l| l.preconditions.iter());
    legacy::karmor_counts(pres, &karmor_file_list(index))
}

/// Decide one template for one image. `karmor` is `karmor_counts_for(..)` (computed once per
/// image; empty when the library has no legacy templates).
pub fn decide(t: &Template, index: &FileIndex, karmor: &legacy::KarmorCounts, tags: &[String], mode: Mode) -> Decision {
    if !templates::has_any_tag(t, tags) {
        return Decision::Skip(format!("no tag among {}", tags.join(", ")));
    }
    if let Some(why) = &t.invalid {
        return Decision::Skip(format!("template disabled: {why}"));
    }
    if mode == Mode::LegacyKarmor {
        if let Some(l) = &t.legacy {
            return match legacy::karmor_decide(&l.preconditions, karmor) {
                Ok(true) => Decision::Recommend(karmor_evidence(&l.preconditions, karmor)),
                Ok(false) => Decision::Skip(format!("karmor preconditions {:?} not met", l.preconditions)),
                Err(e) => Decision::Skip(e.to_string()),
            };
        }
    }
    if let Some(why) = t.legacy.as_ref().and_then(|l| l.untranslatable.clone()) {
        return Decision::Skip(why.to_string());
    }
    match evaluate(&t.precondition, index) {
        Some(ev) => Decision::Recommend(ev),
        None => Decision::Skip(format!("precondition not met: {}", t.precondition)),
    }
}

/// Evidence of a karmor decision: per precondition, the files its regex matched (image paths, a
/// file listed once per layer that wrote it).
fn karmor_evidence(preconditions: &[String], karmor: &legacy::KarmorCounts) -> Vec<Evidence> {
    preconditions
        .iter()
        .map(|p| Evidence {
            precondition: format!("karmor({p:?})"),
            matched: karmor.get(p).and_then(|h| h.as_ref().ok()).map(|h| h.sample.clone()).unwrap_or_default(),
        })
        .collect()
}

/// For legacy templates: does our translation decide differently from karmor? (`None` = same.)
pub fn legacy_difference(t: &Template, index: &FileIndex, karmor: &legacy::KarmorCounts) -> Option<(bool, bool)> {
    let l = t.legacy.as_ref()?;
    let karmor = legacy::karmor_decide(&l.preconditions, karmor).unwrap_or(false);
    let ours = l.untranslatable.is_none() && evaluate(&t.precondition, index).is_some();
    (karmor != ours).then_some((ours, karmor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use armorc_grammar::precondition::parse;

    fn index() -> FileIndex {
        let mut i = FileIndex::new();
        i.insert("/usr/bin/dash", EntryKind::File { mode: 0o755, size: 1 }).unwrap();
        i.insert("/usr/bin/who", EntryKind::File { mode: 0o755, size: 1 }).unwrap();
        i.insert("/usr/sbin/nologin", EntryKind::File { mode: 0o755, size: 1 }).unwrap();
        i.insert("/etc/passwd", EntryKind::File { mode: 0o644, size: 1 }).unwrap();
        i.insert("/bin", EntryKind::Symlink { target: "usr/bin".into() }).unwrap();
        i.insert("/sbin", EntryKind::Symlink { target: "usr/sbin".into() }).unwrap();
        i.insert("/usr/bin/sh", EntryKind::Symlink { target: "dash".into() }).unwrap();
        i
    }

    fn eval(s: &str) -> Option<Vec<Evidence>> {
        evaluate(&parse(s).unwrap(), &index())
    }

    #[test]
    fn tests_follow_symlinks() {
        assert!(eval(r#"executable("/bin/sh")"#).is_some());
        assert!(eval(r#"file("/bin/who")"#).is_some());
        assert!(eval(r#"executable("/etc/passwd")"#).is_none());
        assert!(eval(r#"dir("/bin")"#).is_some());
        assert!(eval(r#"exists("/usr/bin/whoami")"#).is_none());
    }

    #[test]
    fn globs_walk_below_resolved_prefixes() {
        let ev = eval(r#"executable("/sbin/*")"#).unwrap();
        assert_eq!(ev[0].matched, vec!["/usr/sbin/nologin"]);
        let ev = eval(r#"all(exists("/usr/**/who"), not(file("/etc/shadow")))"#).unwrap();
        assert_eq!(ev.len(), 2);
        assert!(eval(r#"any(file("/opt/**"), file("/etc/*.conf"))"#).is_none());
    }
}
