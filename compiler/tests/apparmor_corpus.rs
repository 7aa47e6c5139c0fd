//! Every profile generated from the corpus (lint-clean documents of
//! /work/shared/corpus/policy-templates, composed against generated workloads and node labels)
//! passes `apparmor_parser -QK`. Fails on any parser error.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod aa_corpus;
mod common;

use armorc_compiler::lower::apparmor::{check_with_parser, Profile};
use std::sync::Mutex;

#[test]
fn corpus_profiles_pass_apparmor_parser() {
    let dir = aa_corpus::corpus_dir();
    if !dir.exists() {
        common::skip_or_fail(format!(
            "corpus not found at {} (tests read ../shared/corpus when present)",
            dir.display()
        ));
        return;
    }
    if std::process::Command::new("apparmor_parser").arg("--version").output().is_err() {
        common::skip_or_fail("apparmor_parser not installed (run .ci/install-apparmor.sh)");
        return;
    }
    let files = aa_corpus::yaml_files(&dir);
    let runs: Vec<_> = files.iter().map(|f| aa_corpus::run_file(f)).collect();
    let policies: usize = runs.iter().map(|r| r.policies).sum();
    let profiles: Vec<(&std::path::Path, &Profile)> =
        runs.iter().flat_map(|r| r.profiles.iter().map(move |p| (r.file.as_path(), p))).collect();
    assert!(policies > 100, "expected the corpus to yield lint-clean policies, got {policies}");
    assert!(profiles.len() >= policies / 2, "only {} profiles for {policies} policies", profiles.len());

    // Check in parallel (the parser is the slow part); collect every failure.
    let failures = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(4);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((file, p)) = profiles.get(i) else { break };
                if let Err(e) = check_with_parser(p) {
                    failures.lock().unwrap().push(format!("{}: {}: {e}", file.display(), p.name));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let subs: usize = profiles.iter().map(|(_, p)| p.text.matches("\nprofile ").count()).sum();
    println!(
        "corpus: {} files, {policies} lint-clean policies, {} profile files ({subs} profiles incl. sub-profiles), {} rejected",
        files.len(),
        profiles.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "apparmor_parser rejected {} profiles:\n{}", failures.len(), failures.join("\n"));
}
