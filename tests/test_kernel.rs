//! `armorc test --kernel` with Landlock on this machine: the cases of
//! tests/fixtures/armortest/kernel performed for real through armor-loader, and the kernel's
//! answers equal to the model's (`armorc test` without --kernel) on the same files. BPF-LSM and
//! AppArmor run in the kernel lab (scripts/lab-kernel-test.sh).
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use common::{armorc, skip_or_fail};
use std::path::PathBuf;

const DIR: &str = "tests/fixtures/armortest-kernel";

/// armor-loader beside armorc (cargo builds both into one directory), as root; else skipped.
fn loader() -> Option<PathBuf> {
    let loader = PathBuf::from(env!("CARGO_BIN_EXE_armorc")).with_file_name("armor-loader");
    if !loader.is_file() {
        skip_or_fail(format!("{} missing (cargo build -p armor-loader)", loader.display()));
        return None;
    }
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        skip_or_fail("not root: armor-loader exec needs root");
        return None;
    }
    Some(loader)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Each case's name and result word in the JSON report: passed, failed or skipped.
fn outcomes(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in report["files"].as_array().unwrap() {
        assert_eq!(file["errors"], serde_json::json!([]), "{file}");
        for c in file["cases"].as_array().unwrap() {
            let word = if !c["skipped"].is_null() {
                "skipped"
            } else if c["passed"].as_bool().unwrap() {
                "passed"
            } else {
                "failed"
            };
            out.push((c["name"].as_str().unwrap().to_string(), word.to_string()));
        }
    }
    out
}

#[test]
fn landlock_kernel_run_passes_what_the_model_passes() {
    let Some(loader) = loader() else { return };
    let file = format!("{DIR}/pass.armortest.yaml");
    let model = armorc(&["test", &file]);
    assert_eq!(model.status.code(), Some(0), "{}", text(&model.stdout));
    let loader = loader.to_str().unwrap();
    let out = armorc(&["test", "--kernel", "--lsm", "landlock", "--loader", loader, &file]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("pass.armortest.yaml::bash is blocked [kernel (landlock)] ... ok"), "{stdout}");
    assert!(stdout.contains("pass.armortest.yaml::no raw sockets [kernel (landlock)] ... ok"), "{stdout}");
    // fromSource and a system path's removal cannot be set up: skipped with the reason, not passed
    assert!(
        stdout.contains("from a shell (skipped by --kernel) [kernel (landlock)] ... skipped: source: the operation would have to come from a process running /usr/bin/dash"),
        "{stdout}"
    );
    assert!(stdout.contains("removing a system file (skipped by --kernel) [kernel (landlock)] ... skipped: unlink changes the file system"), "{stdout}");
    assert!(stdout.ends_with("test result: ok. 6 passed; 0 failed; 2 skipped\n"), "{stdout}");
    assert!(std::path::Path::new("/etc/passwd").is_file());
}

#[test]
fn landlock_kernel_run_fails_what_the_model_fails() {
    let Some(loader) = loader() else { return };
    let loader = loader.to_str().unwrap();
    let file = format!("{DIR}/fail.armortest.yaml");
    let model = armorc(&["test", &file, "--format", "json"]);
    let kernel = armorc(&["test", "--kernel", "--lsm", "landlock", "--loader", loader, &file, "--format", "json"]);
    assert_eq!(model.status.code(), Some(1));
    assert_eq!(kernel.status.code(), Some(1), "{}", text(&kernel.stderr));
    let (model, kernel): (serde_json::Value, serde_json::Value) =
        (serde_json::from_slice(&model.stdout).unwrap(), serde_json::from_slice(&kernel.stdout).unwrap());
    assert_eq!(outcomes(&kernel), outcomes(&model));
    let failed = &kernel["files"][0]["cases"][1];
    assert_eq!(failed["name"], "bash runs (wrong)");
    assert_eq!(failed["enforcer"], "kernel (landlock)");
    assert_eq!(failed["actual"], "deny");
    assert_eq!(failed["answer"]["status"], 13);
    // the human report prints the failing case
    let human = armorc(&["test", "--kernel", "--lsm", "landlock", "--loader", loader, &file]);
    let stdout = text(&human.stdout);
    assert!(stdout.contains("fail.armortest.yaml::bash runs (wrong) [kernel (landlock)] ... FAILED"), "{stdout}");
    assert!(stdout.contains("target shop/web/nginx, enforcer kernel (landlock)\n"), "{stdout}");
    assert!(stdout.ends_with("test result: FAILED. 1 passed; 1 failed\n"), "{stdout}");
}

#[test]
fn a_missing_loader_is_a_clear_error() {
    let out = armorc(&["test", "--kernel", "--loader", "/nonexistent/armor-loader", DIR]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr), "armorc test --kernel: --loader /nonexistent/armor-loader: no such file\n");
    assert!(out.stdout.is_empty());
}
