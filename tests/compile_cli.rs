//! `armorc compile` / `armorc explain` end to end over compiler/tests/fixtures/compile.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use common::{armorc, files};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: &str = "compiler/tests/fixtures/compile";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Compile the fixtures for both targets into `out`.
fn compile_fixtures(out: &Path, extra: &[&str]) -> Output {
    let policies = format!("{FIXTURES}/policies");
    let workloads = format!("{FIXTURES}/workloads");
    let out = out.to_str().unwrap();
    let mut args = vec![
        "compile",
        policies.as_str(),
        "--workloads",
        workloads.as_str(),
        "--node-labels",
        "kubernetes.io/hostname=node-1",
        "--target",
        "all",
        "-o",
        out,
    ];
    args.extend_from_slice(extra);
    armorc(&args)
}

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/compile")
}

#[test]
fn fixtures_compile_deterministically_and_explain_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let out = compile_fixtures(&a, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    // The cross-backend warning names both rules.
    assert!(stderr.contains("warning[C003]"), "{stderr}");
    assert!(stderr.contains("ksp-allow-hostname.yaml:14:9") && stderr.contains("ksp-file.yaml:33:9"), "{stderr}");
    assert_eq!(compile_fixtures(&b, &[]).status.code(), Some(0));
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(fa, fb, "two runs differ");

    let names: Vec<&str> = fa.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "index.json",
        "bpf/host.img",
        "bpf/shop/web/nginx.img",
        "bpf/shop/web/logger.img",
        "bpf/shop/db/postgres.img",
        "bpf/batch/report/report.img",
        "bpf/batch/debug/shell.img",
        "apparmor/kubearmor-shop-web-nginx",
        "apparmor/kubearmor-shop-web-nginx.map.json",
        "apparmor/kubearmor.host",
        "patches/shop/web.yaml",
        "landlock/shop/web/nginx.json",
        "landlock/host.json",
        "patches/landlock/shop/web.yaml",
        "patches/landlock/shop/web_plans.yaml",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }

    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["version"], 1);
    let targets = index["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 6);
    let nginx = targets.iter().find(|t| t["container"] == "nginx").unwrap();
    assert_eq!(nginx["bpf"], "bpf/shop/web/nginx.img");
    assert_eq!(nginx["apparmor_profile"], "kubearmor-shop-web-nginx");
    assert_eq!(nginx["posture"]["file"], "block");
    assert_eq!(nginx["landlock"], "landlock/shop/web/nginx.json");
    // What Landlock cannot express is a warning naming the rule (the execname of ksp-process.yaml).
    assert!(stderr.contains("ksp-process.yaml:24:9: warning[K001]"), "{stderr}");
    // A container without `command` cannot be wrapped with armor-exec: named with the fix.
    assert!(
        stderr.contains("shop.yaml:24:11: warning[K005]: Deployment shop/web: container logger has no `command`")
            && stderr.contains("set `command`"),
        "{stderr}"
    );
    // Only shop/web has a container to wrap (db's plan applies nothing; batch is not enforced).
    let landlock_patches: Vec<&str> = names.iter().copied().filter(|n| n.starts_with("patches/landlock/")).collect();
    assert_eq!(landlock_patches, ["patches/landlock/shop/web.yaml", "patches/landlock/shop/web_plans.yaml"]);
    assert_eq!(
        nginx["policies"],
        serde_json::json!([
            "KubeArmorClusterPolicy/-/no-package-managers",
            "KubeArmorPolicy/shop/web-allow-hostname",
            "KubeArmorPolicy/shop/web-file",
            "KubeArmorPolicy/shop/web-net",
            "KubeArmorPolicy/shop/web-process"
        ])
    );
    let host = targets.iter().find(|t| t["host"] == true).unwrap();
    assert_eq!(host["policies"], serde_json::json!(["KubeArmorHostPolicy/-/node-hardening"]));
    let report = targets.iter().find(|t| t["workload"] == "report").unwrap();
    assert_eq!(report["enforcement"], "audited");
    assert_eq!(report["bpf_entries"], 0);
    let debug = targets.iter().find(|t| t["workload"] == "debug").unwrap();
    assert_eq!(debug["enforcement"], "disabled");
    assert!(debug["reason"].as_str().unwrap().contains("disabled"));

    for (name, _) in fa.iter().filter(|(n, _)| n.ends_with(".img")) {
        let out = armorc(&["explain", a.join(name).to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let snap = format!("explain__{}", name.trim_end_matches(".img").replace('/', "__"));
        insta::with_settings!({ snapshot_path => snapshot_dir(), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(snap, text(&out.stdout));
        });
    }
    insta::with_settings!({ snapshot_path => snapshot_dir(), prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("index_json", text(&std::fs::read(a.join("index.json")).unwrap()));
        for name in ["web", "web_plans"] {
            let patch = std::fs::read(a.join(format!("patches/landlock/shop/{name}.yaml"))).unwrap();
            insta::assert_snapshot!(format!("patch_landlock__shop__{name}"), text(&patch));
        }
        insta::assert_snapshot!(
            "landlock__shop__web__nginx",
            text(&std::fs::read(a.join("landlock/shop/web/nginx.json")).unwrap())
        );
    });
    let out = armorc(&["explain", a.join("landlock/shop/web/nginx.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::with_settings!({ snapshot_path => snapshot_dir(), prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("explain__landlock__shop__web__nginx", text(&out.stdout));
    });
    let out = armorc(&["explain", a.join("index.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::with_settings!({ snapshot_path => snapshot_dir(), prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("explain__index", text(&out.stdout));
    });
}

#[test]
fn recompiling_reuses_unchanged_files_and_rewrites_changed_ones() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    assert_eq!(compile_fixtures(&out_dir, &[]).status.code(), Some(0));
    let first = files(&out_dir);
    let inode = |rel: &str| std::fs::metadata(out_dir.join(rel)).unwrap().ino();
    let (index_ino, image_ino) = (inode("index.json"), inode("bpf/shop/web/nginx.img"));
    // A file edited by hand (or left by another version) must be replaced, not kept.
    let profile = out_dir.join("apparmor/kubearmor-shop-web-nginx");
    let profile_ino = inode("apparmor/kubearmor-shop-web-nginx");
    std::fs::write(&profile, "edited by hand\n").unwrap();

    assert_eq!(compile_fixtures(&out_dir, &[]).status.code(), Some(0));
    assert_eq!(files(&out_dir), first, "the recompiled tree differs from the first compile");
    // Unchanged files are the same files (hard-linked into the new tree), each with one link now
    // that the previous tree is gone; the edited one was written anew.
    assert_eq!(inode("index.json"), index_ino);
    assert_eq!(inode("bpf/shop/web/nginx.img"), image_ino);
    assert_ne!(inode("apparmor/kubearmor-shop-web-nginx"), profile_ino);
    assert_eq!(std::fs::metadata(out_dir.join("index.json")).unwrap().nlink(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("out")], "temporary trees left behind");
}

#[test]
fn check_lists_every_difference_and_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    assert_eq!(compile_fixtures(&out_dir, &[]).status.code(), Some(0));
    let clean = compile_fixtures(&out_dir, &["--check"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stderr));
    assert!(clean.stdout.is_empty());

    // Corrupt one image, delete a profile, add a stray file.
    let img = out_dir.join("bpf/shop/web/nginx.img");
    let mut bytes = std::fs::read(&img).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&img, bytes).unwrap();
    std::fs::remove_file(out_dir.join("apparmor/kubearmor.host")).unwrap();
    std::fs::write(out_dir.join("stray.txt"), "x").unwrap();
    let out = compile_fixtures(&out_dir, &["--check"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("missing: apparmor/kubearmor.host"), "{stdout}");
    assert!(
        lines[1].starts_with("differs: bpf/shop/web/nginx.img (existing file: map image checksum mismatch"),
        "{stdout}"
    );
    assert_eq!(lines[2], "extra: stray.txt");

    // A different posture changes images and index.json.
    assert_eq!(compile_fixtures(&tmp.path().join("fresh"), &[]).status.code(), Some(0));
    let out = compile_fixtures(&tmp.path().join("fresh"), &["--check", "--default-posture", "network=block"]);
    assert_eq!(out.status.code(), Some(3));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("differs: bpf/shop/web/nginx.img (54 entries now, 54 compiled; 1 added, 1 removed or changed)"),
        "{stdout}"
    );
    assert!(stdout.contains("differs: index.json"), "{stdout}");
}

#[test]
fn lint_errors_refuse_to_compile_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: bad, namespace: shop}\nspec:\n  process:\n    matchPaths:\n      - path: relative/path\n  action: Block\n",
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let out = armorc(&["compile", bad.to_str().unwrap(), "--target", "bpf", "-o", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.yaml:7:") && stderr.contains("error"), "{stderr}");
    assert!(!out_dir.exists());
}

#[test]
fn over_capacity_is_an_error_naming_the_policies() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = compile_fixtures(&out_dir, &["--capacity", "40"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[C002]: target shop/web/nginx needs 54 map entries, over the capacity of 40"),
        "{stderr}"
    );
    assert!(stderr.contains("KubeArmorPolicy/shop/web-net"), "{stderr}");
    assert!(!stderr.contains("target shop/web/logger needs"), "{stderr}");
    assert!(!out_dir.exists());
    // The temporary tree was removed too.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn deny_warning_fails_on_composition_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = compile_fixtures(&out_dir, &["--deny", "warning"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--deny warning"));
    assert!(!out_dir.exists());
}

#[test]
fn bad_workloads_and_options_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path().join("w.yaml");
    std::fs::write(&w, "kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{image: x}]}}}\n")
        .unwrap();
    let policies = format!("{FIXTURES}/policies");
    let out_dir = tmp.path().join("out");
    let o = out_dir.to_str().unwrap();
    let out = armorc(&["compile", &policies, "--workloads", w.to_str().unwrap(), "--target", "bpf", "-o", o]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("w.yaml:3:39: error: container without a name"), "{}", text(&out.stderr));
    let out = armorc(&["compile", &policies, "--target", "bpf", "-o", o, "--default-posture", "deny"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--default-posture"));
    assert!(!out_dir.exists());

    // An existing directory that is not ours is never replaced.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("keep.txt"), "x").unwrap();
    let out = armorc(&["compile", &policies, "--target", "bpf", "-o", mine.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not an armorc output directory"));
    assert!(mine.join("keep.txt").exists());
}

#[test]
fn explain_rejects_damaged_images() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    assert_eq!(compile_fixtures(&out_dir, &[]).status.code(), Some(0));
    let bytes = std::fs::read(out_dir.join("bpf/shop/web/nginx.img")).unwrap();
    let cut = tmp.path().join("cut.img");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = armorc(&["explain", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("truncated map image"), "{}", text(&out.stderr));
    let mut v9 = bytes.clone();
    v9[8] = 9;
    std::fs::write(&cut, &v9).unwrap();
    let out = armorc(&["explain", cut.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("format version 9"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
}

#[test]
fn colliding_targets_are_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path().join("w.yaml");
    std::fs::write(
        &w,
        "kind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {containers: [{name: c}]}\n---\n\
         kind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {template: {spec: {containers: [{name: c}]}}}\n",
    )
    .unwrap();
    let policies = format!("{FIXTURES}/policies");
    let out_dir = tmp.path().join("out");
    let out = armorc(&[
        "compile",
        &policies,
        "--workloads",
        w.to_str().unwrap(),
        "--target",
        "all",
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    // Both workloads are named with their file and line.
    let w = w.display();
    let want = format!("Deployment shop/web ({w}:5:1) and Pod shop/web ({w}:1:1) would both write bpf/shop/web/c.img");
    assert!(text(&out.stderr).contains(&want), "{}", text(&out.stderr));
    assert!(!out_dir.exists());
}

/// A copy of the fixtures in a temporary directory: (dir, policies, workloads).
fn fixture_copy() -> (tempfile::TempDir, String, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let workloads = tmp.path().join("workloads");
    std::fs::create_dir(&workloads).unwrap();
    for f in ["batch.yaml", "shop.yaml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES).join("workloads").join(f),
            workloads.join(f),
        )
        .unwrap();
    }
    (tmp, format!("{FIXTURES}/policies"), workloads)
}

fn compile_to(policies: &str, workloads: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "compile",
        policies,
        "--workloads",
        workloads.to_str().unwrap(),
        "--target",
        "all",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    armorc(&args)
}

/// OUT inside a --workloads directory: the next compile skips it (its patches/*.yaml used to be
/// read back as workloads and collide).
#[test]
fn out_inside_the_workloads_directory_is_not_read_as_workloads() {
    let (_tmp, policies, workloads) = fixture_copy();
    let out_dir = workloads.join("out");
    for round in 0..2 {
        let out = compile_to(&policies, &workloads, &out_dir, &[]);
        assert_eq!(out.status.code(), Some(0), "round {round}: {}", text(&out.stderr));
    }
    let out = compile_to(&policies, &workloads, &out_dir, &["--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("skipped (an armorc compile output, not workloads)"), "{}", text(&out.stderr));
}

/// Leftover temporary trees of killed compiles (`.OUT.tmp-PID`, `.OUT.old-PID` whose PID is
/// gone) are removed; a live compile's tree and other directories stay.
#[test]
fn stale_temporary_trees_are_removed() {
    let (tmp, policies, workloads) = fixture_copy();
    let out_dir = tmp.path().join("out");
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let live = std::process::id();
    let names = [
        (format!(".out.tmp-{dead}"), false),
        (format!(".out.old-{dead}"), false),
        (format!(".out.tmp-{live}"), true),
        (format!(".other.tmp-{dead}"), true),
        (format!("out.tmp-{dead}"), true),
    ];
    for (name, _) in &names {
        std::fs::create_dir_all(tmp.path().join(name).join("bpf")).unwrap();
    }
    let out = compile_to(&policies, &workloads, &out_dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for (name, kept) in &names {
        assert_eq!(tmp.path().join(name).exists(), *kept, "{name}");
    }
}

/// While compiles replace OUT again and again, OUT never disappears (the swap is one
/// renameat2(RENAME_EXCHANGE), not rename-away then rename-in).
#[test]
fn out_never_disappears_while_it_is_replaced() {
    let (tmp, policies, workloads) = fixture_copy();
    let out_dir = tmp.path().join("out");
    assert!(compile_to(&policies, &workloads, &out_dir, &[]).status.success());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (done, index) = (done.clone(), out_dir.join("index.json"));
        std::thread::spawn(move || {
            let mut missing = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                missing += u64::from(std::fs::symlink_metadata(&index).is_err());
            }
            missing
        })
    };
    for round in 0..20 {
        // A changed policy set each round, so the tree really is replaced.
        let extra: &[&str] = if round % 2 == 0 { &["--default-posture", "block"] } else { &[] };
        let out = compile_to(&policies, &workloads, &out_dir, extra);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(watcher.join().unwrap(), 0, "OUT/index.json was missing while OUT was replaced");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".out."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `--check` against an OUT holding a FIFO where a file is expected: a difference, not a hang.
#[test]
fn check_does_not_hang_on_a_fifo_in_out() {
    let (tmp, policies, workloads) = fixture_copy();
    let out_dir = tmp.path().join("out");
    assert!(compile_to(&policies, &workloads, &out_dir, &[]).status.success());
    let index = out_dir.join("index.json");
    std::fs::remove_file(&index).unwrap();
    let c = std::ffi::CString::new(index.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: c is a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Should --check block opening the FIFO, a writer coming and going after 20 s unblocks it.
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(index);
    });
    let started = std::time::Instant::now();
    let out = compile_to(&policies, &workloads, &out_dir, &["--check"]);
    assert!(started.elapsed().as_secs() < 15, "--check waited {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("differs: index.json (not a regular file)"), "{}", text(&out.stdout));
}

/// Is `apparmor_parser` here? In CI (CI=true) it must be: .ci/install-apparmor.sh installs it.
fn apparmor_parser_available() -> bool {
    let found = Command::new("apparmor_parser").arg("--version").output().is_ok();
    if !found {
        common::skip_or_fail("apparmor_parser not installed (Debian package `apparmor`, .ci/install-apparmor.sh)");
    }
    found
}

#[test]
fn verify_apparmor_names_the_rejected_native_rule_and_writes_nothing() {
    if !apparmor_parser_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("native.yaml");
    // Line 11, column 5: a native line apparmor_parser refuses (`all` is no network family).
    std::fs::write(
        &policy,
        "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: native-bad\n  namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: web\n  apparmor: |\n    network all,\n",
    )
    .unwrap();
    let workloads = format!("{FIXTURES}/workloads");
    let out_dir = tmp.path().join("out");
    let args = [
        "compile",
        policy.to_str().unwrap(),
        "--workloads",
        &workloads,
        "--target",
        "all",
        "-o",
        out_dir.to_str().unwrap(),
    ];

    // Without the flag the profile is written as is.
    let out = armorc(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let before = files(&out_dir);

    let mut verify = args.to_vec();
    verify.push("--verify-apparmor");
    let out = armorc(&verify);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let want = format!("{}:11:5: KubeArmorPolicy/shop/native-bad spec.apparmor", policy.display());
    assert!(stderr.contains(&want), "no `{want}` in:\n{stderr}");
    assert!(
        stderr.contains("apparmor_parser rejected profile kubearmor-shop-web-") && stderr.contains("network all,"),
        "{stderr}"
    );
    // OUT is untouched and no temporary directory is left beside it.
    assert_eq!(files(&out_dir), before);
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");

    // A profile set the parser accepts passes the check.
    let out = compile_fixtures(&tmp.path().join("good"), &["--verify-apparmor"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn verify_apparmor_needs_an_apparmor_target() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let policies = format!("{FIXTURES}/policies");
    let out = armorc(&["compile", &policies, "--target", "bpf", "--verify-apparmor", "-o", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--verify-apparmor needs --target apparmor or all"), "{}", text(&out.stderr));
    assert!(!out_dir.exists());
}

/// Landlock cannot see fromSource: an Allow rule with it is granted to every process of the
/// target (K002 says so), so an allow-list keeps the target's own accesses; a Block rule with it
/// stays out of the plan.
#[test]
fn landlock_grants_allow_rules_without_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.yaml");
    std::fs::write(
        &policy,
        "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: p, namespace: demo}\n\
         spec:\n  selector: {matchLabels: {app: web}}\n  file:\n    matchPaths:\n\
         \x20   - path: /etc/app.conf\n      fromSource: [{path: /usr/bin/cat}]\n    - path: /etc/hostname\n\
         \x20 action: Allow\n---\n\
         apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: b, namespace: demo}\n\
         spec:\n  selector: {matchLabels: {app: web}}\n  file:\n    matchPaths:\n\
         \x20   - path: /etc/secret\n      fromSource: [{path: /usr/bin/cat}]\n  action: Block\n",
    )
    .unwrap();
    let workload = dir.path().join("w.yaml");
    std::fs::write(
        &workload,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: demo}\nspec:\n  selector: {matchLabels: {app: web}}\n\
         \x20 template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: x}]}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = armorc(&[
        "compile",
        policy.to_str().unwrap(),
        "--workloads",
        workload.to_str().unwrap(),
        "--target",
        "landlock",
        "--default-posture",
        "block",
        "-o",
        out.to_str().unwrap(),
    ]);
    let stderr = text(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("Allow rule with fromSource /usr/bin/cat: Landlock cannot see it; granted to every process"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Block rule with fromSource /usr/bin/cat: Landlock cannot see it; not enforced"),
        "{stderr}"
    );
    let plan = text(&std::fs::read(out.join("landlock/demo/web/c.json")).unwrap());
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let granted: Vec<String> = plan["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["name"] == "allow-list file")
        .flat_map(|l| l["grants"].as_array().unwrap().iter().filter_map(|g| g["path"].as_str().map(String::from)))
        .collect();
    assert!(granted.contains(&"/etc/app.conf".to_string()), "{granted:?}");
    assert!(granted.contains(&"/etc/hostname".to_string()), "{granted:?}");
    assert!(!plan.to_string().contains("/etc/secret"), "the Block with fromSource is not in the plan");
}

/// `kubectl kustomize` over `files` (copied into a fresh directory) with `patches` as strategic
/// merge patches: the real merge the patches are written for. None when kubectl is missing.
fn kustomize(dir: &Path, resources: &[&Path], patches: &[&Path]) -> Option<String> {
    let Some(kubectl) = common::which("kubectl") else {
        common::skip_or_fail("kubectl missing (Debian package kubernetes-client, .ci/install-deploy.sh)");
        return None;
    };
    std::fs::create_dir_all(dir).unwrap();
    let listed = |files: &[&Path]| -> Vec<String> {
        files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let name = format!("{i}-{}", f.file_name().unwrap().to_str().unwrap());
                std::fs::copy(f, dir.join(&name)).unwrap();
                name
            })
            .collect()
    };
    let (resources, patches) = (listed(resources), listed(patches));
    // patchesStrategicMerge: understood by every kustomize in kubectl (Debian's 1.20 too)
    let kustomization = format!("resources: {resources:?}\npatchesStrategicMerge: {patches:?}\n");
    std::fs::write(dir.join("kustomization.yaml"), kustomization).unwrap();
    let out = Command::new(kubectl).arg("kustomize").arg(dir).output().unwrap();
    assert!(out.status.success(), "kubectl kustomize: {}", text(&out.stderr));
    Some(text(&out.stdout))
}

/// `kubernetes-validate --strict` of `file`: Ok or its report.
fn validate(validator: &Path, file: &Path) -> Result<(), String> {
    let v = Command::new(validator).args(["--strict", "--quiet"]).arg(file).output().unwrap();
    if v.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", text(&v.stdout), text(&v.stderr)))
    }
}

#[test]
fn landlock_patches_validate_after_a_strategic_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = compile_fixtures(&out_dir, &["--armor-exec-image", "registry.example/armorc/armor-exec:1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let Some(validator) = common::which("kubernetes-validate") else {
        common::skip_or_fail("kubernetes-validate missing (.ci/install-deploy.sh)");
        return;
    };
    let workloads = Path::new(FIXTURES).join("workloads/shop.yaml");
    let patch = out_dir.join("patches/landlock/shop/web.yaml");
    let plans = out_dir.join("patches/landlock/shop/web_plans.yaml");
    let Some(merged) = kustomize(&tmp.path().join("k"), &[&workloads, &plans], &[&patch]) else { return };
    let merged_file = tmp.path().join("merged.yaml");
    std::fs::write(&merged_file, &merged).unwrap();
    validate(&validator, &merged_file).unwrap_or_else(|e| panic!("{e}\n{merged}"));
    // The merge did what the patch says: the wrapped command, the image, the plans' ConfigMap.
    let mut read = armorc_compiler::workload::Workloads::default();
    read.read(&armorc_compiler::source::SourceFile::new("merged.yaml", merged.as_str())).unwrap();
    let web = read.workloads.iter().find(|w| w.name == "web").unwrap();
    let command = |c: &str| web.containers.iter().find(|x| x.name == c).unwrap().command.clone();
    let wrapped = ["/armorc/bin/armor-exec", "--plan", "/armorc/plans/nginx.json", "--", "nginx", "-g", "daemon off;"];
    assert_eq!(command("nginx"), Some(wrapped.iter().map(|s| s.to_string()).collect()));
    assert_eq!(command("logger"), None);
    let init = &web.init_containers[0];
    assert_eq!(init.image.as_deref(), Some("registry.example/armorc/armor-exec:1"));
    assert!(merged.contains("name: armorc-landlock-web") && merged.contains("nginx.json: |"), "{merged}");
    // kubernetes-validate does refuse a misspelt field, in the patch or in the ConfigMap.
    let sabotage = |file: &Path, from: &str, to: &str| {
        let original = std::fs::read_to_string(file).unwrap();
        assert!(original.contains(from), "{from}");
        let sabotaged = tmp.path().join(format!("sabotaged-{}", file.file_name().unwrap().to_str().unwrap()));
        std::fs::write(&sabotaged, original.replace(from, to)).unwrap();
        sabotaged
    };
    let bad_patch = sabotage(&patch, "volumeMounts:", "volumeMount:");
    let bad_plans = sabotage(&plans, "\ndata:", "\ndatas:");
    for (name, resources, patches) in
        [("patch", [&workloads, &plans], [&bad_patch]), ("plans", [&workloads, &bad_plans], [&patch])]
    {
        let resources: Vec<&Path> = resources.iter().map(|p| p.as_path()).collect();
        let patches: Vec<&Path> = patches.iter().map(|p| p.as_path()).collect();
        let merged = kustomize(&tmp.path().join(format!("k-{name}")), &resources, &patches).unwrap();
        std::fs::write(&merged_file, &merged).unwrap();
        assert!(validate(&validator, &merged_file).is_err(), "sabotaged {name} passed kubernetes-validate\n{merged}");
    }
}

#[test]
fn armor_exec_image_must_be_a_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = compile_fixtures(&out_dir, &["--armor-exec-image", "bad ref"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--armor-exec-image"), "{}", text(&out.stderr));
    assert!(!out_dir.exists());
}
