//! kubearmor/policy-templates v0.2.6 committed into a temporary git repository (libgit2), pulled
//! with `recommend update`, then matched both ways: our translation and `--legacy-karmor`.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use armorc_recommend::image::{ImageLoadError, RegistryError};
use armorc_recommend::index::{EntryKind, FileIndex};
use armorc_recommend::report::Format;
use armorc_recommend::run::{self, ImagesRead, Job, Loaded, Options};
use armorc_recommend::templates::cache;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/policy-templates-v0.2.6");
    p.is_dir().then_some(p)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A repository with the corpus committed and tagged `v0.2.6`; returns (path, commit id).
fn repository(dir: &Path, corpus: &Path) -> (PathBuf, String) {
    let repo_dir = dir.join("policy-templates");
    copy_tree(corpus, &repo_dir);
    let repo = git2::Repository::init(&repo_dir).unwrap();
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("test", "test@example.invalid").unwrap();
    let commit = repo.commit(Some("HEAD"), &sig, &sig, "policy-templates v0.2.6", &tree, &[]).unwrap();
    repo.tag_lightweight("v0.2.6", &repo.find_object(commit, None).unwrap(), false).unwrap();
    (repo_dir, commit.to_string())
}

fn file(i: &mut FileIndex, p: &str) {
    i.insert(p, EntryKind::File { mode: 0o755, size: 1 }).unwrap();
}

#[test]
fn v0_2_6_via_git_cache_both_matchers() {
    let Some(corpus) = corpus() else {
        common::skip_or_fail("../shared/corpus/policy-templates-v0.2.6 not found");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (repo, commit) = repository(tmp.path(), &corpus);
    let root = tmp.path().join("cache");
    assert!(!cache::is_filled(&root));
    let url = format!("file://{}", repo.display());
    let info = cache::update(&root, Some(&url), Some("v0.2.6")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.commit.as_deref(), Some(commit.as_str()));
    assert!(cache::is_filled(&root));

    // Offline from here on: the source repository is gone.
    std::fs::remove_dir_all(&repo).unwrap();
    let lib = cache::load(&root).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lib.source.commit.as_deref(), Some(commit.as_str()));
    assert_eq!(lib.templates.len(), 29, "{:?}", lib.templates.iter().map(|t| &t.name).collect::<Vec<_>>());
    assert!(lib.notes.iter().any(|n| n.contains("not a KubeArmor policy")), "kyverno rules are noted: {:?}", lib.notes);
    // Every spec section is kept (karmor dropped e.g. capabilities and matchPatterns).
    let crypto = lib.templates.iter().find(|t| t.name == "crypto-miners").unwrap();
    assert!(crypto.body.contains("file:") && crypto.body.contains("process:"), "{}", crypto.body);

    // A Debian-like usr-merged image with mysql and groupadd, but /bin/chmod only as /usr/bin/chmod.
    let mut index = FileIndex::new();
    for p in
        ["/usr/bin/mysql", "/usr/sbin/groupadd", "/usr/sbin/useradd", "/usr/bin/chmod", "/usr/bin/who", "/etc/motd"]
    {
        file(&mut index, p);
    }
    index.insert("/bin", EntryKind::Symlink { target: "usr/bin".into() }).unwrap();
    index.insert("/etc/selinux", EntryKind::Dir { mode: 0o755 }).unwrap();
    index.insert("/etc/selinux/config", EntryKind::File { mode: 0o644, size: 1 }).unwrap();

    let run_with = |legacy: bool, out: &Path| {
        let opts = Options {
            out_dir: out.to_path_buf(),
            report: out.join("report.json"),
            format: Format::Json,
            tags: vec![],
            namespace: Some("db".into()),
            labels: BTreeMap::from([("app".to_string(), "mysql".to_string())]),
            node_labels: None,
            action: None,
            explain: true,
            legacy_karmor: legacy,
            allow_generic: false,
            progress: false,
            with_tests: false,
        };
        let loader = |_: &str, _| -> Result<Loaded, ImageLoadError> {
            Ok(Loaded {
                reference: "mysql:8".into(),
                digest: "sha256:00".into(),
                platform: "linux/amd64".into(),
                index: index.clone(),
                os_release: None,
            })
        };
        let jobs = [Job { image: "mysql:8".into(), workload: None }];
        let (report, code) = run::run(&jobs, &lib, &opts, &loader).unwrap();
        assert_eq!(code, ImagesRead::All);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
        assert_eq!(json["templates"]["commit"], commit.as_str());
        assert_eq!(json["templates"]["source"], url.as_str());
        let names: Vec<String> = report.images[0].policies.iter().map(|p| p.template.clone()).collect();
        (names, report)
    };
    let (ours, report) = run_with(false, &tmp.path().join("ours"));
    let (karmor, _) = run_with(true, &tmp.path().join("karmor"));

    // Both: exact preconditions present.
    for t in ["user-grp-mod", "cis-commandline-warning-banner"] {
        assert!(ours.contains(&t.to_string()) && karmor.contains(&t.to_string()), "{t}: {ours:?} / {karmor:?}");
    }
    // karmor: suffix match finds /usr/bin/chmod for `/bin/chmod`; ours resolves /bin -> usr/bin.
    assert!(karmor.contains(&"access-ctrl-permission-mod".to_string()));
    assert!(ours.contains(&"access-ctrl-permission-mod".to_string()));
    // `/etc/selinux/` is dead in karmor (only a regular file named selinux would match); our
    // translation `dir("/etc/selinux")` matches.
    assert!(!karmor.contains(&"system-mandatory-access-ctrl-mod".to_string()));
    assert!(ours.contains(&"system-mandatory-access-ctrl-mod".to_string()));
    // OPTSCAN templates are generic in both.
    assert!(ours.contains(&"pkg-mngr-exec".to_string()) && karmor.contains(&"pkg-mngr-exec".to_string()));
    // The report lists the templates whose result differs.
    let diffs: Vec<&str> = report.images[0].legacy_differences.iter().map(|d| d.template.as_str()).collect();
    assert!(diffs.contains(&"system-mandatory-access-ctrl-mod"), "{diffs:?}");
    let mut a = ours.clone();
    a.sort();
    let mut b = karmor.clone();
    b.sort();
    let symmetric: Vec<&String> =
        a.iter().filter(|x| !b.contains(x)).chain(b.iter().filter(|x| !a.contains(x))).collect();
    let mut listed: Vec<&str> = diffs.clone();
    listed.sort();
    let mut sym: Vec<&str> = symmetric.iter().map(|s| s.as_str()).collect();
    sym.sort();
    assert_eq!(listed, sym, "difference list equals the actual difference");

    // A policy keeps the legacy spec's sections, gets our selector and namespace, and the
    // lower-case `audit` of the elastic template is normalised.
    let text = std::fs::read_to_string(tmp.path().join("ours/db-mysql-8/user-grp-mod.yaml")).unwrap();
    assert!(
        text.contains("  selector:\n    matchLabels:\n      app: mysql\n")
            && text.contains("metadata:\n  name: mysql-8-user-grp-mod\n  namespace: db\n"),
        "{text}"
    );
}

#[test]
fn update_failure_keeps_the_previous_cache() {
    let Some(corpus) = corpus() else {
        common::skip_or_fail("../shared/corpus/policy-templates-v0.2.6 not found");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (repo, commit) = repository(tmp.path(), &corpus);
    let root = tmp.path().join("cache");
    let url = format!("file://{}", repo.display());
    cache::update(&root, Some(&url), None).unwrap();
    // A broken revision of the library: validation fails, nothing changes.
    let bad = git2::Repository::open(&repo).unwrap();
    std::fs::write(repo.join("generic/system/metadata.yaml"), "policyRules:\n  - name: x\n    yaml: missing.yaml\n")
        .unwrap();
    let mut idx = bad.index().unwrap();
    idx.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    idx.write().unwrap();
    let tree = bad.find_tree(idx.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("test", "test@example.invalid").unwrap();
    let parent = bad.head().unwrap().peel_to_commit().unwrap();
    bad.commit(Some("HEAD"), &sig, &sig, "break", &tree, &[&parent]).unwrap();
    let err = cache::update(&root, None, None).unwrap_err();
    assert!(err.to_string().contains("missing.yaml"), "{err}");
    assert_eq!(cache::load(&root).unwrap().source.commit.as_deref(), Some(commit.as_str()));
    assert!(cache::update(&root, None, Some("no-such-ref")).unwrap_err().to_string().contains("no-such-ref"));
}

#[test]
fn allow_generic_writes_only_generic_templates_for_unreadable_images() {
    let Some(corpus) = corpus() else {
        common::skip_or_fail("../shared/corpus/policy-templates-v0.2.6 not found");
        return;
    };
    let lib = armorc_recommend::templates::from_dir(&corpus).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run_with = |allow: bool, out: &Path| {
        let opts = Options {
            out_dir: out.to_path_buf(),
            report: out.join("r.json"),
            format: Format::Json,
            tags: vec![],
            namespace: None,
            labels: BTreeMap::new(),
            node_labels: None,
            action: Some("Audit".into()),
            explain: false,
            legacy_karmor: false,
            allow_generic: allow,
            progress: false,
            with_tests: false,
        };
        let loader = |s: &str, _| -> Result<Loaded, ImageLoadError> {
            Err(ImageLoadError::Registry(RegistryError::Request {
                host: s.into(),
                what: "manifest".into(),
                reason: "registry unreachable".into(),
            }))
        };
        run::run(&[Job { image: "private/app:1".into(), workload: None }], &lib, &opts, &loader).unwrap()
    };
    let (report, code) = run_with(false, &tmp.path().join("strict"));
    assert_eq!(code, ImagesRead::SomeFailed);
    assert!(report.images[0].policies.is_empty());
    assert!(!tmp.path().join("strict/private-app-1").exists());
    let (report, code) = run_with(true, &tmp.path().join("generic"));
    assert_eq!(code, ImagesRead::SomeFailed, "still a failed image");
    let written: Vec<&str> = report.images[0].policies.iter().map(|p| p.template.as_str()).collect();
    assert!(written.contains(&"pkg-mngr-exec") && !written.contains(&"user-grp-mod"), "{written:?}");
    assert!(report.images[0].policies.iter().all(|p| p.action == "Audit"), "--action Audit applies");
    assert!(tmp.path().join("generic/private-app-1/pkg-mngr-exec.yaml").is_file());
}
