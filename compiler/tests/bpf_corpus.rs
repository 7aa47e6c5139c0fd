//! Composition and BPF lowering over the corpus (../shared/corpus/policy-templates): every
//! lint-clean policy is composed against a workload generated from its own selector and lowered;
//! the image must select the policy, round-trip through the file format, be identical when built
//! twice, and fit the default capacity.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use armorc_compiler::compose::{self, ComposeOptions};
use armorc_compiler::image::MapImage;
use armorc_compiler::ir::{Operator, Policy, Selector};
use armorc_compiler::lower::bpf;
use armorc_compiler::source::SourceFile;
use armorc_compiler::workload::Workloads;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/policy-templates");
    dir.is_dir().then_some(dir)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// A Deployment whose pod satisfies the policy's selector (matchLabels, the first In value of
/// each label expression, the first container name), in the policy's namespace.
fn workload_for(i: usize, p: &Policy) -> Option<String> {
    let (ns, labels, container) = match &p.selector {
        Selector::Namespaced { match_labels, expressions, containers } => {
            let mut labels: BTreeMap<String, String> = match_labels.clone();
            for e in expressions.iter().filter(|e| e.operator == Operator::In) {
                if let Some((k, v)) = e.values.first().and_then(|v| v.split_once('=')) {
                    labels.insert(k.to_string(), v.to_string());
                }
            }
            let ns = p.namespace.clone().unwrap_or_else(|| "default".into());
            (ns, labels, containers.first().cloned().unwrap_or_else(|| "main".into()))
        }
        _ => return None,
    };
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{:?}: {:?}", k, v)).collect();
    Some(format!(
        "kind: Deployment\nmetadata: {{name: w{i}, namespace: {ns:?}}}\nspec:\n  template:\n    metadata:\n      labels: {{{}}}\n    spec:\n      containers: [{{name: {container:?}}}]\n",
        labels.join(", ")
    ))
}

#[test]
fn corpus_policies_compose_and_lower() {
    let Some(dir) = corpus() else {
        common::skip_or_fail("../shared/corpus/policy-templates not found");
        return;
    };
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    let mut policies = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let checked = armorc_compiler::check_source(SourceFile::new(f.display().to_string(), text));
        let clean = !checked.diagnostics.iter().any(|d| d.severity == armorc_compiler::diag::Severity::Error);
        if clean {
            policies.extend(checked.policies);
        }
    }
    assert!(policies.len() > 300, "only {} lint-clean corpus policies", policies.len());

    let mut workloads = Workloads::default();
    let mut own: Vec<(usize, String)> = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        if let Some(text) = workload_for(i, p) {
            workloads.read(&SourceFile::new(format!("generated-{i}.yaml"), text)).unwrap();
            own.push((i, format!("w{i}")));
        }
    }
    let composition = compose::compose(&policies, &workloads, &ComposeOptions::default());
    let (mut images, mut entries, mut max) = (0, 0, 0);
    for (i, name) in &own {
        let target = composition.targets.iter().find(|t| t.workload.as_deref() == Some(name)).unwrap();
        let p = &policies[*i];
        let only_in = match &p.selector {
            Selector::Namespaced { expressions, .. } => expressions.iter().all(|e| e.operator == Operator::In),
            _ => true,
        };
        if only_in {
            assert!(target.policies.contains(i), "{} does not select its own workload", p.id());
        }
        let applied: Vec<&Policy> = target.policies.iter().map(|&k| &policies[k]).collect();
        let image = bpf::lower_target(target, &applied);
        let bytes = image.encode();
        assert_eq!(bpf::lower_target(target, &applied).encode(), bytes, "{}: not deterministic", p.id());
        let back = MapImage::decode(&bytes).unwrap();
        assert_eq!(back.encode(), bytes);
        assert!(image.entries.len() <= 4096, "{}: {} entries", p.id(), image.entries.len());
        for e in &image.entries {
            assert!(e.value.rule == u32::MAX || (e.value.rule as usize) < image.rules.len());
        }
        images += 1;
        entries += image.entries.len();
        max = max.max(image.entries.len());
    }
    eprintln!(
        "{} lint-clean corpus policies, {images} container images, {entries} entries (largest {max})",
        policies.len()
    );
}
