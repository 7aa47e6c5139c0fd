//! `--legacy-karmor` decides as karmor does (issue 13), over crafted multi-layer images: karmor's
//! file list is every regular file of every layer (a rewritten file twice, a file later replaced
//! by a symlink or whited out still there), Go's regexp rejects stacked quantifiers (karmor
//! crashes), an identical duplicate rule does not disable a template, and `--explain` shows what
//! each karmor precondition matched. The default mode keeps our squashed view.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod layout_support;

use armorc_recommend::report::{Format, RecommendReport};
use armorc_recommend::run::{self, ImagesRead, Job, Loaded, Options};
use armorc_recommend::{load_image, templates, ImageLoadError, LoadOptions};
use layout_support::{layer, layout};
use std::collections::BTreeMap;
use std::path::Path;

/// A policy-templates style library: (rule name, preconditions, policy `spec` body lines).
fn library(dir: &Path, rules: &[(&str, &[&str], &str)]) {
    let mut meta = String::from("version: v0.2.3\npolicyRules:\n");
    for (name, pre, spec) in rules {
        meta.push_str(&format!(
            "- name: {name}\n  precondition: {pre:?}\n  description:\n    tldr: {name}\n    detailed: {name}\n    refs: []\n  yaml: {name}.yaml\n"
        ));
        std::fs::write(
            dir.join(format!("{name}.yaml")),
            format!("apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels:\n      app: x\n  severity: 5\n  tags: [T]\n  action: Block\n{spec}"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("metadata.yaml"), meta).unwrap();
}

const EXEC: &str = "  process:\n    matchPaths:\n      - path: /usr/bin/tool\n";

fn run_mode(spec: &str, lib: &templates::Library, out: &Path, legacy: bool) -> RecommendReport {
    let opts = Options {
        out_dir: out.to_path_buf(),
        report: out.join("report.json"),
        format: Format::Json,
        tags: vec![],
        namespace: None,
        labels: BTreeMap::from([("app".to_string(), "x".to_string())]),
        node_labels: None,
        action: None,
        explain: true,
        legacy_karmor: legacy,
        allow_generic: false,
        progress: false,
        with_tests: false,
    };
    let loader = |spec: &str, _| -> Result<Loaded, ImageLoadError> {
        let l = load_image(spec, &LoadOptions::default())?;
        Ok(Loaded { reference: l.reference, digest: l.digest, platform: l.platform, index: l.index, os_release: None })
    };
    let (report, code) = run::run(&[Job { image: spec.into(), workload: None }], lib, &opts, &loader).unwrap();
    assert_eq!(code, ImagesRead::All, "{:?}", report.images[0].error);
    report
}

fn recommended(r: &RecommendReport) -> Vec<&str> {
    r.images[0].policies.iter().map(|p| p.template.as_str()).collect()
}

#[test]
fn legacy_mode_sees_every_layer_as_karmor_and_default_mode_the_squashed_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let lib_dir = tmp.path().join("lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    let dup = "  file:\n    matchPaths:\n      - path: /etc/shadow-\n        readOnly: true\n      - path: /etc/shadow-\n        readOnly: true\n";
    library(
        &lib_dir,
        &[
            ("rewritten", &["/usr/bin/tool", "/usr/bin/absent"], EXEC),
            ("replaced-by-link", &["/usr/bin/gone"], EXEC),
            ("whited-out", &["/usr/bin/deleted"], EXEC),
            ("stacked", &["/usr/bin/a**"], EXEC),
            ("dup-rule", &["/etc/sudoers"], dup),
        ],
    );
    let lib = templates::from_dir(&lib_dir).unwrap();
    let dup_t = lib.templates.iter().find(|t| t.name == "dup-rule").unwrap();
    assert_eq!(dup_t.invalid, None, "an identical duplicate rule must not disable the template");
    assert!(lib.notes.iter().any(|n| n.contains("dup-rule") && n.contains("1 identical duplicate")), "{:?}", lib.notes);

    let spec = layout(
        &tmp.path().join("img"),
        &[
            layer(&[("usr/bin/tool", "f"), ("usr/bin/gone", "f"), ("usr/bin/deleted", "f"), ("etc/sudoers", "f")]),
            layer(&[("usr/bin/tool", "f"), ("usr/bin/gone", "l:/nowhere"), ("usr/bin/.wh.deleted", "f")]),
        ],
        |_| {},
    );

    let ours = run_mode(&spec, &lib, &tmp.path().join("ours"), false);
    assert_eq!(recommended(&ours), ["dup-rule"]);
    let legacy = run_mode(&spec, &lib, &tmp.path().join("legacy"), true);
    assert_eq!(recommended(&legacy), ["dup-rule", "replaced-by-link", "rewritten", "whited-out"]);

    // The duplicate is written once, and the policy passed the compiler proof.
    let text = std::fs::read_to_string(tmp.path().join("legacy/img-v1/dup-rule.yaml")).unwrap();
    assert_eq!(text.matches("/etc/shadow-").count(), 1, "{text}");

    // karmor would crash on `a**` (Go: invalid nested repetition operator): skipped and said so.
    let image = &legacy.images[0];
    let stacked = image.skipped.iter().find(|s| s.template == "stacked").unwrap();
    assert!(stacked.reason.contains("invalid nested repetition operator: `**`"), "{}", stacked.reason);
    assert!(image.notes.iter().any(|n| n.contains("stacked") && n.contains("karmor would crash")), "{:?}", image.notes);

    // --explain shows what each karmor precondition matched, a rewritten file once per layer.
    let rewritten = image.policies.iter().find(|p| p.template == "rewritten").unwrap();
    let ev: Vec<(&str, Vec<&str>)> = rewritten
        .evidence
        .iter()
        .map(|e| (e.precondition.as_str(), e.matched.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        ev,
        [
            (r#"karmor("/usr/bin/tool")"#, vec!["/usr/bin/tool", "/usr/bin/tool"]),
            (r#"karmor("/usr/bin/absent")"#, vec![])
        ]
    );
    let gone = image.policies.iter().find(|p| p.template == "replaced-by-link").unwrap();
    assert_eq!(gone.evidence[0].matched, ["/usr/bin/gone"]);
}
