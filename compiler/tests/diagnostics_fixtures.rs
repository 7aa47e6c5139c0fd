//! Every front-end code has a failing and a passing fixture under fixtures/diagnostics: the
//! failing one produces the code, the passing one produces no finding at all. Also checks that
//! docs/diagnostics.md lists every Y/S/L code of the fixtures.

use armorc_compiler::{check_source, source::SourceFile};
use std::path::Path;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diagnostics");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/diagnostics exists")
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn failing_fixtures_produce_their_code_and_passing_ones_are_clean() {
    let all = fixtures();
    assert!(all.len() >= 80, "expected a fixture pair per code");
    for (name, bytes) in &all {
        let (code, pass) = match (name.strip_suffix("-fail.yaml"), name.strip_suffix("-pass.yaml")) {
            (Some(c), _) => (c, false),
            (_, Some(c)) => (c, true),
            _ => panic!("unexpected fixture name {name}"),
        };
        if !(code.starts_with('Y') || code.starts_with('S') || code.starts_with('L')) {
            continue; // other families test their own fixtures
        }
        let Ok(text) = String::from_utf8(bytes.clone()) else {
            assert_eq!((code, pass), ("Y003", false), "{name}: only Y003-fail may be invalid UTF-8");
            continue;
        };
        let checked = check_source(SourceFile::new(name.clone(), text));
        let codes: Vec<String> = checked.diagnostics.iter().map(|d| d.code.to_string()).collect();
        if pass {
            assert!(
                codes.is_empty(),
                "{name} should be clean, got {codes:?}: {:#?}",
                checked.diagnostics.iter().map(|d| &d.message).collect::<Vec<_>>()
            );
            assert_eq!(checked.documents, 1, "{name}: one KubeArmor document");
            assert_eq!(checked.policies.len(), 1, "{name}: normalized");
        } else {
            assert!(codes.iter().any(|c| c == code), "{name} should produce {code}, got {codes:?}");
        }
    }
}

#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/diagnostics.md"))
        .expect("docs/diagnostics.md");
    for (name, _) in fixtures() {
        let code = &name[..4];
        assert!(doc.contains(&format!("### {code}")), "docs/diagnostics.md has no section for {code}");
    }
}
