//! The divergence analysis end to end (issue 16): `armorc compile --target all` over a policy set
//! with each measured shape (exec also opens the binary under a file allow-list, a readOnly Block
//! under it, a non-recursive Block directory under a recursive Allow, a fromSource network rule)
//! prints one warning per shape naming both enforcers' answers and a summary line, records the
//! count in index.json, refuses with --deny-divergence; `armorc explain --divergence OUT` lists
//! them (snapshot). Where a target's Landlock plan applies, BPF-LSM is compared with Landlock too
//! (D010).
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
        stderr.contains("armorc compile: 4 divergence(s) between BPF-LSM and AppArmor or Landlock in 1 of 1 target(s)"),
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

/// D010: where the target's Landlock plan applies (a container with a `command`, which armor-exec
/// wraps), an Allow under a Block directory is allowed by BPF-LSM and refused by Landlock's layer;
/// a container the patches cannot wrap (K005) is not compared with Landlock.
#[test]
fn landlock_divergences_where_the_plan_applies() {
    let dir = tempfile::tempdir().unwrap();
    let policies = "compiler/tests/fixtures/diagnostics-divergence/D010-fail.yaml";
    let deploy = |command: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: demo}}\nspec:\n  template:\n    \
             metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: nginx, image: nginx{command}}}]\n"
        )
    };
    for (name, command, want) in [("wrapped", ", command: [nginx]", 1), ("unwrapped", "", 0)] {
        let workloads = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&workloads, deploy(command)).unwrap();
        let out = dir.path().join(name);
        let run = armorc(&[
            "compile",
            policies,
            "--workloads",
            workloads.to_str().unwrap(),
            "--target",
            "all",
            "-o",
            out.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        let d010: Vec<&str> = stderr.lines().filter(|l| l.contains(": warning[D010]")).collect();
        assert_eq!(d010.len(), want, "{name}: {stderr}");
        let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        let divergence: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("divergence.json")).unwrap()).unwrap();
        let listed = divergence["targets"][0]["divergences"].as_array().unwrap().len();
        assert_eq!(index["targets"][0]["divergences"], listed, "{name}");
        if want == 0 {
            assert!(stderr.contains("warning[K005]"), "{name}: {stderr}");
            continue;
        }
        // On the Allow, with both answers and the Block's rule behind Landlock's refusal.
        let w = d010[0];
        assert!(w.starts_with(&format!("{policies}:14:")), "{w}");
        assert!(w.contains("open /srv/data/motd: BPF-LSM allows"), "{w}");
        assert!(
            w.contains("Landlock denies (read_file of /srv/data/motd: layer deny read_file, rule KubeArmorPolicy/demo/block-data"),
            "{w}"
        );
        let record = divergence["divergences"].as_array().unwrap().iter().find(|d| d["code"] == "D010").unwrap();
        assert!(record.get("apparmor").is_none() && record["landlock"].is_string(), "{record}");
        let explained = armorc(&["explain", "--divergence", out.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&explained.stdout);
        assert!(text.contains("    Landlock denies (read_file of /srv/data/motd"), "{text}");
    }
}
