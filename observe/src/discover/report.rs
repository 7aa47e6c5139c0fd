//! The files `armorc discover` writes and its report (OUT/report.json), with coverage: the share
//! of a container's used telemetry events its policy allows, answered by our decision model
//! (`armorc_compiler::model`: the policy checked by the front-end as `armorc lint` checks it,
//! lowered to a BPF-LSM map image under default posture block, each distinct operation decided
//! as `armorc query` decides it). Network coverage matches each connection against the emitted
//! NetworkPolicy's rules (`NetworkPolicy::allows`).

use super::netpol::{self, Addresses, NetworkPolicy};
use super::policy::{self, Header, Rules};
use super::{Action, Collector, Counts, Op, Options, ResolvedBy, Window};
use crate::net::Direction;
use armorc_compiler::compose::{Enforcement, Posture, PostureAction, Target};
use armorc_compiler::model::{self, Model, Query};
use armorc_compiler::source::SourceFile;
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything to write: `(path under OUT, content)`, report.json last.
#[derive(Debug)]
pub struct Output {
    pub files: Vec<(String, String)>,
    pub report: Report,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub version: u32,
    pub command: String,
    pub window: Window,
    pub events: Counts,
    pub kubearmor_policies: Vec<PolicyReport>,
    pub network_policies: Vec<NetworkReport>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PolicyReport {
    pub namespace: String,
    pub workload: String,
    pub container: String,
    pub resolved_by: ResolvedBy,
    /// Path under OUT; none when no rule was left to emit.
    pub file: Option<String>,
    pub events: u64,
    pub events_used: u64,
    pub rules: RuleCounts,
    pub coverage: Coverage,
    /// Capabilities used that the CRD cannot name (numbers): not allowed.
    pub unnamed_capabilities: Vec<u32>,
}

#[derive(Debug, Default, Serialize)]
pub struct RuleCounts {
    pub process: usize,
    pub file_paths: usize,
    pub file_directories: usize,
    pub protocols: usize,
    pub capabilities: usize,
    /// Rows of what the kernel needs without a visible system call (exec'd binaries opened,
    /// executables of processes seen, ELF interpreters).
    pub implied: usize,
    pub dropped_by_min_count: usize,
}

#[derive(Debug, Serialize)]
pub struct Coverage {
    /// How the answer was found.
    pub method: &'static str,
    pub allowed: u64,
    pub denied: u64,
    /// allowed / (allowed + denied); 1 when nothing was used.
    pub share: f64,
}

#[derive(Debug, Serialize)]
pub struct NetworkReport {
    pub namespace: String,
    pub workload: String,
    pub file: String,
    pub pod_selector: BTreeMap<String, String>,
    pub egress_rules: usize,
    pub ingress_rules: usize,
    pub dns: bool,
    /// Addresses this workload is known by (binds, `armorc.io/ips`).
    pub addresses: Vec<String>,
    pub listening_without_peers: Vec<String>,
    pub dropped_by_min_count: usize,
    pub unusable_connections: u64,
    pub coverage: Coverage,
}

const MODEL_METHOD: &str = "armorc_compiler::model: BPF-LSM map image, posture block, as Allow";
const NETWORK_METHOD: &str = "connections matched against the emitted rules";

/// Build every policy, check and measure it, and the report.
pub fn finish(mut collector: Collector<'_>, options: &Options, command: &str) -> Result<Output, String> {
    collector.proven_ips();
    collector.resolve();
    let mut files = Vec::new();
    let mut kubearmor_policies = Vec::new();
    let mut notes: Vec<String> = std::mem::take(&mut collector.notes).into_iter().collect();
    let mut order: Vec<usize> = (0..collector.containers.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&collector.containers[a], &collector.containers[b]);
        (&x.namespace, &x.workload, &x.container).cmp(&(&y.namespace, &y.workload, &y.container))
    });
    for &i in &order {
        let c = &collector.containers[i];
        let w = &collector.workloads_seen[c.workload_index];
        let id = format!("{}/{}/{}", c.namespace, c.workload, c.container);
        let rules = policy::rules(c, options);
        let header = Header {
            command: command.to_string(),
            first: c.window.first.clone(),
            last: c.window.last.clone(),
            counts: vec![
                ("telemetry events of this container".into(), c.events),
                ("events used (succeeded, governed by a rule kind)".into(), c.used),
                ("rules emitted".into(), rules.count() as u64),
                ("rows dropped by --min-count".into(), rules.dropped as u64),
            ],
        };
        let (file, coverage) = if w.selector.is_empty() {
            notes.push(format!("{id}: no policy: its pods share no label to select them by"));
            (None, coverage_of(0, c.used))
        } else if rules.count() == 0 {
            notes.push(format!("{id}: no policy: no rule left (nothing used, or all below --min-count)"));
            (None, coverage_of(0, c.used))
        } else {
            let text = policy::render(c, w, &rules, options.action, &header);
            let path = format!("{}/{}-{}.kubearmorpolicy.yaml", c.namespace, c.workload, c.container);
            // Coverage asks what the rules allow when enforced, so it is measured on Allow.
            let allow = if options.action == Action::Allow {
                text.clone()
            } else {
                policy::render(c, w, &rules, Action::Allow, &header)
            };
            let coverage = model_coverage(c, &allow, &path)?;
            proven(&text, &path)?;
            files.push((path.clone(), text));
            (Some(path), coverage)
        };
        kubearmor_policies.push(PolicyReport {
            namespace: c.namespace.clone(),
            workload: c.workload.clone(),
            container: c.container.clone(),
            resolved_by: w.resolved_by,
            file,
            events: c.events,
            events_used: c.used,
            rules: rule_counts(&rules),
            coverage,
            unnamed_capabilities: rules.unnamed_capabilities.clone(),
        });
    }

    let network = netpol::build(&collector.workloads_seen, options);
    let addresses = Addresses::new(&collector.workloads_seen);
    let mut network_policies = Vec::new();
    let mut order: Vec<usize> = (0..collector.workloads_seen.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&collector.workloads_seen[a], &collector.workloads_seen[b]);
        (&x.namespace, &x.name).cmp(&(&y.namespace, &y.name))
    });
    for i in order {
        let w = &collector.workloads_seen[i];
        if w.selector.is_empty() {
            continue;
        }
        let p = &network[i];
        let mine: Vec<usize> =
            (0..collector.containers.len()).filter(|&c| collector.containers[c].workload_index == i).collect();
        let window = collector.window_of(&mine);
        let events: u64 = mine.iter().map(|&c| collector.containers[c].events).sum();
        let header = Header {
            command: command.to_string(),
            first: window.first,
            last: window.last,
            counts: vec![
                ("telemetry events of this workload".into(), events),
                ("connections seen".into(), w.connections.values().sum()),
                ("rules emitted".into(), p.rule_count() as u64),
            ],
        };
        let path = format!("{}/{}.networkpolicy.yaml", w.namespace, w.name);
        files.push((path.clone(), netpol::render(w, p, &header)));
        network_policies.push(NetworkReport {
            namespace: w.namespace.clone(),
            workload: w.name.clone(),
            file: path,
            pod_selector: w.selector.clone(),
            egress_rules: p.egress.len() + usize::from(p.dns),
            ingress_rules: p.ingress.len(),
            dns: p.dns,
            addresses: w.ips.iter().map(|ip| ip.to_string()).collect(),
            listening_without_peers: p
                .listening_without_peers
                .iter()
                .map(|(proto, port)| format!("{port}/{proto}"))
                .collect(),
            dropped_by_min_count: p.dropped,
            unusable_connections: p.unusable,
            coverage: network_coverage(w, p, &addresses),
        });
    }
    let report = Report {
        version: 1,
        command: command.to_string(),
        window: collector.window.clone(),
        events: collector.counts.clone(),
        kubearmor_policies,
        network_policies,
        notes,
    };
    Ok(Output { files, report })
}

fn rule_counts(r: &Rules) -> RuleCounts {
    let all = r.process.iter().chain(&r.file);
    RuleCounts {
        process: r.process.len(),
        file_paths: r.file.iter().filter(|f| !f.dir).count(),
        file_directories: r.file.iter().filter(|f| f.dir).count(),
        protocols: r.protocols.len(),
        capabilities: r.capabilities.len(),
        implied: all.filter(|row| row.implied.is_some()).count(),
        dropped_by_min_count: r.dropped,
    }
}

fn coverage_of(allowed: u64, total: u64) -> Coverage {
    let share = if total == 0 { 1.0 } else { allowed as f64 / total as f64 };
    Coverage { method: MODEL_METHOD, allowed, denied: total - allowed, share }
}

/// Our own rendering must pass our own checks with no finding at all (`lint --deny warning`).
fn proven(text: &str, path: &str) -> Result<Vec<armorc_compiler::ir::Policy>, String> {
    let checked = armorc_compiler::check_source(SourceFile::new(path, text));
    if let Some(d) = checked.diagnostics.first() {
        return Err(format!("internal error: the policy for {path} fails its own check: {}: {}", d.code, d.message));
    }
    if checked.policies.len() != 1 {
        return Err(format!("internal error: the policy for {path} did not normalize"));
    }
    Ok(checked.policies)
}

/// Decide every distinct operation of the container against its policy.
fn model_coverage(c: &super::ObservedContainer, allow_text: &str, path: &str) -> Result<Coverage, String> {
    let policies = proven(allow_text, path)?;
    let block = PostureAction::Block;
    let target = Target {
        namespace: Some(c.namespace.clone()),
        workload: Some(c.workload.clone()),
        workload_kind: None,
        container: Some(c.container.clone()),
        host: false,
        enforcement: Enforcement::Enabled,
        posture: Posture { file: block, network: block, capabilities: block },
        policies: vec![0],
    };
    let image = armorc_compiler::lower::bpf::lower_target(&target, &[&policies[0]]);
    let model = Model::new(&image);
    let mut allowed = 0;
    for (op, &count) in &c.ops {
        if !model.decide_operation(&query(op)).decision.deny {
            allowed += count;
        }
    }
    Ok(coverage_of(allowed, c.used))
}

/// The model's question for one operation.
pub fn query(op: &Op) -> Query {
    let with = |kind, path: &str, source: &str| Query {
        path: path.as_bytes().to_vec(),
        source: source.as_bytes().to_vec(),
        ..Query::new(kind)
    };
    match op {
        Op::Exec { path, source } => with(model::Op::Exec, path, source),
        Op::File { path, source, write } => with(if *write { model::Op::Write } else { model::Op::Open }, path, source),
        Op::Socket { kind, source } => {
            Query { sock_type: kind.sock_type, protocol: kind.protocol, ..with(model::Op::Socket, "", source) }
        }
        Op::Capability { number, source } => Query { capability: *number, ..with(model::Op::Capable, "", source) },
    }
}

fn network_coverage(w: &super::ObservedWorkload, p: &NetworkPolicy, addresses: &Addresses<'_>) -> Coverage {
    let (mut allowed, mut total) = (0, 0);
    for (&(direction, protocol, ip, port), &count) in &w.connections {
        if direction == Direction::Bind || ip.is_some_and(|ip| ip.is_loopback() || ip.is_unspecified()) {
            continue;
        }
        total += count;
        let (Some(ip), Some(port)) = (ip, port) else { continue };
        if p.allows(direction, protocol, Some(&addresses.peer(ip)), port) {
            allowed += count;
        }
    }
    Coverage { method: NETWORK_METHOD, ..coverage_of(allowed, total) }
}
