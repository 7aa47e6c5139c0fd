//! Every built-in template loads, renders and validates; each has an index that triggers it and
//! one that does not.

use armorc_grammar::precondition::{Expr, Pattern, TestKind};
use armorc_recommend::matching::{decide, Decision, Mode};
use armorc_recommend::templates;
use armorc_recommend::{EntryKind, FileIndex};

/// A concrete path matching a glob pattern: first `{}` alternative, `**` empty, `*`/`?` -> `x`,
/// classes -> their first character.
fn example_path(pattern: &str) -> String {
    let mut s = pattern.to_string();
    while let Some(open) = s.find('{') {
        let close = open + s[open..].find('}').unwrap();
        let first = s[open + 1..close].split(',').next().unwrap().to_string();
        s = format!("{}{}{}", &s[..open], first, &s[close + 1..]);
    }
    let s = s.replace("/**", "");
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => out.push('x'),
            '[' => {
                let class: String = chars.by_ref().take_while(|c| *c != ']').collect();
                out.push(class.chars().next().unwrap());
            }
            c => out.push(c),
        }
    }
    assert!(Pattern::parse(pattern).unwrap().matches(&out), "{out} should match {pattern}");
    out
}

/// Add entries so that `e` holds.
fn satisfy(e: &Expr, index: &mut FileIndex) {
    match e {
        Expr::All(items, _) => items.iter().for_each(|i| satisfy(i, index)),
        Expr::Any(items, _) => satisfy(&items[0], index),
        Expr::Not(_, _) | Expr::Const(..) => {}
        Expr::Test { kind, pattern, .. } => {
            let path = example_path(&pattern.text);
            let entry = match kind {
                TestKind::Dir => EntryKind::Dir { mode: 0o755 },
                TestKind::Executable => EntryKind::File { mode: 0o755, size: 10 },
                _ => EntryKind::File { mode: 0o644, size: 10 },
            };
            index.insert(&path, entry).unwrap();
        }
    }
}

#[test]
fn builtin_library_loads_with_at_least_40_templates() {
    let lib = templates::builtin().unwrap_or_else(|e| panic!("{e}"));
    assert!(lib.templates.len() >= 40, "{}", lib.templates.len());
    for t in &lib.templates {
        assert!(!t.summary.is_empty() && !t.description.is_empty() && !t.references.is_empty(), "{}", t.name);
        assert!(!t.is_generic(), "{} must have a real precondition", t.name);
    }
}

#[test]
fn each_template_has_a_triggering_and_a_non_triggering_index() {
    let lib = templates::builtin().unwrap();
    for t in &lib.templates {
        let mut yes = FileIndex::new();
        satisfy(&t.precondition, &mut yes);
        let files = armorc_recommend::matching::karmor_file_list(&yes);
        assert!(matches!(decide(t, &yes, &files, &[], Mode::Ours), Decision::Recommend(_)), "{} not triggered by {:?}", t.name, yes.paths().collect::<Vec<_>>());
        let mut no = FileIndex::new();
        no.insert("/etc/hostname", EntryKind::File { mode: 0o644, size: 3 }).unwrap();
        assert!(matches!(decide(t, &no, &[], &[], Mode::Ours), Decision::Skip(_)), "{} triggered by an unrelated index", t.name);
    }
}
