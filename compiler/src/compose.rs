//! Composition: which policies apply to which container (or the host), with what posture.
//! Shared by both lowerings; see docs/semantics.md for the selection rules.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostureAction {
    Audit,
    Block,
}

/// Default posture per allowlisted category (process allowlists use the file posture; DNS the
/// network posture, as KubeArmor does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Posture {
    pub file: PostureAction,
    pub network: PostureAction,
    pub capabilities: PostureAction,
}

impl Default for Posture {
    /// KubeArmor's code default is audit for every category.
    fn default() -> Self {
        Posture { file: PostureAction::Audit, network: PostureAction::Audit, capabilities: PostureAction::Audit }
    }
}

/// The pod's `kubearmor-policy` annotation (missing = enabled, as the annotation controller sets it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "reason")]
pub enum Enforcement {
    Enabled,
    /// Alerts only: no denials are lowered.
    Audited,
    /// Empty target, with the reason.
    Disabled(String),
}

/// One enforcement target: a container of a workload, or the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    pub namespace: Option<String>,
    /// Workload name (Deployment, Pod, ...) and its kind.
    pub workload: Option<String>,
    pub workload_kind: Option<String>,
    pub container: Option<String>,
    pub host: bool,
    pub enforcement: Enforcement,
    pub posture: Posture,
    /// Indexes into the composed policy list, in the order rules are applied.
    pub policies: Vec<usize>,
}

impl Target {
    /// `(namespace, workload, container)` with the defaults every artifact name uses.
    fn parts(&self) -> (&str, &str, &str) {
        (
            self.namespace.as_deref().unwrap_or("default"),
            self.workload.as_deref().unwrap_or("-"),
            self.container.as_deref().unwrap_or("-"),
        )
    }

    /// `<namespace>/<workload>/<container>` or `host`: the name in index.json, images and plans.
    pub fn name(&self) -> String {
        let (ns, workload, container) = self.parts();
        target_name(self.host, Some(ns), Some(workload), Some(container))
    }

    /// `kubearmor-<namespace>-<workload>-<container>`, or `kubearmor.host`.
    pub fn apparmor_profile_name(&self) -> String {
        if self.host {
            return "kubearmor.host".to_string();
        }
        let (ns, workload, container) = self.parts();
        format!("kubearmor-{ns}-{workload}-{container}")
    }

    /// `PREFIX/<namespace>/<workload>/<container>.EXT` or `PREFIX/host.EXT`: a target's artifact file.
    pub fn artifact_path(&self, prefix: &str, ext: &str) -> String {
        format!("{prefix}/{}.{ext}", self.name())
    }
}

/// A target's name from its parts, as index.json stores them: `<namespace>/<workload>/<container>`
/// or `host`. Shared by `Target::name` and every reader of index.json (`armorc explain`, the
/// loader's `--target`), so a name reads the same everywhere; a part missing from a hand-written
/// index reads `-`.
pub fn target_name(host: bool, namespace: Option<&str>, workload: Option<&str>, container: Option<&str>) -> String {
    if host {
        return "host".to_string();
    }
    [namespace, workload, container].map(|part| part.unwrap_or("-")).join("/")
}

// ---------------------------------------------------------------------------------------------
// compose(): policy selection (reference §1.4), posture (§2.3), enforcement gates (§2.10).

use crate::codes::Code;
use crate::diag::Severity;
use crate::ir::{self, Action, Expression, ExpressionKey, Operator, Selector};
use crate::workload::Workloads;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Namespaces KubeArmor does not enforce (`untrackedNs` default).
pub const UNTRACKED_NAMESPACES: [&str; 2] = ["kube-system", "kubearmor"];

#[derive(Clone, Debug, Default)]
pub struct ComposeOptions {
    /// `--default-posture`: containers and, unless `host_posture` is set, the host.
    pub posture: Posture,
    /// `--host-default-posture`.
    pub host_posture: Option<Posture>,
    /// `--node-labels`; a host target exists if and only if this is given.
    pub node_labels: Option<BTreeMap<String, String>>,
}

/// A composition finding (rendered by `compile` as `file:line:col: severity[CODE]: message`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// The rule or policy it is about.
    pub origin: Option<ir::Origin>,
    /// Other places involved (the other rule of a conflict), with a label.
    pub related: Vec<(ir::Origin, String)>,
}

#[derive(Clone, Debug, Default)]
pub struct Composition {
    /// Containers sorted by namespace, workload, container; the host (if any) last.
    pub targets: Vec<Target>,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

/// A `--default-posture` value `parse_posture` refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostureError {
    /// The action (lowercased, trimmed) is neither `block` nor `audit`.
    #[error("posture {0:?} is neither block nor audit")]
    UnknownAction(String),
    #[error("expected category=block|audit, found {0:?}")]
    NotCategoryAction(String),
    #[error("unknown posture category {0:?} (file, network, capabilities)")]
    UnknownCategory(String),
}

/// A `--node-labels` value `parse_labels` refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelsError {
    #[error("expected key=value, found {0:?}")]
    NotKeyValue(String),
    #[error("empty label key in {0:?}")]
    EmptyKey(String),
}

/// Parses `block`, `audit`, or `file=..,network=..,capabilities=..` (unnamed categories keep `base`).
pub fn parse_posture(text: &str, base: Posture) -> Result<Posture, PostureError> {
    let action = |v: &str| match v.trim().to_ascii_lowercase().as_str() {
        "block" => Ok(PostureAction::Block),
        "audit" => Ok(PostureAction::Audit),
        other => Err(PostureError::UnknownAction(other.to_string())),
    };
    if !text.contains('=') {
        let a = action(text)?;
        return Ok(Posture { file: a, network: a, capabilities: a });
    }
    let mut p = base;
    for part in text.split(',').filter(|s| !s.trim().is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| PostureError::NotCategoryAction(part.to_string()))?;
        let a = action(v)?;
        match k.trim() {
            "file" => p.file = a,
            "network" => p.network = a,
            "capabilities" => p.capabilities = a,
            other => return Err(PostureError::UnknownCategory(other.to_string())),
        }
    }
    Ok(p)
}

/// Parses `--node-labels k=v,k2=v2`.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, LabelsError> {
    let mut out = BTreeMap::new();
    for part in text.split(',').filter(|s| !s.trim().is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| LabelsError::NotKeyValue(part.to_string()))?;
        if k.trim().is_empty() {
            return Err(LabelsError::EmptyKey(part.to_string()));
        }
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// Resolves which policies apply to which container (and the host), with posture and enforcement.
pub fn compose(policies: &[ir::Policy], workloads: &Workloads, options: &ComposeOptions) -> Composition {
    let mut out = Composition::default();
    let mut selected = vec![false; policies.len()];

    // Candidates per namespace (namespaced policies of that namespace, plus every cluster
    // policy), in input order, so each container tests only policies that can apply.
    let mut by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut cluster: Vec<usize> = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        match p.selector {
            Selector::Namespaced { .. } => {
                by_namespace.entry(p.namespace.as_deref().unwrap_or("default")).or_default().push(i)
            }
            Selector::Cluster { .. } => cluster.push(i),
            Selector::Host { .. } => {}
        }
    }
    let mut candidates_of: HashMap<&str, Vec<usize>> = HashMap::new();

    let mut containers: Vec<Target> = Vec::new();
    for w in &workloads.workloads {
        let namespace = w.namespace_or_default();
        let candidates = candidates_of.entry(namespace).or_insert_with(|| {
            let mut c: Vec<usize> = by_namespace.get(namespace).cloned().unwrap_or_default();
            c.extend(&cluster);
            c.sort_unstable();
            c
        });
        let ns_annotations = workloads.namespaces.get(namespace).map(|n| &n.annotations);
        let posture = namespace_posture(namespace, ns_annotations, options.posture, &mut out.notes);
        let enforcement = enforcement(namespace, w.annotations.get("kubearmor-policy"));
        for c in &w.containers {
            let mut target = Target {
                namespace: Some(namespace.to_string()),
                workload: Some(w.name.clone()),
                workload_kind: Some(w.kind.clone()),
                container: Some(c.name.clone()),
                host: false,
                enforcement: enforcement.clone(),
                posture,
                policies: Vec::new(),
            };
            for &i in candidates.iter() {
                let p = &policies[i];
                if selects_container(p, namespace, &w.labels, &c.name) {
                    selected[i] = true;
                    target.policies.push(i);
                }
            }
            containers.push(target);
        }
    }
    containers
        .sort_by(|a, b| (&a.namespace, &a.workload, &a.container).cmp(&(&b.namespace, &b.workload, &b.container)));
    out.targets = containers;

    if let Some(node_labels) = &options.node_labels {
        let mut host = Target {
            namespace: None,
            workload: None,
            workload_kind: None,
            container: None,
            host: true,
            enforcement: Enforcement::Enabled,
            posture: options.host_posture.unwrap_or(options.posture),
            policies: Vec::new(),
        };
        for (i, p) in policies.iter().enumerate() {
            if let Selector::Host { node_labels: wanted } = &p.selector {
                if host_matches(wanted, node_labels) {
                    selected[i] = true;
                    host.policies.push(i);
                }
            }
        }
        out.targets.push(host);
    }

    for (i, p) in policies.iter().enumerate() {
        if !selected[i] {
            let why = match (&p.selector, &options.node_labels) {
                (Selector::Host { .. }, None) => "no --node-labels given, so there is no host target".to_string(),
                (Selector::Host { .. }, Some(_)) => "its nodeSelector does not match --node-labels".to_string(),
                _ => format!("no container of the {} workloads read matches its selector", workloads.workloads.len()),
            };
            out.findings.push(Finding {
                code: Code::C001,
                severity: Severity::Warning,
                message: format!("policy {} selects no container: {why}", p.id()),
                origin: Some(p.origin.clone()),
                related: Vec::new(),
            });
        }
    }
    out.findings.extend(cross_backend_conflicts(policies, &out.targets));
    out
}

fn enforcement(namespace: &str, annotation: Option<&String>) -> Enforcement {
    if UNTRACKED_NAMESPACES.contains(&namespace) {
        return Enforcement::Disabled(format!("namespace {namespace} is not tracked by KubeArmor (untrackedNs)"));
    }
    match annotation.map(|s| s.as_str()) {
        None | Some("enabled") => Enforcement::Enabled,
        Some("audited") => Enforcement::Audited,
        Some(other) => Enforcement::Disabled(format!("pod annotation kubearmor-policy: {other}")),
    }
}

/// The namespace's posture annotations override the global posture; invalid values fall back to
/// the global value (KubeArmor rewrites them), with a note.
fn namespace_posture(
    ns: &str,
    annotations: Option<&BTreeMap<String, String>>,
    global: Posture,
    notes: &mut Vec<String>,
) -> Posture {
    let mut p = global;
    let Some(a) = annotations else { return p };
    let slots: [(&str, &mut PostureAction, PostureAction); 3] = [
        ("kubearmor-file-posture", &mut p.file, global.file),
        ("kubearmor-network-posture", &mut p.network, global.network),
        ("kubearmor-capabilities-posture", &mut p.capabilities, global.capabilities),
    ];
    for (key, slot, fallback) in slots {
        if let Some(v) = a.get(key) {
            *slot = match v.to_ascii_lowercase().as_str() {
                "block" => PostureAction::Block,
                "audit" => PostureAction::Audit,
                _ => {
                    let note = format!("namespace {ns}: {key}: {v:?} is neither block nor audit; using the default");
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    fallback
                }
            };
        }
    }
    p
}

/// Does a container/namespace policy select this container? (KubeArmorPolicy, KubeArmorClusterPolicy)
pub fn selects_container(p: &ir::Policy, namespace: &str, labels: &BTreeMap<String, String>, container: &str) -> bool {
    match &p.selector {
        Selector::Namespaced { match_labels, expressions, containers } => {
            p.namespace.as_deref().unwrap_or("default") == namespace
                && match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
                && (containers.is_empty() || containers.iter().any(|c| c == container))
                && label_expressions_match(expressions, labels)
        }
        Selector::Cluster { expressions } => {
            namespace_expressions_match(expressions, namespace) && label_expressions_match(expressions, labels)
        }
        Selector::Host { .. } => false,
    }
}

/// `MatchExpIdentities` with KubeArmor's order quirk: a NotIn after an In is ignored, and when
/// NotIn values exist they decide alone.
fn label_expressions_match(expressions: &[Expression], labels: &BTreeMap<String, String>) -> bool {
    let (ins, not_ins) = split_in_not_in(expressions, ExpressionKey::Label);
    if ins.is_empty() && not_ins.is_empty() {
        return true;
    }
    let present = |kv: &str| kv.split_once('=').is_some_and(|(k, v)| labels.get(k).is_some_and(|x| x == v));
    if !not_ins.is_empty() {
        return !not_ins.iter().any(|v| present(v));
    }
    ins.iter().any(|v| present(v))
}

/// Cluster policy namespaces: the In list (or every namespace), minus NotIn values given before any In.
fn namespace_expressions_match(expressions: &[Expression], namespace: &str) -> bool {
    let (ins, not_ins) = split_in_not_in(expressions, ExpressionKey::Namespace);
    (ins.is_empty() || ins.contains(&namespace)) && !not_ins.contains(&namespace)
}

fn split_in_not_in(expressions: &[Expression], key: ExpressionKey) -> (Vec<&str>, Vec<&str>) {
    let (mut ins, mut not_ins) = (Vec::new(), Vec::new());
    let mut seen_in = false;
    for e in expressions.iter().filter(|e| e.key == key) {
        match e.operator {
            Operator::In => {
                seen_in = true;
                ins.extend(e.values.iter().map(String::as_str));
            }
            Operator::NotIn if !seen_in => not_ins.extend(e.values.iter().map(String::as_str)),
            Operator::NotIn => {}
        }
    }
    (ins, not_ins)
}

/// Host policy nodeSelector against `--node-labels`: every pair must be present; an empty selector
/// never matches. `kubearmor.io/hostname` / `kubernetes.io/hostname` accept `*` (any value) and
/// comma lists; the `...hostnamereg` forms take a pattern where `*` matches any run of characters,
/// found anywhere in the value (KubeArmor compiles it as an unanchored regex).
pub fn host_matches(wanted: &BTreeMap<String, String>, node: &BTreeMap<String, String>) -> bool {
    if wanted.is_empty() {
        return false;
    }
    wanted.iter().all(|(k, v)| {
        let hostname = k == "kubearmor.io/hostname" || k == "kubernetes.io/hostname";
        if hostname {
            let Some(actual) = node.get(k) else { return false };
            return v == "*" || v.split(',').any(|x| x.trim() == actual);
        }
        if let Some(base) = k.strip_suffix("hostnamereg") {
            let Some(actual) = node.get(&format!("{base}hostname")) else { return false };
            return unanchored_glob(v, actual);
        }
        node.get(k) == Some(v)
    })
}

fn unanchored_glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for part in parts {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Which category a directory or path rule governs (process and file are different hooks).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Category {
    Process,
    File,
}

/// A Block path or directory (`recursive` is `None` for a path).
struct BlockDir<'a> {
    category: Category,
    source: Option<&'a str>,
    dir: &'a str,
    recursive: Option<bool>,
    rule: &'a ir::Rule,
}

struct AllowPath<'a> {
    category: Category,
    source: Option<&'a str>,
    /// A path, or a directory (ends in `/`).
    path: &'a str,
    rule: &'a ir::Rule,
}

/// Issue 4 item 6 / brief: an Allow in one policy lying under a Block directory of another policy
/// that applies to the same target. BPF-LSM decides by exact path first (allows); AppArmor's deny
/// always wins (denies). One finding per rule pair, naming both rules and the number of targets.
fn cross_backend_conflicts(policies: &[ir::Policy], targets: &[Target]) -> Vec<Finding> {
    let mut blocks: Vec<Vec<BlockDir>> = Vec::with_capacity(policies.len());
    let mut allows: Vec<Vec<AllowPath>> = Vec::with_capacity(policies.len());
    for p in policies {
        let (mut b, mut a) = (Vec::new(), Vec::new());
        for r in &p.rules {
            let source = r.source.as_deref().filter(|s| !s.is_empty());
            use ir::RuleTarget as T;
            let (category, path, dir) = match &r.target {
                T::ProcessPath { path, .. } => (Category::Process, path.as_str(), None),
                T::ProcessDir { dir, recursive, .. } => (Category::Process, dir.as_str(), Some(*recursive)),
                T::FilePath { path, .. } => (Category::File, path.as_str(), None),
                T::FileDir { dir, recursive, .. } => (Category::File, dir.as_str(), Some(*recursive)),
                _ => continue,
            };
            match (r.action, dir) {
                (Action::Block, recursive) => b.push(BlockDir { category, source, dir: path, recursive, rule: r }),
                (Action::Allow, _) => a.push(AllowPath { category, source, path, rule: r }),
                _ => {}
            }
        }
        blocks.push(b);
        allows.push(a);
    }

    let mut pair_targets: HashMap<(usize, usize), usize> = HashMap::new();
    for t in targets.iter().filter(|t| t.enforcement == Enforcement::Enabled) {
        for &pb in &t.policies {
            if blocks[pb].is_empty() {
                continue;
            }
            for &pa in &t.policies {
                if pa != pb && !allows[pa].is_empty() {
                    *pair_targets.entry((pb, pa)).or_default() += 1;
                }
            }
        }
    }
    let mut pairs: Vec<_> = pair_targets.into_iter().collect();
    pairs.sort();
    let mut findings = Vec::new();
    let mut seen: HashSet<(usize, usize, *const ir::Rule, *const ir::Rule)> = HashSet::new();
    for ((pb, pa), count) in pairs {
        for b in &blocks[pb] {
            for a in &allows[pa] {
                if a.category != b.category || a.source != b.source {
                    continue;
                }
                // Under a Block directory: BPF looks the exact path (or deeper directory) up first.
                // The same key with the Allow written later: BPF keeps the last writer.
                let below = b.recursive.is_some_and(|recursive| under(a.path, b.dir, recursive));
                let overwritten = a.path == b.dir && pa > pb;
                if !below && !overwritten {
                    continue;
                }
                if !seen.insert((pb, pa, b.rule as *const _, a.rule as *const _)) {
                    continue;
                }
                let what = if a.category == Category::Process { "process" } else { "file" };
                let (relation, bpf) = if below {
                    (format!("lies under Block directory {}", b.dir), "exact path first")
                } else {
                    (
                        format!(
                            "comes after a Block of the same {}",
                            if b.recursive.is_some() { "directory" } else { "path" }
                        ),
                        "last writer wins",
                    )
                };
                findings.push(Finding {
                    code: Code::C003,
                    severity: Severity::Warning,
                    message: format!(
                        "{what} Allow {} ({} {}) {relation} ({} {}) in {count} target(s): \
                         BPF-LSM allows it ({bpf}), AppArmor denies it (deny always wins)",
                        a.path,
                        policies[pa].id(),
                        a.rule.origin.at,
                        policies[pb].id(),
                        b.rule.origin.at
                    ),
                    origin: Some(a.rule.origin.clone()),
                    related: vec![(b.rule.origin.clone(), format!("Block {} of {}", b.dir, policies[pb].id()))],
                });
            }
        }
    }
    findings
}

/// Is `path` (a path or a `dir/`) covered by directory `dir` (ends in `/`) without being `dir` itself?
fn under(path: &str, dir: &str, recursive: bool) -> bool {
    let Some(rest) = path.strip_prefix(dir) else { return false };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    !rest.is_empty() && (recursive || !rest.contains('/'))
}

#[cfg(test)]
mod tests;
