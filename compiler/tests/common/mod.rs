//! Helpers shared by the front-end verification tests: locating the shared corpus, walking it,
//! loading YAML into JSON values (an implementation independent of ours) and the CRD oracle.
// Included by several test binaries, each using a subset of these items.
#![allow(dead_code)]

pub mod mutate;
pub mod oracle;

use std::path::{Path, PathBuf};

/// The KubeArmor kinds the front-end checks.
pub const KUBEARMOR_KINDS: [&str; 3] = ["KubeArmorPolicy", "KubeArmorHostPolicy", "KubeArmorClusterPolicy"];

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

/// `../shared/corpus` next to the repository, or `None` after `skip_or_fail`.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if dir.join("crds").is_dir() && dir.join("policy-templates").is_dir() {
        Some(dir)
    } else {
        skip_or_fail(format!(
            "corpus not found at {} (expected ../shared/corpus beside the repository)",
            dir.display()
        ));
        None
    }
}

/// Every `*.yaml` / `*.yml` file under `dir`, recursively, in a stable order.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read_dir {}: {e}", d.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            let ft = std::fs::symlink_metadata(&path).expect("metadata").file_type();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() && matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Why the reference YAML loader could not load a text.
#[derive(Debug)]
pub enum LoadError {
    /// A mapping repeats a key: the API server's JSON view cannot show it, so the CRD oracle
    /// has no verdict for such a file.
    DuplicateKey(String),
    /// Anything else the loader rejects.
    Other(String),
}

/// Load every document of a YAML stream into JSON values with serde-saphyr (not our parser), with
/// YAML 1.2 core scalars as the project reads them (plain `yes`, `n`, `1_000` are strings).
/// Empty documents are dropped, as the API server never sees them.
pub fn load_yaml_docs(text: &str) -> Result<Vec<serde_json::Value>, LoadError> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        underscored_numbers_as_strings: true,
    };
    serde_saphyr::from_multiple_with_options::<serde_json::Value>(text, options).map_err(|e| {
        let message = e.to_string();
        match e.without_snippet() {
            serde_saphyr::Error::DuplicateMappingKey { .. } => LoadError::DuplicateKey(message),
            _ => LoadError::Other(message),
        }
    })
}

/// The `kind` of a loaded document, if it is a string.
pub fn kind_of(doc: &serde_json::Value) -> Option<&str> {
    doc.get("kind").and_then(|k| k.as_str())
}

pub fn is_kubearmor_kind(doc: &serde_json::Value) -> bool {
    kind_of(doc).is_some_and(|k| KUBEARMOR_KINDS.contains(&k))
}

/// Remove every mapping entry whose value is `null`, recursively, as the API server does.
pub fn prune_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(prune_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}
