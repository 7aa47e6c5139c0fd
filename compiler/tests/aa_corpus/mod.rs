//! The corpus run shared by the corpus test and the benchmark example: every lint-clean policy of
//! /work/shared/corpus/policy-templates, composed against workloads generated from its selector
//! (matchLabels, the first In value of each expression, the container.name items) and, for host
//! policies, against node labels built from their nodeSelector; then lowered to AppArmor.
// Included by several test and example binaries, each using a subset of these items.
#![allow(dead_code)]

use armorc_compiler::compose::{self, ComposeOptions, Posture, PostureAction, Target};
use armorc_compiler::ir::{self, ExpressionKey, Operator, Selector};
use armorc_compiler::lower::apparmor::{self, Profile};
use armorc_compiler::source::SourceFile;
use armorc_compiler::workload::{Container, Location, Workload, Workloads};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/policy-templates")
}

pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// One corpus file's result.
pub struct FileRun {
    pub file: PathBuf,
    pub policies: usize,
    pub profiles: Vec<Profile>,
    /// Each lowered target with the policies applied to it, in order.
    pub targets: Vec<(Target, Vec<ir::Policy>)>,
}

/// A workload whose pod the policy's selector picks.
fn workload_for(p: &ir::Policy, i: usize) -> Option<Workload> {
    let mut labels = BTreeMap::new();
    let first_in = |key: ExpressionKey, expressions: &[ir::Expression]| -> Vec<String> {
        expressions
            .iter()
            .filter(|e| e.key == key && e.operator == Operator::In)
            .filter_map(|e| e.values.first().cloned())
            .collect()
    };
    let (namespace, containers) = match &p.selector {
        Selector::Namespaced { match_labels, expressions, containers } => {
            labels.extend(match_labels.clone());
            for kv in first_in(ExpressionKey::Label, expressions) {
                if let Some((k, v)) = kv.split_once('=') {
                    labels.insert(k.to_string(), v.to_string());
                }
            }
            (p.namespace.clone().unwrap_or_else(|| "default".into()), containers.clone())
        }
        Selector::Cluster { expressions } => {
            for kv in first_in(ExpressionKey::Label, expressions) {
                if let Some((k, v)) = kv.split_once('=') {
                    labels.insert(k.to_string(), v.to_string());
                }
            }
            let ns =
                first_in(ExpressionKey::Namespace, expressions).into_iter().next().unwrap_or_else(|| "default".into());
            (ns, vec![])
        }
        Selector::Host { .. } => return None,
    };
    let containers = if containers.is_empty() { vec!["app".to_string()] } else { containers };
    let location = Location { file: "generated".into(), line: 1, column: 1 };
    Some(Workload {
        kind: "Deployment".into(),
        name: format!("w{i}"),
        namespace: Some(namespace),
        selector: labels.clone(),
        labels,
        annotations: BTreeMap::new(),
        containers: containers
            .into_iter()
            .map(|name| Container {
                name,
                image: None,
                image_location: None,
                mounts: Vec::new(),
                command: None,
                location: location.clone(),
            })
            .collect(),
        init_containers: vec![],
        location,
    })
}

/// Lower every target of one corpus file (posture block, so allowlists drop header lines).
pub fn run_file(path: &Path) -> FileRun {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let name = path.strip_prefix(corpus_dir()).unwrap_or(path).display().to_string();
    let checked = armorc_compiler::check_source(SourceFile::new(name, text));
    let policies = checked.policies;
    let mut workloads = Workloads::default();
    let mut node_labels: Option<BTreeMap<String, String>> = None;
    for (i, p) in policies.iter().enumerate() {
        if let Selector::Host { node_labels: wanted } = &p.selector {
            node_labels.get_or_insert_with(BTreeMap::new).extend(wanted.clone());
        } else if let Some(w) = workload_for(p, i) {
            workloads.workloads.push(w);
        }
    }
    let block = PostureAction::Block;
    let options = ComposeOptions {
        posture: Posture { file: block, network: block, capabilities: block },
        host_posture: None,
        node_labels,
    };
    let composition = compose::compose(&policies, &workloads, &options);
    let targets: Vec<(Target, Vec<ir::Policy>)> = composition
        .targets
        .into_iter()
        .filter(|t| !t.policies.is_empty())
        .map(|t| {
            let applied = t.policies.iter().map(|&i| policies[i].clone()).collect();
            (t, applied)
        })
        .collect();
    let profiles =
        targets.iter().map(|(t, applied)| apparmor::lower_target(t, &applied.iter().collect::<Vec<_>>())).collect();
    FileRun { file: path.to_path_buf(), policies: policies.len(), profiles, targets }
}
