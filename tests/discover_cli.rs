//! `armorc discover` end to end: fixture events (tests/fixtures/discover/) -> OUT; the
//! KubeArmorPolicies pass `armorc lint --deny warning` and `armorc compile` with the workloads;
//! kubernetes-validate (the Kubernetes OpenAPI schemas) accepts the NetworkPolicies; bad input
//! names file, line and column and writes nothing.
#![allow(clippy::unwrap_used)]

mod common;

use common::{armorc, armorc_with_stdin, skip_or_fail, which};
use std::path::Path;
use std::process::Command;

const EVENTS: &str = "tests/fixtures/discover/events.jsonl";
const WORKLOADS: &str = "tests/fixtures/discover/workloads.yaml";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_under(&entry.path()));
        } else {
            out.push(entry.path().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn discovered_policies_lint_compile_and_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    let run = armorc(&["discover", EVENTS, "--workloads", WORKLOADS, "-o", o]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let files = files_under(&out);
    let rel: Vec<&str> = files.iter().map(|f| f.strip_prefix(o).unwrap()).collect();
    assert_eq!(
        rel,
        [
            "/report.json",
            "/shop/api-api.kubearmorpolicy.yaml",
            "/shop/api.networkpolicy.yaml",
            "/shop/db-postgres.kubearmorpolicy.yaml",
            "/shop/db.networkpolicy.yaml",
            "/shop/web-nginx.kubearmorpolicy.yaml",
            "/shop/web.networkpolicy.yaml",
        ]
    );

    let lint = armorc(&["lint", "--deny", "warning", o]);
    assert!(lint.status.success(), "{}{}", text(&lint.stdout), text(&lint.stderr));
    assert!(text(&lint.stdout).contains("3 KubeArmor documents"), "{}", text(&lint.stdout));

    let compiled = tmp.path().join("compiled");
    let c = armorc(&[
        "compile",
        o,
        "--workloads",
        WORKLOADS,
        "--target",
        "all",
        "--default-posture",
        "block",
        "-o",
        compiled.to_str().unwrap(),
    ]);
    assert!(c.status.success(), "{}", text(&c.stderr));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(compiled.join("index.json")).unwrap()).unwrap();
    let targets = index["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3);
    for t in targets {
        assert_eq!(t["policies"].as_array().map(Vec::len), Some(1), "each container gets its policy: {t}");
    }

    // What the report says, checked against the model answering a real query on the map image.
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["events"]["read"], 57);
    let image = compiled.join("bpf/shop/web/nginx.img");
    let ask = |line: &str| {
        let q = armorc_with_stdin(&["query", "--image", image.to_str().unwrap()], line);
        text(&q.stdout)
    };
    let allowed = ask(r#"{"op":"open","path":"/usr/share/nginx/html/index.html","source":"/usr/sbin/nginx"}"#);
    assert!(allowed.contains(r#""decision":"allow""#), "{allowed}");
    let other = ask(r#"{"op":"open","path":"/etc/shadow","source":"/usr/sbin/nginx"}"#);
    assert!(other.contains(r#""decision":"deny""#), "{other}");
    let write_conf = ask(r#"{"op":"write","path":"/etc/nginx/nginx.conf","source":"/usr/sbin/nginx"}"#);
    assert!(write_conf.contains(r#""decision":"deny""#), "readOnly: {write_conf}");

    let Some(validate) = which("kubernetes-validate") else {
        skip_or_fail("kubernetes-validate missing (.ci/install-deploy.sh)");
        return;
    };
    for f in files.iter().filter(|f| f.ends_with(".networkpolicy.yaml")) {
        let v = Command::new(&validate).args(["--strict", "--quiet", f]).output().unwrap();
        assert!(v.status.success(), "{f}: {}{}", text(&v.stdout), text(&v.stderr));
    }
    // The validator does reject a misspelt field, so its acceptance above means something.
    let web = std::fs::read_to_string(out.join("shop/web.networkpolicy.yaml")).unwrap();
    let sabotaged = tmp.path().join("sabotaged.yaml");
    std::fs::write(&sabotaged, web.replace("policyTypes:", "policyType:")).unwrap();
    let v = Command::new(&validate).args(["--strict", "--quiet", sabotaged.to_str().unwrap()]).output().unwrap();
    assert!(!v.status.success(), "a misspelt field passed kubernetes-validate");
}

#[test]
fn bad_events_name_file_line_column_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"Type\":\"ContainerLog\"}\n{\"Type\": \"ContainerLog\", \"PID\": \"x\"}\n").unwrap();
    let out = tmp.path().join("out");
    let run = armorc(&["discover", bad.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let err = text(&run.stderr);
    assert!(err.contains(&format!("{}:2:", bad.display())), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "no partial output");
    // An earlier output stays as it was.
    let good = armorc(&["discover", EVENTS, "-o", out.to_str().unwrap()]);
    assert!(good.status.success(), "{}", text(&good.stderr));
    let before = files_under(&out);
    let again = armorc(&["discover", EVENTS, bad.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(files_under(&out), before);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    // A missing input is a usage error.
    let missing = armorc(&["discover", "no/such/file.json", "-o", out.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn refuses_to_replace_a_foreign_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "keep").unwrap();
    let run = armorc(&["discover", EVENTS, "-o", tmp.path().to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    assert!(text(&run.stderr).contains("no report.json"), "{}", text(&run.stderr));
    assert_eq!(std::fs::read_to_string(tmp.path().join("precious.txt")).unwrap(), "keep");
}

#[test]
fn events_alone_from_stdin_with_audit_action() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let events = std::fs::read_to_string(EVENTS).unwrap();
    let run = armorc_with_stdin(&["discover", "-", "--action", "Audit", "-o", out.to_str().unwrap()], &events);
    assert!(run.status.success(), "{}", text(&run.stderr));
    // Without manifests, workloads are named from the pods and selected by their stable labels.
    let web = std::fs::read_to_string(out.join("shop/web-nginx.kubearmorpolicy.yaml")).unwrap();
    assert!(web.contains("      app: web\n      tier: frontend\n"), "{web}");
    assert!(!web.contains("pod-template-hash"), "{web}");
    assert!(web.contains("  action: Audit\n"), "{web}");
    assert!(out.join("shop/db-postgres.kubearmorpolicy.yaml").is_file());
    let lint = armorc(&["lint", "--deny", "warning", out.to_str().unwrap()]);
    assert!(lint.status.success(), "{}", text(&lint.stdout));
    // Coverage is what the rules would allow if enforced, not Audit's trivial everything.
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let web_report = report["kubearmor_policies"].as_array().unwrap().iter().find(|p| p["workload"] == "web").unwrap();
    assert_eq!(web_report["resolved_by"], "pod-name");
    assert_eq!(web_report["coverage"]["share"], 1.0);
    // db's IP is not known without the manifest's annotation: api's egress is an ipBlock.
    let api = std::fs::read_to_string(out.join("shop/api.networkpolicy.yaml")).unwrap();
    assert!(api.contains("cidr: 10.1.0.30/32"), "{api}");
}
