//! Cross-check: for every fixture set, the AppArmor evaluator (compiler::model::apparmor, reading the
//! generated profile text) and the reference decision model (compiler::model, reading the BPF-LSM
//! map image of the same policies) answer at least 2,000 generated queries. Every disagreement
//! must fall under a deviation named in docs/semantics.md "## AppArmor"; the count per deviation
//! is printed. No kernel confirms either side here (AppArmor is not in our kernels).
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod aa_corpus;
mod aa_fixtures;
mod common;

use armorc_compiler::ir::{self, Action, RuleTarget as T};
use armorc_compiler::lower::{apparmor, bpf};
use armorc_compiler::model::apparmor::glob::Glob;
use armorc_compiler::model::apparmor::{Decision, Exec, LineCache, ProfileSet};
use armorc_compiler::model::{Model, Op, Query};
use std::collections::{BTreeMap, BTreeSet};

const MIN_QUERIES: usize = 2000;

// Socket (type, protocol) pairs a program can ask for, and their AppArmor words: the analysis's own.
use armorc_compiler::divergence::{proto_word, type_word, SOCKETS};

#[derive(Clone, Debug)]
enum Q {
    File { op: Op, path: String, owner: bool },
    Socket { ty: u32, proto: u32 },
    Cap(u32),
}

/// A fixture's rules seen from one query: which of them match (test-side IR matching).
struct Rules<'a> {
    rules: Vec<&'a ir::Rule>,
}

fn dir_covers(dir: &str, recursive: bool, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(dir) else { return false };
    !rest.is_empty() && (recursive || !rest.contains('/'))
}

impl<'a> Rules<'a> {
    /// Rules of the query's source (or global ones) that match the query.
    fn matching(&self, q: &Q, source: Option<&str>) -> Vec<&'a ir::Rule> {
        self.rules
            .iter()
            .copied()
            .filter(|r| r.action != Action::Audit)
            .filter(|r| match r.source.as_deref().filter(|s| !s.is_empty()) {
                None => true,
                Some(s) => Some(s) == source,
            })
            .filter(|r| rule_matches(r, q))
            .collect()
    }
}

fn rule_matches(r: &ir::Rule, q: &Q) -> bool {
    match (q, &r.target) {
        (Q::File { op: Op::Exec, path, .. }, T::ProcessPath { path: p, .. }) => p == path,
        (Q::File { op: Op::Exec, path, .. }, T::ProcessExecname { name, .. }) => {
            path.rsplit('/').next() == Some(name.as_str())
        }
        (Q::File { op: Op::Exec, path, .. }, T::ProcessDir { dir, recursive, .. }) => dir_covers(dir, *recursive, path),
        (Q::File { op: Op::Exec, path, .. }, T::ProcessPattern { pattern, .. }) => {
            Glob::parse(pattern).is_ok_and(|g| g.matches(path))
        }
        (Q::File { op: Op::Open | Op::Write, path, .. }, T::FilePath { path: p, .. }) => p == path,
        (Q::File { op: Op::Open | Op::Write, path, .. }, T::FileDir { dir, recursive, .. }) => {
            dir_covers(dir, *recursive, path)
        }
        (Q::File { op: Op::Open | Op::Write, path, .. }, T::FilePattern { pattern, .. }) => {
            Glob::parse(pattern).is_ok_and(|g| g.matches(path))
        }
        (Q::Socket { ty, proto }, T::Protocol { known, .. }) => match known {
            None | Some(ir::Protocol::All) => true,
            Some(p) => {
                let w = format!("{p:?}").to_lowercase();
                w == type_word(*ty) || w == proto_word(*ty, *proto)
            }
        },
        (Q::Cap(n), T::Capability { number, .. }) => *number == Some(*n as u8),
        _ => false,
    }
}

fn is_pattern(r: &ir::Rule) -> bool {
    matches!(r.target, T::ProcessPattern { .. } | T::FilePattern { .. })
}

/// Name the documented deviation a disagreement falls under (docs/semantics.md "## AppArmor",
/// "Where the AppArmor profile and the decision model differ"), or None.
fn classify(
    rules: &Rules,
    q: &Q,
    source: Option<&str>,
    aa_allows: bool,
    all_rules: &[&ir::Rule],
    host: bool,
) -> Option<&'static str> {
    let m = rules.matching(q, source);
    if host && matches!(q, Q::Cap(_)) {
        return Some("host-capabilities");
    }
    if let Q::File { op: Op::Open, path, .. } = q {
        if aa_allows && source == Some(path.as_str()) {
            return Some("source-reads-itself");
        }
    }
    if let Q::File { path, .. } = q {
        if path.starts_with("/proc/") || path.starts_with("/sys/") {
            return Some("aa-baseline-denies");
        }
    }
    if let Q::File { op: Op::Open, path, .. } = q {
        if aa_allows && Glob::parse("/{usr/,}lib/*-linux-gnu*/{*,**}").unwrap().matches(path) {
            return Some("aa-baseline-libraries");
        }
    }
    if let Q::Socket { ty, proto } = q {
        let w = proto_word(*ty, *proto);
        if matches!(w, "icmpv6" | "sctp") || type_word(*ty) == "dccp" {
            return Some("aa-protocol-unexpressible");
        }
    }
    if let Q::Cap(_) = q {
        if all_rules.iter().any(|r| matches!(&r.target, T::Capability { number: None, .. })) {
            return Some("unknown-capability");
        }
    }
    if m.iter().any(|r| is_pattern(r)) {
        return Some("bpf-ignores-patterns");
    }
    if let Q::File { path, .. } = q {
        let dir_itself = all_rules.iter().any(|r| match &r.target {
            T::FileDir { dir, .. } | T::ProcessDir { dir, .. } => dir.trim_end_matches('/') == path,
            _ => false,
        });
        if dir_itself {
            return Some("dir-itself");
        }
    }
    let block = m.iter().any(|r| r.action == Action::Block);
    let allow = m.iter().any(|r| r.action == Action::Allow);
    if !aa_allows && block && allow {
        return Some("deny-always-wins");
    }
    None
}

struct Outcome {
    queries: usize,
    agree: usize,
    deviations: BTreeMap<&'static str, usize>,
    unexplained: Vec<String>,
}

fn path_universe(f: &aa_fixtures::Fixture) -> Vec<String> {
    let mut paths: BTreeSet<String> = [
        "/etc/passwd",
        "/etc/hostname",
        "/etc/shadow",
        "/bin/ls",
        "/bin/sh",
        "/bin/bash",
        "/bin/cat",
        "/usr/bin/id",
        "/usr/bin/env",
        "/usr/bin/apt",
        "/tmp/x",
        "/tmp/a/b.sh",
        "/home/u/.ssh/id_rsa",
        "/var/log/syslog",
        "/opt/x",
        "/data/f",
        "/srv/www/index.html",
        "/app/run",
        "/usr/local/bin/tool",
        "/usr/sbin/nginx",
        "/var/www/index.html",
        "/proc/1/mem",
        "/sys/kernel/security/x",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for p in &f.policies {
        for r in &p.rules {
            let mut add = |s: String| {
                paths.insert(s);
            };
            match &r.target {
                T::FilePath { path, .. } | T::ProcessPath { path, .. } if !path.is_empty() => {
                    add(path.clone());
                    add(format!("{path}x"));
                    if let Some((dir, _)) = path.rsplit_once('/') {
                        add(format!("{dir}/other"));
                        add(format!("{dir}/deeper/{}", path.rsplit('/').next().unwrap()));
                    }
                }
                T::FileDir { dir, .. } | T::ProcessDir { dir, .. } => {
                    add(dir.trim_end_matches('/').to_string());
                    add(format!("{dir}f"));
                    add(format!("{dir}sub/f"));
                    add(format!("{dir}a/b/c"));
                }
                T::ProcessExecname { name, .. } => {
                    add(format!("/usr/bin/{name}"));
                    add(format!("/opt/{name}"));
                }
                _ => {}
            }
            if let Some(s) = r.source.as_deref().filter(|s| !s.is_empty()) {
                add(s.to_string());
            }
        }
    }
    paths.into_iter().collect()
}

fn run_fixture(f: &aa_fixtures::Fixture) -> Outcome {
    let refs = f.policy_refs();
    let profile = apparmor::lower_target(&f.target, &refs);
    let set =
        ProfileSet::parse(&profile.text).unwrap_or_else(|e| panic!("{}: evaluator cannot read profile: {e}", f.name));
    let model = Model::new(&bpf::lower_target(&f.target, &refs));
    let all_rules: Vec<&ir::Rule> = f.policies.iter().flat_map(|p| &p.rules).collect();
    let rules = Rules { rules: all_rules.clone() };

    // Which profile a task with this executable runs under: the root's px transitions.
    let root = profile.name.clone();
    // (from every profile of the file: under a process allowlist the container profile itself may
    // not execute a source that another sub-profile may).
    let mut transitions: BTreeMap<String, String> = BTreeMap::new();
    for name in std::iter::once(root.clone()).chain(set.profiles.keys().cloned()) {
        for (path, target) in set.transitions(&name) {
            transitions.entry(path).or_insert(target);
        }
    }
    let mut sources: Vec<Option<String>> = vec![None, Some("/bin/unrelated".into())];
    sources.extend(all_rules.iter().filter_map(|r| r.source.clone()).filter(|s| !s.is_empty()).map(Some));
    sources.sort();
    sources.dedup();

    let mut queries: Vec<(Q, Option<String>)> = Vec::new();
    let paths = path_universe(f);
    'fill: for round in 0.. {
        for src in &sources {
            for p in &paths {
                let path = if round == 0 { p.clone() } else { format!("{p}/g{round}") };
                for op in [Op::Exec, Op::Open, Op::Write] {
                    for owner in [true, false] {
                        queries.push((Q::File { op, path: path.clone(), owner }, src.clone()));
                    }
                }
            }
            if round == 0 {
                queries.extend(SOCKETS.iter().map(|&(ty, proto)| (Q::Socket { ty, proto }, src.clone())));
                queries.extend(ir::CAPABILITIES.iter().map(|&(_, n)| (Q::Cap(n as u32), src.clone())));
            }
        }
        if queries.len() >= MIN_QUERIES || round > 20 {
            break 'fill;
        }
    }

    let mut out = Outcome { queries: queries.len(), agree: 0, deviations: BTreeMap::new(), unexplained: vec![] };
    for (q, src) in &queries {
        let prof = src.as_ref().and_then(|s| transitions.get(s)).cloned().unwrap_or_else(|| root.clone());
        let aa_allows = match q {
            Q::File { op: Op::Exec, path, owner } => {
                matches!(set.exec(&prof, path, *owner), Exec::Runs(_) | Exec::Unconfined)
            }
            Q::File { op, path, owner } => {
                let c = if *op == Op::Write { 'w' } else { 'r' };
                set.file(&prof, path, c, *owner) == Decision::Allow
            }
            Q::Socket { ty, proto } => set.network(&prof, type_word(*ty), proto_word(*ty, *proto)) == Decision::Allow,
            Q::Cap(n) => {
                let name = ir::CAPABILITIES.iter().find(|c| c.1 as u32 == *n).unwrap().0;
                set.capability(&prof, name) == Decision::Allow
            }
        };
        let mut mq = match q {
            Q::File { op, .. } => Query::new(*op),
            Q::Socket { .. } => Query::new(Op::Socket),
            Q::Cap(_) => Query::new(Op::Capable),
        };
        match q {
            Q::File { path, owner, .. } => {
                mq.path = path.as_bytes().to_vec();
                mq.owner = *owner;
            }
            Q::Socket { ty, proto } => {
                mq.sock_type = *ty;
                mq.protocol = *proto;
            }
            Q::Cap(n) => mq.capability = *n,
        }
        mq.source = src.clone().unwrap_or_default().into_bytes();
        let model_allows = !model.decide(&mq).deny;
        if model_allows == aa_allows {
            out.agree += 1;
            continue;
        }
        let entered = src
            .as_ref()
            .is_none_or(|s| transitions.contains_key(s) || !all_rules.iter().any(|r| r.source.as_ref() == Some(s)));
        let class = if entered {
            classify(&rules, q, src.as_deref(), aa_allows, &all_rules, f.target.host)
        } else {
            Some("source-not-entered")
        };
        match class {
            Some(d) => *out.deviations.entry(d).or_default() += 1,
            None => out.unexplained.push(format!(
                "{}: {q:?} source {src:?} (profile {prof}): AppArmor {} / model {}",
                f.name,
                if aa_allows { "allow" } else { "deny" },
                if model_allows { "allow" } else { "deny" }
            )),
        }
    }
    out
}

/// Every deviation name the classifier uses must be documented in docs/semantics.md.
const DEVIATIONS: [&str; 10] = [
    "aa-baseline-libraries",
    "source-not-entered",
    "source-reads-itself",
    "aa-baseline-denies",
    "aa-protocol-unexpressible",
    "unknown-capability",
    "bpf-ignores-patterns",
    "dir-itself",
    "deny-always-wins",
    "host-capabilities",
];

#[test]
fn evaluator_agrees_with_the_decision_model() {
    let mut unexplained = Vec::new();
    let mut total: BTreeMap<&str, usize> = BTreeMap::new();
    for f in aa_fixtures::all() {
        let o = run_fixture(&f);
        assert!(o.queries >= MIN_QUERIES, "{}: only {} queries", f.name, o.queries);
        println!("{:<24} {:>5} queries, {:>5} agree, deviations {:?}", f.name, o.queries, o.agree, o.deviations);
        for (d, n) in o.deviations {
            *total.entry(d).or_default() += n;
        }
        unexplained.extend(o.unexplained);
    }
    println!("deviation counts over all fixtures:");
    for (d, n) in &total {
        println!("  {d}: {n}");
    }
    let shown: Vec<&String> = unexplained.iter().take(60).collect();
    assert!(unexplained.is_empty(), "{} disagreements under no named deviation:\n{shown:#?}", unexplained.len());
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/semantics.md")).unwrap();
    for d in DEVIATIONS {
        assert!(doc.contains(&format!("`{d}`")), "deviation `{d}` is not documented in docs/semantics.md");
    }
}

/// The same cross-check over every 2nd corpus file (composed as in the corpus test): real policy
/// shapes, at least 2,000 queries per target.
#[test]
fn evaluator_agrees_with_the_decision_model_on_corpus_sample() {
    let dir = aa_corpus::corpus_dir();
    if !dir.exists() {
        common::skip_or_fail(format!("corpus not found at {}", dir.display()));
        return;
    }
    let mut unexplained = Vec::new();
    let mut total: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut targets, mut queries) = (0, 0);
    for file in aa_corpus::yaml_files(&dir).iter().step_by(2) {
        for (target, policies) in aa_corpus::run_file(file).targets {
            let f = aa_fixtures::Fixture { name: "corpus", target, policies };
            let o = run_fixture(&f);
            assert!(o.queries >= MIN_QUERIES, "{}: only {} queries", file.display(), o.queries);
            targets += 1;
            queries += o.queries;
            for (d, n) in o.deviations {
                *total.entry(d).or_default() += n;
            }
            unexplained.extend(o.unexplained.into_iter().map(|u| format!("{}: {u}", file.display())));
        }
    }
    println!("corpus sample: {targets} targets, {queries} queries; deviation counts:");
    for (d, n) in &total {
        println!("  {d}: {n}");
    }
    let shown: Vec<&String> = unexplained.iter().take(60).collect();
    assert!(unexplained.is_empty(), "{} disagreements under no named deviation:\n{shown:#?}", unexplained.len());
}

/// The divergence analysis reads a profile by the lowering's line numbers (`TextLines`) into a
/// `LineCache` shared by a run and finds a path's lines through the cache's index
/// (`lines_for_cached`); the evaluator's reference reads the text and looks at every line
/// (`lines_for`). Both must give the same answers, for every fixture's profiles, paths and
/// operations, each profile read twice (the second time by number).
#[test]
fn numbered_reading_and_path_index_agree_with_the_text() {
    let mut cache = LineCache::default();
    let mut compared = 0;
    for f in aa_fixtures::all() {
        let refs = f.policy_refs();
        let mut lowering = apparmor::Lowering::new(refs.iter().copied()).recording_lines();
        let profile = lowering.lower(&f.target, &(0..refs.len()).collect::<Vec<_>>());
        assert!(!profile.lines.lines.is_empty(), "{}: no lines recorded", f.name);
        let text = ProfileSet::parse(&profile.text).unwrap();
        let paths = path_universe(&f);
        for _ in 0..2 {
            let set = ProfileSet::parse_cached(&profile.text, &profile.lines, &mut cache).unwrap();
            assert_eq!(set.profiles.keys().collect::<Vec<_>>(), text.profiles.keys().collect::<Vec<_>>(), "{}", f.name);
            for name in text.profiles.keys() {
                assert_eq!(set.transitions(name), text.transitions(name), "{}: {name}", f.name);
                for path in &paths {
                    let (by_index, by_scan) =
                        (set.lines_for_cached(name, path, set.lines().path_id(path)), text.lines_for(name, path));
                    for owner in [true, false] {
                        assert_eq!(by_index.exec(owner), by_scan.exec(owner), "{}: {name} exec {path}", f.name);
                        for op in ['r', 'w', 'a', 'l', 'k', 'm'] {
                            let (a, b) = (by_index.file(op, owner), by_scan.file(op, owner));
                            assert_eq!(a, b, "{}: {name} {op} {path} owner {owner}", f.name);
                            compared += 1;
                        }
                    }
                }
                for &(ty, proto) in &SOCKETS {
                    let (t, p) = (type_word(ty), proto_word(ty, proto));
                    assert_eq!(set.network(name, t, p), text.network(name, t, p), "{}: {name} {t}/{p}", f.name);
                }
                for (cap, _) in ir::CAPABILITIES {
                    assert_eq!(set.capability(name, cap), text.capability(name, cap), "{}: {name} {cap}", f.name);
                }
            }
        }
    }
    println!("{compared} file answers compared");
    assert!(compared > 10_000, "only {compared} answers compared");
}
