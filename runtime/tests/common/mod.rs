//! Shared by the kernel test binaries: the one way a test skips when its environment lacks
//! something it needs (root, ../shared/corpus), and the image set they test with.
// Included by several test binaries, each using a subset of these items.
#![allow(dead_code)]

/// For a test that cannot run here because something it needs is missing (a tool, the shared
/// corpus `../shared/corpus`, root): the caller then returns, or leaves out the part that needs
/// it. Locally this prints `skipped: <test>: <reason>`. Under CI (`CI=true`), where
/// .ci/install-*.sh provides everything, it panics with the reason instead: a missing
/// dependency must fail the run, not pass it unnoticed.
pub fn skip_or_fail(reason: impl std::fmt::Display) {
    // The test harness names each test's thread after the test.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("(unnamed test)");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {reason} (CI=true: CI provides what the tests need, so nothing may be skipped)");
    }
    eprintln!("skipped: {test}: {reason}");
}

/// Whether the test runs as root (and then bpffs is mounted); otherwise `skip_or_fail`, and the
/// caller returns.
pub fn root_or_skip() -> bool {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        skip_or_fail("needs root (bpffs, BPF maps and program loads)");
        return false;
    }
    armor_runtime::ensure_bpffs().expect("mounting bpffs");
    true
}

use armor_runtime::mutate;
use armorc_compiler::image::MapImage;
use std::path::{Path, PathBuf};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// Our fixture files, then the corpus files, and how many of them are fixtures: the policy
/// sources of the differential and the live tests.
pub fn policy_files() -> (Vec<PathBuf>, usize) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    yaml_files(&manifest.join("tests/fixtures"), &mut files);
    let fixtures = files.len();
    let corpus = manifest.join("../../shared/corpus");
    if corpus.exists() {
        yaml_files(&corpus, &mut files);
    } else {
        skip_or_fail(format!("corpus images: {} not found", corpus.display()));
    }
    (files, fixtures)
}

/// (name, image) for our fixtures (under every posture) and the corpus files (under one,
/// cycled): the image set of the differential and the live tests.
pub fn images() -> Vec<(String, MapImage)> {
    let (files, fixtures) = policy_files();
    let postures = mutate::postures();
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.display().to_string();
        // fixtures under every posture, corpus files under one (cycled)
        let ps: Vec<_> = if i < fixtures { postures.to_vec() } else { vec![postures[i % 3]] };
        for p in ps {
            for img in mutate::images_from_yaml(&name, &text, p) {
                if !img.entries.is_empty() {
                    out.push((name.clone(), img));
                }
            }
        }
    }
    out
}
