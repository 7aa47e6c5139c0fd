//! `armorc lint --image` end to end over an OCI layout built here (system `tar` and `sha256sum`,
//! tests/recommend_support): a usr-merged tree (/bin -> usr/bin) with /usr/bin/ls and
//! /etc/passwd. Symlinked paths [I001], missing paths [I002] (runtime paths excepted),
//! directories as paths [I003], files as directories [I004], unknown execnames [I005]; exit
//! statuses; an unreadable image is exit 2 with nothing on stdout.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;
mod recommend_support;

use recommend_support::{oci_layout, tools_present, Entry};
use std::path::Path;
use std::process::{Command, Output};

fn lint(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_armorc")).arg("lint").args(args).output().expect("run armorc");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The test image: usr-merged like Debian bookworm.
fn image(dir: &Path) -> String {
    oci_layout(
        dir,
        "bookworm",
        &[
            Entry::File("/usr/bin/ls", 0o755),
            Entry::Symlink("/bin", "usr/bin"),
            Entry::Dir("/etc"),
            Entry::File("/etc/passwd", 0o644),
        ],
    )
}

fn policy(dir: &Path, name: &str, spec: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    let text = format!(
        "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {{name: {name}, namespace: demo}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n{spec}  action: Block\n"
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// (code, line, column, message) of every finding, from `--format json`.
fn findings(out: &Output) -> Vec<(String, u64, u64, String)> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn symlinked_missing_and_runtime_paths() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path());
    let p = policy(
        tmp.path(),
        "paths",
        "  process:\n    matchPaths:\n      - path: /bin/ls\n      - path: /usr/bin/ls\n    matchDirectories:\n      - dir: /bin/\n  file:\n    matchPaths:\n      - path: /nonexistent/x\n      - path: /proc/x\n      - path: /etc/passwd\n",
    );
    let out = lint(&[&p, "--image", &img, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "warnings only: exit 0");
    let found = findings(&out);
    // [I001] /bin/ls (line 8, column 15: the value), [I001] /bin/ (line 11), [I002] /nonexistent/x.
    assert_eq!(
        found.iter().map(|(c, l, col, _)| (c.as_str(), *l, *col)).collect::<Vec<_>>(),
        [("I001", 8, 15), ("I001", 11, 14), ("I002", 14, 15)],
        "{found:#?}"
    );
    assert!(found[0].3.contains("`/usr/bin/ls`") && found[0].3.contains("`/bin` -> `usr/bin`"), "{}", found[0].3);
    assert!(found[0].3.contains(&img), "the image is named: {}", found[0].3);
    assert!(found[1].3.contains("`/usr/bin/`"), "{}", found[1].3);
    assert!(found[2].3.contains("/nonexistent/x") && found[2].3.contains("no given image"), "{}", found[2].3);
    // --deny warning makes warnings fail.
    let out = lint(&[&p, "--image", &img, "--deny", "warning"]);
    assert_eq!(out.status.code(), Some(1));
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("I001") && human.contains("add `/usr/bin/ls` as another rule"), "{human}");
    // Without --image: none of these findings.
    let out = lint(&[&p, "--format", "json"]);
    assert_eq!((out.status.code(), findings(&out).len()), (Some(0), 0));
    // SARIF and github carry the codes like any other.
    let out = lint(&[&p, "--image", &img, "--format", "sarif"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"ruleId\": \"I001\"")
            || String::from_utf8_lossy(&out.stdout).contains("\"ruleId\":\"I001\"")
    );
    let out = lint(&[&p, "--image", &img, "--format", "github"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("::warning file="), "github annotations");
}

#[test]
fn wrong_kinds_are_errors_and_execnames_are_checked() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path());
    let p = policy(
        tmp.path(),
        "kinds",
        "  process:\n    matchPaths:\n      - execname: ls\n      - execname: curl\n  file:\n    matchPaths:\n      - path: /etc\n    matchDirectories:\n      - dir: /etc/passwd/\n      - dir: /etc/\n",
    );
    let out = lint(&[&p, "--image", &img, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "errors: exit 1");
    let found = findings(&out);
    assert_eq!(
        found.iter().map(|(c, l, _, _)| (c.as_str(), *l)).collect::<Vec<_>>(),
        [("I005", 9), ("I003", 12), ("I004", 14)],
        "{found:#?}"
    );
    assert!(found[0].3.contains("`curl`"), "{}", found[0].3);
    // Suppressed like every finding.
    let text =
        std::fs::read_to_string(&p).unwrap().replace("- path: /etc\n", "- path: /etc # armorc: ignore[I003] test\n");
    std::fs::write(&p, text).unwrap();
    let out = lint(&[&p, "--image", &img, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["suppressed"], 1);
    assert_eq!(findings(&out).iter().filter(|f| f.0 == "I003").count(), 0);
}

#[test]
fn unreadable_images_are_exit_2_naming_the_image() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let good = image(tmp.path());
    let p = policy(tmp.path(), "one", "  file:\n    matchPaths:\n      - path: /etc/passwd\n");
    let missing = format!("oci:{}:v1", tmp.path().join("missing").display());
    let broken = tmp.path().join("broken.tar");
    std::fs::write(&broken, b"not a tar at all").unwrap();
    let broken = format!("docker-archive:{}", broken.display());
    for bad in [&missing, &broken] {
        let out = lint(&[&p, "--image", &good, "--image", bad, "--format", "json"]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(out.stdout.is_empty(), "nothing on stdout: {}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("armorc lint: --image ") && err.contains(bad.as_str()), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    // Image flags without --image are usage errors.
    let out = lint(&[&p, "--platform", "linux/arm64"]);
    assert_eq!(out.status.code(), Some(2));
    // A clean policy against the image: exit 0, no finding.
    let out = lint(&[&p, "--image", &good, "--deny", "warning"]);
    assert_eq!(out.status.code(), Some(0));
}

/// A policy in namespace `demo` selecting `app: APP`.
fn policy_for(dir: &Path, name: &str, app: &str, spec: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    let text = format!(
        "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {{name: {name}, namespace: demo}}\nspec:\n  selector: {{matchLabels: {{app: {app}}}}}\n{spec}  action: Block\n"
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn workloads_check_each_policy_against_the_images_it_selects() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let web = image(tmp.path());
    let tools = oci_layout(
        tmp.path(),
        "tools",
        &[Entry::File("/usr/bin/curl", 0o755), Entry::Dir("/etc"), Entry::File("/etc/hosts", 0o644)],
    );
    // web: a Deployment whose nginx container mounts /data; tools: a Pod whose only image is
    // its init container's (the app container names none: noted, not checked).
    let workloads = tmp.path().join("workloads.yaml");
    std::fs::write(
        &workloads,
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: demo}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        - name: nginx\n          image: '{web}'\n          volumeMounts: [{{name: d, mountPath: /data}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: tools, namespace: demo, labels: {{app: tools}}}}\nspec:\n  initContainers: [{{name: fetch, image: '{tools}'}}]\n  containers: [{{name: main}}]\n"
        ),
    )
    .unwrap();
    let workloads = workloads.display().to_string();
    let file = "  file:\n    matchPaths:\n      - path: /etc/passwd\n      - path: /usr/bin/curl\n      - path: /data/site/index.html\n";
    let on_web = policy_for(tmp.path(), "on-web", "web", file);
    let on_tools = policy_for(tmp.path(), "on-tools", "tools", file);
    let on_none = policy_for(tmp.path(), "on-none", "none", file);
    let out = lint(&[&on_web, &on_tools, &on_none, "--workloads", &workloads, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "warnings only");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("workloads.yaml:19:16: note:") && err.contains("container main of Pod demo/tools names no image"),
        "{err}"
    );
    let found = findings(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = v["diagnostics"].as_array().unwrap().iter().map(|d| d["file"].as_str().unwrap()).collect();
    // on-web: curl is in no image web runs (the tools image has it, but on-web does not select
    // tools); /data is a volume mount. on-tools: /etc/passwd and /data/... are not in tools (no
    // mount there). on-none selects nothing: no image to check against.
    let got: Vec<(&str, &str, u64)> = found
        .iter()
        .zip(&files)
        .map(|((c, l, _, _), f)| (*f, c.as_str(), *l))
        .map(|(f, c, l)| (f.rsplit('/').next().unwrap(), c, l))
        .collect();
    assert_eq!(
        got,
        [("on-web.yaml", "I002", 9), ("on-tools.yaml", "I002", 8), ("on-tools.yaml", "I002", 10)],
        "{found:#?}"
    );
    assert!(found[0].3.contains(&web) && !found[0].3.contains(&tools), "only web's image: {}", found[0].3);
    assert!(found[1].3.contains(&tools) && !found[1].3.contains(&web), "only tools' image: {}", found[1].3);
    // --image still applies to every policy, on top of the selected images.
    let out = lint(&[&on_none, "--workloads", &workloads, "--image", &tools, "--format", "json"]);
    assert_eq!(findings(&out).iter().map(|f| f.1).collect::<Vec<_>>(), [8, 10]);
    // An image that cannot be read: exit 2 naming the workload file, line and column of `image:`,
    // nothing on stdout.
    let missing = format!("oci:{}:v1", tmp.path().join("missing").display());
    std::fs::write(
        tmp.path().join("broken.yaml"),
        format!("kind: Pod\nmetadata: {{name: p, namespace: demo, labels: {{app: web}}}}\nspec:\n  containers:\n    - name: c\n      image: \"{missing}\"\n"),
    )
    .unwrap();
    let broken = tmp.path().join("broken.yaml").display().to_string();
    let out = lint(&[&on_web, "--workloads", &workloads, "--workloads", &broken, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    let want =
        format!("armorc lint: {broken}:6:14: image {missing} of container c of Pod demo/p: cannot read the image: ");
    assert!(err.lines().any(|l| l.starts_with(&want)), "{err}");
    // A malformed workload file is exit 2 too, at its file, line and column.
    std::fs::write(tmp.path().join("bad.yaml"), "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{image: x}]}\n")
        .unwrap();
    let bad = tmp.path().join("bad.yaml").display().to_string();
    let out = lint(&[&on_web, "--workloads", &bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{bad}:3:21: error: container without a name")));
    // Image flags need --image or --workloads.
    let out = lint(&[&on_web, "--plain-http", "127.0.0.1:5000"]);
    assert_eq!(out.status.code(), Some(2));
}
