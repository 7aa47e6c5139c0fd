//! Corpus conformance: every KubeArmor document under ../shared/corpus/policy-templates is read,
//! and the files with errors and the per-code counts are snapshotted. Truth established outside
//! the project (issue 2): 53 files have errors, 12 with duplicate keys and 41 that the CRD rejects
//! once nulls are pruned and unknown fields forbidden.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use armorc_compiler::codes::Code;
use armorc_compiler::diag::Severity;
use armorc_compiler::{check_source, source::SourceFile};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read corpus dir").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ty = e.file_type().expect("file type");
        let path = e.path();
        if ty.is_dir() {
            yaml_files(&path, out);
        } else if ty.is_file() && matches!(path.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
            out.push(path);
        }
    }
}

#[test]
fn policy_templates_conformance() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/policy-templates");
    if !corpus.is_dir() {
        common::skip_or_fail(format!("{} does not exist", corpus.display()));
        return;
    }
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    let mut documents = 0;
    let mut skipped = 0;
    let mut policies = 0;
    let mut error_files: BTreeMap<String, BTreeMap<Code, usize>> = BTreeMap::new();
    let mut code_counts: BTreeMap<(Code, Severity), usize> = BTreeMap::new();
    for path in &files {
        let rel = path.strip_prefix(&corpus).unwrap().display().to_string();
        let text = std::fs::read_to_string(path).expect("corpus files are UTF-8");
        let checked = check_source(SourceFile::new(rel.clone(), text));
        documents += checked.documents;
        skipped += checked.skipped;
        policies += checked.policies.len();
        for d in &checked.diagnostics {
            *code_counts.entry((d.code, d.severity)).or_default() += 1;
            if d.severity == Severity::Error {
                *error_files.entry(rel.clone()).or_default().entry(d.code).or_default() += 1;
            }
        }
    }
    let duplicate_key_files = error_files.values().filter(|c| c.contains_key(&Code::Y002)).count();
    let crd_rejected_files = error_files.len() - duplicate_key_files;

    let mut report = String::new();
    writeln!(report, "files: {}", files.len()).unwrap();
    writeln!(report, "kubearmor documents: {documents}").unwrap();
    writeln!(report, "skipped documents: {skipped}").unwrap();
    writeln!(report, "policies normalized: {policies}").unwrap();
    writeln!(
        report,
        "files with errors: {} ({duplicate_key_files} with duplicate keys, {crd_rejected_files} rejected by the CRD)",
        error_files.len()
    )
    .unwrap();
    writeln!(report, "\nfindings per code:").unwrap();
    for ((code, sev), n) in &code_counts {
        writeln!(report, "  {code} {sev:?} {n}  ({})", code.title()).unwrap();
    }
    writeln!(report, "\nfiles with errors:").unwrap();
    for (file, codes) in &error_files {
        let codes: Vec<String> = codes.iter().map(|(c, n)| format!("{c}x{n}")).collect();
        writeln!(report, "  {file}: {}", codes.join(" ")).unwrap();
    }
    insta::with_settings!({snapshot_path => "../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("corpus_conformance", report);
    });

    assert_eq!(error_files.len(), 53, "files with errors\n{report}");
    assert_eq!(duplicate_key_files, 12, "files with duplicate keys\n{report}");
    assert_eq!(crd_rejected_files, 41, "files the CRD rejects\n{report}");
}
