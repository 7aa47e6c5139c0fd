//! The divergence analysis end to end (issue 16): `armorc compile --target all` over a policy set
//! with each measured shape (exec also opens the binary under a file allow-list, a readOnly Block
//! under it, a non-recursive Block directory under a recursive Allow, a fromSource network rule)
//! prints one warning per shape naming both enforcers' answers and a summary line, records the
//! count in index.json, refuses with --deny-divergence; `armorc explain --divergence OUT` lists
//! them (snapshot).
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use common::{armorc, files};
use std::path::{Path, PathBuf};
use std::process::Output;

const FIXTURES: &str = "compiler/tests/fixtures/divergence";

fn compile(out: &Path, extra: &[&str]) -> Output {
    let policies = format!("{FIXTURES}/shapes.yaml");
    let workloads = format!("{FIXTURES}/deploy.yaml");
    let mut args = vec![
        "compile",
        policies.as_str(),
        "--workloads",
        workloads.as_str(),
        "--default-posture",
        "file=block",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    armorc(&args)
}

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/compile")
}

#[test]
fn one_warning_per_shape_with_both_answers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = compile(&out, &["--target", "all"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains(": warning[D")).collect();
    let codes: Vec<&str> = warnings.iter().map(|l| &l[l.find("warning[").unwrap() + 8..][..4]).collect();
    // exec under the allow-list, readOnly Block read, dead non-recursive directory, fromSource
    assert_eq!(codes, ["D002", "D003", "D005", "D006"], "{stderr}");
    for w in &warnings {
        assert!(w.contains("BPF-LSM ") && w.contains("AppArmor ") && w.contains("suggestion: "), "{w}");
        assert!(w.starts_with(&format!("{FIXTURES}/shapes.yaml:")), "span on the rule: {w}");
    }
    assert!(warnings[0].contains("BPF-LSM denies") && warnings[0].contains("AppArmor allows"), "{}", warnings[0]);
    assert!(warnings[1].contains("BPF-LSM allows") && warnings[1].contains("AppArmor denies"), "{}", warnings[1]);
    assert!(
        stderr.contains("armorc compile: 4 divergence(s) between BPF-LSM and AppArmor in 1 of 1 target(s)"),
        "{stderr}"
    );
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["targets"][0]["divergences"], 4);

    let explained = armorc(&["explain", "--divergence", out.to_str().unwrap()]);
    assert!(explained.status.success());
    insta::with_settings!({ snapshot_path => snapshot_dir(), prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("explain_divergence", String::from_utf8_lossy(&explained.stdout));
    });
}

#[test]
fn deny_divergence_refuses_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = compile(&out, &["--target", "all", "--deny-divergence"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains(": error[D")).count(), 4, "{stderr}");
    assert!(stderr.contains("4 divergence error(s) and --deny-divergence; nothing written"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn one_enforcer_has_nothing_to_diverge_from() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = compile(&out, &["--target", "bpf", "--deny-divergence"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(!stderr.contains("divergence"), "{stderr}");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert!(index["targets"][0]["divergences"].is_null());
    assert!(!out.join("divergence.json").exists());
}

#[test]
fn no_divergence_skips_the_analysis_and_changes_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (with, without) = (dir.path().join("with"), dir.path().join("without"));
    assert!(compile(&with, &["--target", "all"]).status.success());
    let run = compile(&without, &["--target", "all", "--no-divergence"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(!stderr.contains("warning[D") && !stderr.contains("divergence(s)"), "{stderr}");
    assert!(!without.join("divergence.json").exists());
    assert!(with.join("divergence.json").exists());
    let index = |out: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap()
    };
    let (mut a, b) = (index(&with), index(&without));
    assert!(b["targets"][0]["divergences"].is_null());
    a["targets"][0]["divergences"] = serde_json::Value::Null;
    assert_eq!(a, b, "only the divergence count differs");
    for dir in ["bpf", "apparmor"] {
        let written = files(&with.join(dir));
        assert!(!written.is_empty(), "{dir}");
        assert_eq!(written, files(&without.join(dir)), "{dir}: the same files, byte for byte");
    }
    let both = armorc(&[
        "compile",
        "x.yaml",
        "--target",
        "all",
        "-o",
        without.to_str().unwrap(),
        "--no-divergence",
        "--deny-divergence",
    ]);
    assert_eq!(both.status.code(), Some(2), "the two flags contradict each other");
}
