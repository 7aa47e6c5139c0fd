//! Every built-in template loads, renders and validates; each has an index that triggers it and
//! one that does not.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

use armorc_grammar::precondition::Expr;
use armorc_recommend::matching::{decide, witness, Decision, Mode, WitnessKind};
use armorc_recommend::templates;
use armorc_recommend::{EntryKind, FileIndex};

/// Add entries so that `e` holds.
fn satisfy(e: &Expr, index: &mut FileIndex) {
    for (path, kind) in witness(e) {
        let entry = match kind {
            WitnessKind::Dir => EntryKind::Dir { mode: 0o755 },
            WitnessKind::Executable => EntryKind::File { mode: 0o755, size: 10 },
            WitnessKind::File => EntryKind::File { mode: 0o644, size: 10 },
        };
        index.insert(&path, entry).unwrap();
    }
}

#[test]
fn builtin_library_loads_with_at_least_40_templates() {
    let lib = templates::builtin().unwrap_or_else(|e| panic!("{e}"));
    assert!(lib.templates.len() >= 40, "{}", lib.templates.len());
    for t in &lib.templates {
        assert!(!t.summary.is_empty() && !t.description.is_empty() && !t.references.is_empty(), "{}", t.name);
        assert!(!t.is_generic(), "{} must have a real precondition", t.name);
        assert_eq!(t.invalid, None, "{}", t.name);
    }
}

#[test]
fn each_template_has_a_triggering_and_a_non_triggering_index() {
    let lib = templates::builtin().unwrap();
    for t in &lib.templates {
        let mut yes = FileIndex::new();
        satisfy(&t.precondition, &mut yes);
        let files = armorc_recommend::matching::karmor_counts_for(&lib.templates, &yes);
        assert!(
            matches!(decide(t, &yes, &files, &[], Mode::Ours), Decision::Recommend(_)),
            "{} not triggered by {:?}",
            t.name,
            yes.paths().collect::<Vec<_>>()
        );
        let mut no = FileIndex::new();
        no.insert("/etc/hostname", EntryKind::File { mode: 0o644, size: 3 }).unwrap();
        assert!(
            matches!(decide(t, &no, &Default::default(), &[], Mode::Ours), Decision::Skip(_)),
            "{} triggered by an unrelated index",
            t.name
        );
    }
}

#[test]
fn bad_templates_are_reported_with_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bad-one");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("meta.yaml"),
        "name: bad-one\nsummary: s\ndescription: d\ntags: [X]\nseverity: 3\nprecondition: 'all(file(\"/a\"), bogus(\"/b\"))'\n",
    )
    .unwrap();
    std::fs::write(dir.join("policy.yaml.hbs"), "kind: KubeArmorPolicy\n").unwrap();
    let err = templates::from_dir(tmp.path()).unwrap_err().to_string();
    assert!(err.starts_with("bad-one/meta.yaml:6:32: precondition: expected"), "{err}");

    std::fs::write(
        dir.join("meta.yaml"),
        "name: bad-one\nsummary: s\ndescription: d\ntags: [X]\nseverity: 3\nprecondition: 'true'\nextra: 1\n",
    )
    .unwrap();
    let err = templates::from_dir(tmp.path()).unwrap_err().to_string();
    assert!(err.starts_with("bad-one/meta.yaml:7:"), "{err}");

    // A template whose rendering does not validate is disabled, not written.
    std::fs::write(
        dir.join("meta.yaml"),
        "name: bad-one\nsummary: s\ndescription: d\ntags: [X]\nseverity: 3\nprecondition: 'true'\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("policy.yaml.hbs"),
        "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {{yaml metadata}}\nspec:\n  selector: {{yaml selector}}\n  process:\n    matchPaths:\n      - path: relative/x\n  action: {{action \"Block\"}}\n",
    )
    .unwrap();
    // (next to a good template: a library with no usable template is an error)
    let good = tmp.path().join("apt-dpkg-exec");
    std::fs::create_dir_all(&good).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/apt-dpkg-exec");
    for f in ["meta.yaml", "policy.yaml.hbs"] {
        std::fs::copy(src.join(f), good.join(f)).unwrap();
    }
    let lib = templates::from_dir(tmp.path()).unwrap();
    let bad = lib.templates.iter().find(|t| t.name == "bad-one").unwrap();
    assert!(bad.invalid.as_ref().unwrap().to_string().contains("fails validation"), "{:?}", bad.invalid);
    assert!(lib.notes[0].contains("bad-one"), "{:?}", lib.notes);

    // Strict mode: an unknown variable is an error, not an empty string.
    std::fs::write(dir.join("policy.yaml.hbs"), "kind: KubeArmorPolicy\nmetadata: {{yaml nosuch}}\n").unwrap();
    let lib = templates::from_dir(tmp.path()).unwrap();
    let bad = lib.templates.iter().find(|t| t.name == "bad-one").unwrap();
    assert!(bad.invalid.as_ref().unwrap().to_string().contains("unknown variable `nosuch`"), "{:?}", bad.invalid);

    std::fs::remove_dir_all(&good).unwrap();
    let err = templates::from_dir(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("no usable template"), "{err}");
}

#[test]
fn tag_filter_is_case_insensitive_with_dash_and_underscore_alike() {
    let lib = templates::builtin().unwrap();
    let t = lib.templates.iter().find(|t| t.name == "apt-dpkg-exec").unwrap();
    let mut index = FileIndex::new();
    index.insert("/usr/bin/apt-get", EntryKind::File { mode: 0o755, size: 1 }).unwrap();
    let tags = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches!(decide(t, &index, &Default::default(), &tags(&["pci-dss"]), Mode::Ours), Decision::Recommend(_)));
    assert!(matches!(
        decide(t, &index, &Default::default(), &tags(&["nist_800_53_cm_7"]), Mode::Ours),
        Decision::Recommend(_)
    ));
    match decide(t, &index, &Default::default(), &tags(&["STIG", "Redis"]), Mode::Ours) {
        Decision::Skip(reason) => assert!(reason.contains("no tag"), "{reason}"),
        d => panic!("{d:?}"),
    }
}
