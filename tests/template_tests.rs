//! Our templates ship with tests: every template under templates/ has a `policy.armortest.yaml`
//! beside its `policy.yaml.hbs` (docs/testing.md, "Template tests"), and `armorc test templates/`
//! passes every case, each file asserting what its template blocks or audits and something it
//! must leave alone. A changed template fails its test; a broken one is named.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use common::armorc;
use std::path::Path;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_template_has_a_test_file_and_every_case_passes() {
    let out = armorc(&["test", "templates", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{report:#}", text(&out.stderr));
    assert_eq!(report["summary"]["broken"], 0);
    assert_eq!(report["summary"]["failed"], 0);
    let files = report["files"].as_array().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut templates: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("policy.yaml.hbs").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    templates.sort();
    assert!(templates.len() >= 50, "{templates:?}");
    assert_eq!(files.len(), templates.len());
    for name in &templates {
        let want = format!("templates/{name}/policy.armortest.yaml");
        let file = files.iter().find(|f| f["file"] == want.as_str()).unwrap_or_else(|| panic!("no {want}"));
        let cases = file["cases"].as_array().unwrap();
        let expects: Vec<&str> = cases.iter().map(|c| c["expect"].as_str().unwrap()).collect();
        // What the template is for (deny or audit), and something it must not touch (allow).
        assert!(expects.iter().any(|e| *e == "deny" || *e == "audit"), "{want}: {expects:?}");
        assert!(expects.contains(&"allow"), "{want}: {expects:?}");
        // The deny/audit cases are decided by the template's own rules.
        for c in cases.iter().filter(|c| c["expect"] != "allow") {
            assert_eq!(c["rule"]["file"], format!("templates/{name}/policy.yaml.hbs"), "{want}: {c:#}");
        }
    }
}

/// A copy of templates/NAME in a temporary directory.
fn copy_template(name: &str, into: &Path) -> std::path::PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates").join(name);
    let to = into.join(name);
    std::fs::create_dir(&to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to
}

#[test]
fn a_changed_template_fails_its_test_and_a_broken_one_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_template("apk-exec", tmp.path());
    let body = dir.join("policy.yaml.hbs");
    let template = std::fs::read_to_string(&body).unwrap();
    std::fs::write(&body, template.replace("{{action \"Block\"}}", "{{action \"Audit\"}}")).unwrap();
    let out = armorc(&["test", &dir.display().to_string()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("policy.armortest.yaml::running apk is blocked ... FAILED"), "{stdout}");
    assert!(stdout.contains("expected: deny\n  actual:   audit"), "{stdout}");
    // A template that does not render (unknown variable) or has no meta.yaml: the test file is
    // broken, naming the template.
    std::fs::write(&body, template.replace("{{severity}}", "{{severity_typo}}")).unwrap();
    let out = armorc(&["test", &dir.display().to_string()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("policy.yaml.hbs: template `apk-exec` does not render: rendering failed"), "{stdout}");
    std::fs::remove_file(dir.join("meta.yaml")).unwrap();
    let out = armorc(&["test", &dir.display().to_string()]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("policy.yaml.hbs: not a template: ") && stdout.contains("meta.yaml"), "{stdout}");
}
