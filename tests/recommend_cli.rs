//! `armorc recommend` end to end over OCI layout directories built here (system `tar` and
//! `sha256sum`): every built-in template is triggered, its policy lints clean with
//! `--deny warning` and compiles for BPF and AppArmor; stale output disappears; a failed image
//! does not lose the others; injection attempts are usage errors.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;
mod recommend_support;

use armorc_recommend::matching::{witness, WitnessKind};
use armorc_recommend::templates;
use recommend_support::{oci_layout, tools_present, Entry};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn armorc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_armorc"))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run armorc");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Entries that trigger every built-in template (usr-merged, like current Debian).
fn trigger_all() -> Vec<(String, WitnessKind)> {
    let lib = templates::builtin().unwrap();
    let mut all: Vec<(String, WitnessKind)> = lib.templates.iter().flat_map(|t| witness(&t.precondition)).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.0 == b.0);
    all
}

fn entries(list: &[(String, WitnessKind)]) -> Vec<Entry<'_>> {
    list.iter()
        .map(|(p, k)| match k {
            WitnessKind::Dir => Entry::Dir(p),
            WitnessKind::Executable => Entry::File(p, 0o755),
            WitnessKind::File => Entry::File(p, 0o644),
        })
        .collect()
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn every_template_is_recommended_lints_clean_and_compiles() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let all = trigger_all();
    let spec = oci_layout(tmp.path(), "everything", &entries(&all));
    let out = tmp.path().join("out");
    let o = run(armorc()
        .args(["recommend", "-i", &spec, "-n", "shop", "-r", "report.json", "--templates", "builtin"])
        .args(["--node-labels", "kubernetes.io/hostname=node-1", "-o"])
        .arg(&out));
    assert_eq!(o.status.code(), Some(0));
    let report = json(&out.join("report.json"));
    let lib = templates::builtin().unwrap();
    let policies = report["images"][0]["policies"].as_array().unwrap();
    let skipped = &report["images"][0]["skipped"];
    assert_eq!(policies.len(), lib.templates.len(), "skipped: {skipped:#}");
    assert_eq!(report["templates"]["source"], "builtin");
    assert_eq!(report["images"][0]["error"], serde_json::Value::Null);
    for p in policies {
        assert!(!p["evidence"].as_array().unwrap().is_empty(), "{p}");
    }
    let dir = out.join("shop-everything-v1");
    assert!(dir.is_dir(), "{:?}", yaml_files(&out));
    // Cluster templates keep their matchExpressions and gain `namespace In [-n]`.
    let csp = std::fs::read_to_string(dir.join("cluster-container-escape-tools.yaml")).unwrap();
    assert!(
        csp.contains("  selector:\n    matchExpressions:\n      - key: namespace\n        operator: NotIn\n        values:\n          - kube-system\n      - key: namespace\n        operator: In\n        values:\n          - shop\n"),
        "{csp}"
    );
    assert!(
        csp.contains("metadata:\n  name: everything-v1-cluster-container-escape-tools\nspec:"),
        "cluster policies have no metadata.namespace: {csp}"
    );
    // Host templates only under out/host, with the node selector.
    let host = std::fs::read_to_string(out.join("host/everything-v1-host-kubelet-config-protect.yaml")).unwrap();
    assert!(host.contains("  nodeSelector:\n    matchLabels:\n      kubernetes.io/hostname: node-1\n"), "{host}");
    assert!(!dir.join("host-kubelet-config-protect.yaml").exists());
    let lint = run(armorc().args(["lint", "--deny", "warning"]).arg(&dir).arg(out.join("host")));
    assert_eq!(lint.status.code(), Some(0), "{}", String::from_utf8_lossy(&lint.stdout));
    // A pod the policies select: namespace `shop`, container named after the repository.
    let pod = tmp.path().join("pod.yaml");
    std::fs::write(&pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {containers: [{name: everything, image: x}]}\n").unwrap();
    let artifacts = tmp.path().join("artifacts");
    let compile = run(armorc()
        .args([
            "compile",
            "--target",
            "all",
            "--deny",
            "warning",
            "--node-labels",
            "kubernetes.io/hostname=node-1",
            "--workloads",
        ])
        .arg(&pod)
        .arg("--out")
        .arg(&artifacts)
        .arg(&dir)
        .arg(out.join("host")));
    assert_eq!(compile.status.code(), Some(0), "{}", String::from_utf8_lossy(&compile.stdout));
    // Both lowerings produced something for the container and the host.
    let files: Vec<String> = walk(&artifacts);
    assert!(files.iter().any(|f| f.contains("apparmor") || f.ends_with(".profile")), "{files:?}");
    assert!(files.len() >= 3, "{files:?}");
    assert!(String::from_utf8_lossy(&compile.stderr).contains("2 target(s)"), "container and host targets");
}

#[test]
fn unrelated_image_gets_nothing_and_stale_policies_disappear() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    // usr-merged: /bin -> usr/bin, /usr/bin/sh -> dash; shell-exec-audit asks for /bin/sh.
    let first = oci_layout(
        &tmp.path().join("a"),
        "app",
        &[
            Entry::File("/usr/bin/apt-get", 0o755),
            Entry::File("/usr/bin/dash", 0o755),
            Entry::Symlink("/usr/bin/sh", "dash"),
            Entry::Symlink("/bin", "usr/bin"),
            Entry::File("/etc/hostname", 0o644),
        ],
    );
    let o = run(armorc().args(["recommend", "-i", &first, "-o"]).arg(&out));
    assert_eq!(o.status.code(), Some(0));
    assert!(out.join("app-v1/apt-dpkg-exec.yaml").is_file());
    assert!(out.join("app-v1/shell-exec-audit.yaml").is_file(), "symlinks are followed");
    let text = std::fs::read_to_string(out.join("app-v1/apt-dpkg-exec.yaml")).unwrap();
    assert!(text.contains(r#"kubearmor.io/container.name: "[app]""#), "{text}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("POLICY") && stdout.contains("apt-dpkg-exec.yaml"), "{stdout}");

    // Same directory name, an image where nothing applies: the old policy must go.
    let second = oci_layout(&tmp.path().join("b"), "app", &[Entry::File("/etc/hostname", 0o644)]);
    let o = run(armorc().args(["recommend", "-i", &second, "--explain", "-o"]).arg(&out));
    assert_eq!(o.status.code(), Some(0));
    assert!(!out.join("app-v1/apt-dpkg-exec.yaml").exists());
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");
    let mut left: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["app-v1", "keep.txt", "report.txt"], "no temporary directories left behind");
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(report.contains("skipped apt-dpkg-exec: precondition not met"), "{report}");
    assert!(report.contains("(no template applies)"), "an unrelated image triggers nothing: {report}");
}

#[test]
fn a_failed_image_keeps_the_others_and_exits_1() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let good = oci_layout(tmp.path(), "good", &[Entry::File("/usr/bin/apt-get", 0o755)]);
    let missing = format!("oci:{}:v1", tmp.path().join("missing").display());
    // Same display name `good:v1` from another directory: it must not share (or wipe) the directory.
    let twin = oci_layout(&tmp.path().join("other"), "good", &[Entry::File("/sbin/apk", 0o755)]);
    let o = run(armorc()
        .args(["recommend", "-i", &missing, "-i", &good, "-i", &good, "-i", &twin, "-r", "r.md", "-o"])
        .arg(&out));
    assert_eq!(o.status.code(), Some(1));
    assert!(out.join("good-v1/apt-dpkg-exec.yaml").is_file());
    assert!(!out.join("good-v1/apk-exec.yaml").exists());
    let twin_dir: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("good-v1-"))
        .collect();
    assert_eq!(twin_dir.len(), 1, "{twin_dir:?}");
    assert!(out.join(&twin_dir[0]).join("apk-exec.yaml").is_file());
    let md = std::fs::read_to_string(out.join("r.md")).unwrap();
    assert!(md.contains("| Error |") && md.contains("missing"), "{md}");
    assert_eq!(md.matches("## oci:").count(), 3, "the repeated image is reported once: {md}");
    assert!(!out.join("missing-v1").exists(), "no silent generic policies");
}

#[test]
fn manifest_workloads_select_by_match_labels_and_container() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let web = oci_layout(tmp.path(), "web", &[Entry::File("/usr/sbin/nginx", 0o755), Entry::Dir("/etc/nginx")]);
    let tools = oci_layout(tmp.path(), "tools", &[Entry::File("/usr/bin/curl", 0o755)]);
    let manifest = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: shop, namespace: prod}}\nspec:\n  selector: {{matchLabels: {{app: shop}}}}\n  template:\n    metadata: {{labels: {{app: shop, v: '2'}}}}\n    spec:\n      initContainers: [{{name: fetch, image: '{tools}'}}]\n      containers: [{{name: web, image: '{web}'}}]\n"
    );
    let mf = tmp.path().join("deploy.yaml");
    std::fs::write(&mf, manifest).unwrap();
    let out = tmp.path().join("out");
    let o =
        run(armorc().args(["recommend", "-f"]).arg(&mf).args(["--action", "Audit", "-r", "r.json", "-o"]).arg(&out));
    assert_eq!(o.status.code(), Some(0));
    let text = std::fs::read_to_string(out.join("prod-shop/web-nginx-config-protect.yaml")).unwrap();
    assert!(text.contains("matchLabels:\n      app: shop\n      kubearmor.io/container.name: \"[web]\"\n"), "{text}");
    assert!(text.contains("action: Audit\n"), "{text}");
    assert!(out.join("prod-shop/fetch-downloader-exec-audit.yaml").is_file());
    let report = json(&out.join("r.json"));
    let init = report["images"].as_array().unwrap().iter().find(|i| i["container"] == "fetch").unwrap();
    assert_eq!(init["init_container"], true);
}

#[test]
fn injection_and_bad_flags_are_usage_errors_with_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for args in [
        vec!["-i", "x", "-l", "app=web\n  evil: true"],
        vec!["-i", "x", "-l", "app=a: b"],
        vec!["-i", "x", "-n", "prod\nkind: Secret"],
        vec!["-i", "x", "-l", "novalue"],
        vec!["-i", "x", "--action", "Block"],
    ] {
        let o = run(armorc().arg("recommend").args(&args).arg("-o").arg(&out));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!out.exists(), "{args:?} wrote output");
    }
}

/// Issue 15: endless inputs are capped (exit 2 naming the file), and `-r` cannot leave `-o`.
#[test]
fn endless_manifests_and_reports_outside_the_output_directory_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a/b/out");
    let start = std::time::Instant::now();
    let o = run(armorc().args(["recommend", "-f", "/dev/zero", "-o"]).arg(&out));
    assert_eq!(o.status.code(), Some(2));
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "{:?}", start.elapsed());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("-f /dev/zero: larger than the 16777216-byte limit"), "{stderr}");
    let abs = tmp.path().join("abs.txt");
    for report in [abs.display().to_string(), "../../x.txt".to_string()] {
        let o = run(armorc().args(["recommend", "-i", "x", "-r", &report, "-o"]).arg(&out));
        assert_eq!(o.status.code(), Some(2), "{report}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("written under -o"), "{report}");
    }
    assert!(!abs.exists() && !tmp.path().join("a/x.txt").exists() && !out.exists());
}

#[test]
fn update_fills_the_cache_which_is_then_the_default_source() {
    if !tools_present() || Command::new("git").arg("--version").output().is_err() {
        common::skip_or_fail("git/tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Our own library, committed into a fresh repository with the git CLI.
    let repo = tmp.path().join("lib");
    std::fs::create_dir_all(&repo).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/apt-dpkg-exec");
    std::fs::create_dir_all(repo.join("apt-dpkg-exec")).unwrap();
    for f in ["meta.yaml", "policy.yaml.hbs"] {
        std::fs::copy(src.join(f), repo.join("apt-dpkg-exec").join(f)).unwrap();
    }
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "one template"]);
    let commit = git(&["rev-parse", "HEAD"]).trim().to_string();
    let cache_home = tmp.path().join("xdg");
    let with_cache = |args: &[&str], out: Option<&Path>| {
        let mut c = armorc();
        c.env("XDG_CACHE_HOME", &cache_home).args(args);
        if let Some(o) = out {
            c.arg("-o").arg(o);
        }
        run(&mut c)
    };
    // Before update: built-in set.
    let image =
        oci_layout(tmp.path(), "img", &[Entry::File("/usr/bin/apt-get", 0o755), Entry::File("/usr/bin/curl", 0o755)]);
    let out = tmp.path().join("out");
    let o = with_cache(&["recommend", "-i", &image, "-r", "r.json"], Some(&out));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json(&out.join("r.json"))["templates"]["source"], "builtin");
    // update, then the cache is the default and the report names source and commit.
    let o = with_cache(&["recommend", "update", "--source", repo.to_str().unwrap(), "--ref", "main"], None);
    assert_eq!(o.status.code(), Some(0));
    let o = with_cache(&["recommend", "-i", &image, "-r", "r.json"], Some(&out));
    assert_eq!(o.status.code(), Some(0));
    let report = json(&out.join("r.json"));
    assert_eq!(report["templates"]["kind"], "cache");
    assert_eq!(report["templates"]["commit"], commit.as_str());
    assert_eq!(report["templates"]["source"], repo.to_str().unwrap());
    let names: Vec<&str> =
        report["images"][0]["policies"].as_array().unwrap().iter().map(|p| p["template"].as_str().unwrap()).collect();
    assert_eq!(names, ["apt-dpkg-exec"], "only the cached library's template");
    // --templates builtin still reaches the embedded set.
    let o = with_cache(&["recommend", "-i", &image, "-r", "r.json", "--templates", "builtin"], Some(&out));
    assert_eq!(o.status.code(), Some(0));
    assert!(json(&out.join("r.json"))["images"][0]["policies"].as_array().unwrap().len() > 1);
    // A bad source fails without touching the cache.
    let o = with_cache(&["recommend", "update", "--source", tmp.path().join("nope").to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    let o = with_cache(&["recommend", "-i", &image, "-r", "r.json"], Some(&out));
    assert_eq!(json(&out.join("r.json"))["templates"]["commit"], commit.as_str(), "{o:?}");
}

#[test]
fn output_is_deterministic_and_host_templates_need_node_labels() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let all = trigger_all();
    let spec = oci_layout(tmp.path(), "det", &entries(&all));
    let outputs: Vec<Vec<(String, String)>> = (0..2)
        .map(|n| {
            let out = tmp.path().join(format!("out{n}"));
            for fmt in ["report.json", "report.html", "report.md", "report.txt"] {
                let o = run(armorc()
                    .args(["recommend", "-i", &spec, "-l", "app=det", "--explain", "-r", fmt, "-o"])
                    .arg(&out));
                assert_eq!(o.status.code(), Some(0));
            }
            assert!(!out.join("host").exists(), "no --node-labels, no host policies");
            let mut files: Vec<(String, String)> = walk(&out)
                .into_iter()
                .map(|f| {
                    (
                        f.replace(out.to_str().unwrap(), "OUT"),
                        std::fs::read_to_string(&f).unwrap().replace(out.to_str().unwrap(), "OUT"),
                    )
                })
                .collect();
            files.sort();
            files
        })
        .collect();
    assert!(outputs[0].len() > 40);
    assert_eq!(outputs[0], outputs[1]);
    let text = &outputs[0].iter().find(|(f, _)| f.ends_with("det-v1/apt-dpkg-exec.yaml")).unwrap().1;
    // Plain block YAML as kubectl writes it: no JSON flow mappings or sequences.
    assert!(text.contains("  selector:\n    matchLabels:\n      app: det\n"), "{text}");
    assert!(
        text.starts_with(
            "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: det-v1-apt-dpkg-exec\n"
        ),
        "{text}"
    );
    for (f, text) in &outputs[0] {
        assert!(!text.contains(": {\"") && !text.contains(": [\""), "{f}: flow style in\n{text}");
    }
}

/// The four report formats for one fixed image with `--explain` (paths and digests filtered).
#[test]
fn report_formats_snapshot() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = oci_layout(
        tmp.path(),
        "shop",
        &[
            Entry::File("/usr/bin/apt-get", 0o755),
            Entry::File("/usr/sbin/nginx", 0o755),
            Entry::Dir("/etc/nginx"),
            Entry::File("/usr/bin/dash", 0o755),
            Entry::Symlink("/usr/bin/sh", "dash"),
            Entry::Symlink("/bin", "usr/bin"),
        ],
    );
    let out = tmp.path().join("out");
    let root = tmp.path().display().to_string();
    for (name, _) in [("report.txt", ()), ("report.md", ()), ("report.json", ()), ("report.html", ())] {
        let o = run(armorc()
            .args([
                "recommend",
                "-i",
                &spec,
                "-t",
                "MITRE,nginx",
                "-l",
                "app=shop",
                "--explain",
                "--action",
                "Audit",
                "-r",
                name,
                "-o",
            ])
            .arg(&out));
        assert_eq!(o.status.code(), Some(0));
        let text = std::fs::read_to_string(out.join(name)).unwrap().replace(&root, "[TMP]");
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            filters => vec![(r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]")],
        }, {
            insta::assert_snapshot!(format!("recommend_report_{}", name.replace('.', "_")), text);
        });
    }
}

#[test]
fn index_limits_are_flags_named_in_their_errors() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let image = oci_layout(
        tmp.path(),
        "many",
        &[Entry::File("/usr/bin/apt-get", 0o755), Entry::File("/etc/a", 0o644), Entry::File("/etc/b", 0o644)],
    );
    let o = run(armorc().args(["recommend", "-i", &image, "--max-entries", "2", "-o"]).arg(&out));
    assert_eq!(o.status.code(), Some(1));
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(report.contains("max-entries=2"), "{report}");
    let o = run(armorc().args(["recommend", "-i", &image, "--max-entries", "1000", "-o"]).arg(&out));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn with_tests_writes_cases_that_armorc_test_passes() {
    if !tools_present() {
        common::skip_or_fail("tar/sha256sum not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = oci_layout(tmp.path(), "everything", &entries(&trigger_all()));
    let out = tmp.path().join("out");
    let o = run(armorc()
        .args(["recommend", "-i", &spec, "-n", "shop", "-r", "report.json", "--with-tests"])
        .args(["--node-labels", "kubernetes.io/hostname=node-1", "-o"])
        .arg(&out));
    assert_eq!(o.status.code(), Some(0));
    let dir = out.join("shop-everything-v1");
    let files = yaml_files(&dir);
    let policies: Vec<&PathBuf> = files.iter().filter(|f| !f.to_string_lossy().ends_with(".armortest.yaml")).collect();
    // One test file beside every policy (host policies, under host/, have none).
    for p in &policies {
        let test = p.with_extension("armortest.yaml");
        assert!(test.is_file(), "{} has no test file: {:?}", p.display(), files);
    }
    assert_eq!(files.len(), 2 * policies.len());
    assert!(!walk(&out.join("host")).iter().any(|f| f.ends_with(".armortest.yaml")));
    let test = run(armorc().args(["test", "--format", "json"]).arg(&out));
    let report: serde_json::Value = serde_json::from_slice(&test.stdout).unwrap();
    assert_eq!(test.status.code(), Some(0), "{report:#}");
    assert_eq!(report["summary"]["files"], policies.len());
    for file in report["files"].as_array().unwrap() {
        let cases = file["cases"].as_array().unwrap();
        let expects: Vec<&str> = cases.iter().map(|c| c["expect"].as_str().unwrap()).collect();
        assert!(expects.iter().any(|e| *e != "allow"), "{file:#}");
        assert!(expects.contains(&"allow"), "{file:#}");
    }
    let audit = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with("shell-exec-audit.armortest.yaml"))
        .unwrap();
    assert!(
        audit["cases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["expect"] == "audit" && c["query"]["path"] == "/usr/bin/bash"),
        "{audit:#}"
    );
    // The cases hold the policies to their rules: a policy that no longer blocks fails its test.
    let apk = dir.join("apk-exec.yaml");
    let text = std::fs::read_to_string(&apk).unwrap();
    assert!(text.contains("action: Block\n"), "{text}");
    std::fs::write(&apk, text.replace("action: Block\n", "action: Audit\n")).unwrap();
    let test = run(armorc().arg("test").arg(&dir));
    assert_eq!(test.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(
        stdout.contains("apk-exec.armortest.yaml::exec /usr/bin/apk is denied (spec.process.matchPaths[0]) ... FAILED"),
        "{stdout}"
    );
    assert!(stdout.contains("1 failed"), "{stdout}");
    // For -f workloads (here --action Audit): the workload's container, audit expected.
    let tools =
        oci_layout(tmp.path(), "tools", &[Entry::File("/usr/bin/curl", 0o755), Entry::File("/usr/bin/wget", 0o755)]);
    let mf = tmp.path().join("deploy.yaml");
    std::fs::write(
        &mf,
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: shop, namespace: prod}}\nspec:\n  selector: {{matchLabels: {{app: shop}}}}\n  template:\n    metadata: {{labels: {{app: shop}}}}\n    spec:\n      containers: [{{name: fetch, image: '{tools}'}}]\n"),
    )
    .unwrap();
    let out = tmp.path().join("out-f");
    let o =
        run(armorc().args(["recommend", "-f"]).arg(&mf).args(["--action", "Audit", "--with-tests", "-o"]).arg(&out));
    assert_eq!(o.status.code(), Some(0));
    let test = std::fs::read_to_string(out.join("prod-shop/fetch-downloader-exec-audit.armortest.yaml")).unwrap();
    assert!(test.contains("target: \"prod/shop/fetch\"") && test.contains("expect: audit"), "{test}");
    let run_tests = run(armorc().arg("test").arg(&out));
    assert_eq!(run_tests.status.code(), Some(0), "{}", String::from_utf8_lossy(&run_tests.stdout));
}
