//! `armorc discover`: least-privilege policies from observed telemetry (docs/observe.md,
//! "## discover"). `Collector::observe` folds each event into per-container sets of distinct
//! operations (one map insert per event, so memory follows the variety of behaviour, not the
//! number of events); `Collector::finish` turns them into one allow-list KubeArmorPolicy per
//! workload container (`policy`), one NetworkPolicy per workload (`netpol`), and the report with
//! coverage (`report`).

pub mod netpol;
pub mod policy;
pub mod report;

use crate::aggregate::volatile_root;
use crate::event::Event;
use crate::net::{Connection, Direction, SocketKind};
use armorc_compiler::workload::Workloads;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Maps keyed per event: a fast hash (the keys are our own strings and numbers).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The pod annotation that lists the IPs a workload is reached at (its pods' IPs and its
/// Services' cluster IPs), comma-separated: `--workloads` manifests resolve peers with it.
pub const IPS_ANNOTATION: &str = "armorc.io/ips";

/// Per-pod labels: they differ between pods of one workload, so they never select it.
const PER_POD_LABELS: [&str; 6] = [
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
];

/// What `armorc discover` was asked for.
#[derive(Clone, Debug)]
pub struct Options {
    /// `Allow` or `Audit` on every emitted KubeArmorPolicy.
    pub action: Action,
    /// Rows (rules, ports) seen fewer times are dropped.
    pub min_count: u64,
    /// The aggregation threshold (`aggregate::Aggregator::new`).
    pub agg_children: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Allow,
    Audit,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "Allow",
            Action::Audit => "Audit",
        }
    }
}

/// One distinct operation a container performed, as the decision model asks it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// exec of `path` by a process whose parent runs `source`.
    Exec {
        path: String,
        source: String,
    },
    /// open of `path` by `source`; `write` when the flags or the call modify it.
    File {
        path: String,
        source: String,
        write: bool,
    },
    Socket {
        kind: SocketKind,
        source: String,
    },
    Capability {
        number: u32,
        source: String,
    },
}

/// How a container's workload was identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResolvedBy {
    /// A `--workloads` manifest whose selector the pod's labels carry.
    Workloads,
    /// The event's `Owner` (KubeArmor records the pod's controller).
    Owner,
    /// The pod name less its controller's suffixes.
    PodName,
}

/// Everything observed for one container of one workload (all its pods).
#[derive(Debug)]
pub struct ObservedContainer {
    pub namespace: String,
    pub workload: String,
    pub container: String,
    /// Index into `Collector::workloads`.
    pub workload_index: usize,
    /// Telemetry events attributed to it.
    pub events: u64,
    /// Events that became an operation (the rest: failed, or nothing a policy governs).
    pub used: u64,
    pub window: Window,
    /// Distinct operations with how often each was seen (filled by `Collector::resolve` from
    /// `raw`).
    pub ops: HashMap<Op, u64>,
    /// The same with interned strings, as events are folded in.
    raw: FastMap<RawOp, u64>,
}

/// An `Op` with its strings interned (`Interner`): a small key, so an event allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RawOp {
    Exec { path: u32, source: u32 },
    File { path: u32, source: u32, write: bool },
    Socket { kind: SocketKind, source: u32 },
    Capability { number: u32, source: u32 },
}

/// Each distinct path or executable name once.
#[derive(Default)]
struct Interner {
    ids: FastMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
    fn name(&self, id: u32) -> String {
        self.names[id as usize].to_string()
    }
    fn op(&self, raw: RawOp) -> Op {
        match raw {
            RawOp::Exec { path, source } => Op::Exec { path: self.name(path), source: self.name(source) },
            RawOp::File { path, source, write } => Op::File { path: self.name(path), source: self.name(source), write },
            RawOp::Socket { kind, source } => Op::Socket { kind, source: self.name(source) },
            RawOp::Capability { number, source } => Op::Capability { number, source: self.name(source) },
        }
    }
}

/// One workload (all its containers): what selects its pods, whom it talked to.
#[derive(Debug)]
pub struct ObservedWorkload {
    pub namespace: String,
    pub name: String,
    /// The labels its pods carry: a `--workloads` manifest's selector, or the events' labels
    /// less the per-pod ones (intersected over its pods).
    pub selector: BTreeMap<String, String>,
    pub resolved_by: ResolvedBy,
    /// Connections (direction, protocol, peer or bound address, port) with counts.
    pub connections: HashMap<ConnKey, u64>,
    /// Addresses the workload is known by (see `netpol` for what proves one).
    pub ips: BTreeSet<IpAddr>,
}

/// A connection as `netpol` needs it; the protocol is one NetworkPolicy can name.
pub type ConnKey = (Direction, &'static str, Option<IpAddr>, Option<u16>);

/// First and last `UpdatedTime` (RFC 3339 in UTC, so text order is time order).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    pub first: Option<String>,
    pub last: Option<String>,
}

impl Window {
    fn see(&mut self, t: &str) {
        if t.is_empty() {
            return;
        }
        if self.first.as_deref().is_none_or(|f| t < f) {
            self.first = Some(t.to_string());
        }
        if self.last.as_deref().is_none_or(|l| t > l) {
            self.last = Some(t.to_string());
        }
    }
    fn merge(&mut self, other: &Window) {
        for t in other.first.iter().chain(&other.last) {
            self.see(t);
        }
    }
}

/// Event counts for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Every event read.
    pub read: u64,
    /// Alerts (MatchedPolicy, ...) and other non-telemetry events: not behaviour evidence.
    pub alerts: u64,
    /// HostLog telemetry: host policies are not discovered.
    pub host: u64,
    /// Container telemetry whose workload could not be told (no namespace, container or labels).
    pub unattributed: u64,
    /// Container telemetry attributed to a workload container.
    pub attributed: u64,
    /// Of those, failed operations (Result other than Passed): never turned into rules.
    pub failed: u64,
    /// Of those, events that became an operation.
    pub used: u64,
}

/// Folds events into per-container operation sets.
pub struct Collector<'w> {
    workloads: Option<&'w Workloads>,
    pub counts: Counts,
    pub window: Window,
    /// `namespace \0 pod \0 container` -> index into `containers` (None: unattributable).
    pods: FastMap<String, Option<usize>>,
    strings: Interner,
    key: String,
    pub containers: Vec<ObservedContainer>,
    pub workloads_seen: Vec<ObservedWorkload>,
    by_container: HashMap<(String, String, String), usize>,
    by_workload: HashMap<(String, String), usize>,
    /// Notes for the report (identity fallbacks, skipped pods).
    pub notes: BTreeSet<String>,
}

impl<'w> Collector<'w> {
    pub fn new(workloads: Option<&'w Workloads>) -> Collector<'w> {
        Collector {
            workloads,
            counts: Counts::default(),
            window: Window::default(),
            pods: FastMap::default(),
            strings: Interner::default(),
            key: String::new(),
            containers: Vec::new(),
            workloads_seen: Vec::new(),
            by_container: HashMap::new(),
            by_workload: HashMap::new(),
            notes: BTreeSet::new(),
        }
    }

    pub fn observe(&mut self, ev: &Event<'_>) {
        self.counts.read += 1;
        if !ev.is_log() {
            self.counts.alerts += 1;
            return;
        }
        if ev.kind == "HostLog" {
            self.counts.host += 1;
            return;
        }
        self.key.clear();
        let _ = write!(self.key, "{}\0{}\0{}", ev.namespace_name, ev.pod_name, ev.container_name);
        let at = match self.pods.get(self.key.as_str()) {
            Some(at) => *at,
            None => {
                let at = self.attribute(ev);
                self.pods.insert(self.key.clone(), at);
                at
            }
        };
        let Some(at) = at else {
            self.counts.unattributed += 1;
            return;
        };
        self.counts.attributed += 1;
        self.window.see(&ev.updated_time);
        let c = &mut self.containers[at];
        c.events += 1;
        c.window.see(&ev.updated_time);
        let connection = Connection::of(ev);
        // A non-blocking connect reports EINPROGRESS: the connection goes ahead.
        let went_ahead = ev.passed() || (connection.is_some() && ev.result == "Operation now in progress");
        if !went_ahead {
            self.counts.failed += 1;
            return;
        }
        if let Some(conn) = &connection {
            record_connection(&mut self.workloads_seen[c.workload_index], conn);
        }
        let Some(op) = raw_operation(ev, &mut self.strings) else { return };
        self.counts.used += 1;
        c.used += 1;
        *c.raw.entry(op).or_insert(0) += 1;
    }

    /// Every container's `ops` with its strings, once all events are in.
    pub fn resolve(&mut self) {
        for c in &mut self.containers {
            c.ops = c.raw.iter().map(|(op, &n)| (self.strings.op(*op), n)).collect();
        }
    }

    /// Which workload container a pod's container belongs to (first event of each).
    fn attribute(&mut self, ev: &Event<'_>) -> Option<usize> {
        let (namespace, pod, container) = (&*ev.namespace_name, &*ev.pod_name, &*ev.container_name);
        if namespace.is_empty() || container.is_empty() {
            return None;
        }
        let labels = parse_labels(&ev.labels);
        let (name, selector, resolved_by, ips) = match self.manifest_identity(namespace, &labels, container) {
            Some(found) => found,
            None => {
                let (name, by) = match ev.owner.as_ref().filter(|o| !o.name.is_empty()) {
                    Some(o) => (o.name.to_string(), ResolvedBy::Owner),
                    None => (workload_name(pod, &labels), ResolvedBy::PodName),
                };
                let mut selector = labels;
                selector.retain(|k, _| !PER_POD_LABELS.contains(&k.as_str()));
                if selector.is_empty() {
                    self.notes.insert(format!(
                        "{namespace}/{pod}/{container}: skipped: its events carry no labels to select the pod by (give --workloads)"
                    ));
                    return None;
                }
                if self.workloads.is_some() {
                    self.notes.insert(format!(
                        "{namespace}/{pod}/{container}: no --workloads manifest selects it; identified from the events as {name}"
                    ));
                }
                (name, selector, by, BTreeSet::new())
            }
        };
        let wkey = (namespace.to_string(), name.clone());
        let workload_index = match self.by_workload.get(&wkey) {
            Some(&i) => {
                let w = &mut self.workloads_seen[i];
                // Pods of one workload share its selector; keep only what they all carry.
                w.selector.retain(|k, v| selector.get(k) == Some(v));
                i
            }
            None => {
                self.workloads_seen.push(ObservedWorkload {
                    namespace: namespace.to_string(),
                    name: name.clone(),
                    selector,
                    resolved_by,
                    connections: HashMap::new(),
                    ips,
                });
                self.by_workload.insert(wkey, self.workloads_seen.len() - 1);
                self.workloads_seen.len() - 1
            }
        };
        let ckey = (namespace.to_string(), name.clone(), container.to_string());
        if let Some(&i) = self.by_container.get(&ckey) {
            return Some(i);
        }
        self.containers.push(ObservedContainer {
            namespace: namespace.to_string(),
            workload: name,
            container: container.to_string(),
            workload_index,
            events: 0,
            used: 0,
            window: Window::default(),
            ops: HashMap::new(),
            raw: FastMap::default(),
        });
        self.by_container.insert(ckey, self.containers.len() - 1);
        Some(self.containers.len() - 1)
    }

    /// The `--workloads` manifest whose pods these are: same namespace, its selector among the
    /// labels, a container of that name. With several, the most specific selector wins.
    #[allow(clippy::type_complexity)]
    fn manifest_identity(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        container: &str,
    ) -> Option<(String, BTreeMap<String, String>, ResolvedBy, BTreeSet<IpAddr>)> {
        let w = self
            .workloads?
            .workloads
            .iter()
            .filter(|w| {
                w.namespace_or_default() == namespace
                    && !w.selector.is_empty()
                    && w.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                    && w.containers.iter().chain(&w.init_containers).any(|c| c.name == container)
            })
            .max_by_key(|w| w.selector.len())?;
        let ips = w
            .annotations
            .get(IPS_ANNOTATION)
            .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
            .unwrap_or_default();
        Some((w.name.clone(), w.selector.clone(), ResolvedBy::Workloads, ips))
    }

    /// Merge what every pod proved: a bind to a concrete address is the binding pod's address.
    pub fn proven_ips(&mut self) {
        for w in &mut self.workloads_seen {
            let bound: Vec<IpAddr> = w
                .connections
                .keys()
                .filter(|(d, ..)| *d == Direction::Bind)
                .filter_map(|(_, _, ip, _)| *ip)
                .filter(|ip| !ip.is_unspecified() && !ip.is_loopback())
                .collect();
            w.ips.extend(bound);
        }
    }

    /// Window over several containers (a workload's).
    pub fn window_of(&self, containers: &[usize]) -> Window {
        let mut w = Window::default();
        for &i in containers {
            w.merge(&self.containers[i].window);
        }
        w
    }
}

fn record_connection(w: &mut ObservedWorkload, conn: &Connection) {
    // NetworkPolicy names TCP, UDP and SCTP only.
    let protocol = match conn.protocol.to_ascii_uppercase().as_str() {
        // KubeArmor's bind and connect syscall records name no protocol: NetworkPolicy's default
        "TCP" | "" => "TCP",
        "UDP" => "UDP",
        "SCTP" => "SCTP",
        _ => return,
    };
    *w.connections.entry((conn.direction, protocol, Some(conn.ip), Some(conn.port))).or_insert(0) += 1;
}

/// The operation an event records, as the decision model asks it; None for events no policy
/// rule governs (or without an absolute path). A path under a volatile tree (`/proc/<pid>/...`,
/// `/tmp/...`: aggregation rule 1, which always applies) is kept as that tree's root.
pub fn operation(ev: &Event<'_>) -> Option<Op> {
    let mut strings = Interner::default();
    let raw = raw_operation(ev, &mut strings)?;
    Some(strings.op(raw))
}

fn raw_operation(ev: &Event<'_>, strings: &mut Interner) -> Option<RawOp> {
    let actor = |strings: &mut Interner| {
        strings.id(if ev.process_name.starts_with('/') { &ev.process_name } else { ev.source_path() })
    };
    let path_id = |strings: &mut Interner| -> Option<u32> {
        let path = absolute(ev)?;
        Some(strings.id(volatile_root(&path).unwrap_or(&path)))
    };
    Some(match &*ev.operation {
        "Process" => {
            let path = path_id(strings)?;
            // fromSource of a process rule is the parent's executable (BPF-LSM's bprm lookup).
            let parent =
                if ev.parent_process_name.starts_with('/') { &ev.parent_process_name } else { ev.source_path() };
            RawOp::Exec { path, source: strings.id(parent) }
        }
        "File" => {
            let path = path_id(strings)?;
            RawOp::File { path, source: actor(strings), write: is_write(ev) }
        }
        "Network" => RawOp::Socket { kind: SocketKind::of(ev)?, source: actor(strings) },
        "Capabilities" => RawOp::Capability { number: capability(ev)?, source: actor(strings) },
        _ => return None,
    })
}

/// Resource as an absolute path (relative ones joined to Cwd when recorded); trailing slashes
/// of a directory opened are dropped (`/etc/` is the file `/etc`).
fn absolute<'e>(ev: &'e Event<'_>) -> Option<Cow<'e, str>> {
    let r = ev.resource.trim();
    let r = r.split_once(' ').map_or(r, |(p, _)| p);
    let joined: Cow<'e, str> = if r.starts_with('/') {
        Cow::Borrowed(r)
    } else if ev.cwd.starts_with('/') && !r.is_empty() {
        Cow::Owned(format!("{}/{}", ev.cwd.trim_end_matches('/'), r.trim_start_matches("./")))
    } else {
        return None;
    };
    // `/etc/` opened is the file `/etc`; `/tmp/` stays (a volatile root names the tree).
    let end = joined.trim_end_matches('/').len();
    if end == 0 {
        return None;
    }
    if end == joined.len() || volatile_root(&joined).is_some() {
        return Some(joined);
    }
    Some(match joined {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..end]),
        Cow::Owned(mut o) => {
            o.truncate(end);
            Cow::Owned(o)
        }
    })
}

/// System calls that change the file they name (or its directory entry).
const MODIFYING_CALLS: [&str; 22] = [
    "SYS_UNLINK",
    "SYS_UNLINKAT",
    "SYS_RMDIR",
    "SYS_RENAME",
    "SYS_RENAMEAT",
    "SYS_RENAMEAT2",
    "SYS_MKDIR",
    "SYS_MKDIRAT",
    "SYS_CHMOD",
    "SYS_FCHMODAT",
    "SYS_CHOWN",
    "SYS_FCHOWNAT",
    "SYS_LCHOWN",
    "SYS_TRUNCATE",
    "SYS_FTRUNCATE",
    "SYS_LINK",
    "SYS_LINKAT",
    "SYS_SYMLINK",
    "SYS_SYMLINKAT",
    "SYS_MKNOD",
    "SYS_MKNODAT",
    "SYS_CREAT",
];

/// A write: O_WRONLY, O_RDWR, O_CREAT, O_TRUNC or O_APPEND among the flags, or a modifying call.
fn is_write(ev: &Event<'_>) -> bool {
    if let Some(flags) = ev.field("flags") {
        if flags.split('|').any(|f| matches!(f, "O_WRONLY" | "O_RDWR" | "O_CREAT" | "O_TRUNC" | "O_APPEND")) {
            return true;
        }
    }
    ev.field("syscall").is_some_and(|s| MODIFYING_CALLS.contains(&s))
}

/// `CAP_NET_RAW`, `net_raw` or `cap=13` -> 13.
fn capability(ev: &Event<'_>) -> Option<u32> {
    if let Some(n) = ev.field("cap") {
        return n.parse().ok().filter(|&n: &u32| (n as usize) < armorc_compiler::ir::CAPABILITIES.len());
    }
    let name = ev.resource.trim().to_ascii_lowercase();
    let name = name.strip_prefix("cap_").unwrap_or(&name);
    armorc_compiler::ir::capability_number(name).map(u32::from)
}

/// `k=v,k=v` (KubeArmor's Labels field).
pub fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A pod's workload name without a manifest or Owner: the name less the suffixes its controller
/// adds (`web-7d4b9c8f6d-x2kqp` -> `web` with `pod-template-hash=7d4b9c8f6d`; `db-0` -> `db` for
/// a StatefulSet pod; `agent-x2kqp` -> `agent` with `controller-revision-hash` (DaemonSet));
/// a Job's pods name their job in `job-name`; a bare pod keeps its name.
pub fn workload_name(pod: &str, labels: &BTreeMap<String, String>) -> String {
    if let Some(job) = labels.get("job-name").or_else(|| labels.get("batch.kubernetes.io/job-name")) {
        return job.clone();
    }
    let strip_random = |name: &str| -> Option<String> {
        let (stem, tail) = name.rsplit_once('-')?;
        (tail.len() == 5 && tail.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| stem.to_string())
    };
    if labels.contains_key("statefulset.kubernetes.io/pod-name") || labels.contains_key("apps.kubernetes.io/pod-index")
    {
        if let Some((stem, ordinal)) = pod.rsplit_once('-') {
            if !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit()) {
                return stem.to_string();
            }
        }
    }
    if let Some(hash) = labels.get("pod-template-hash") {
        if let Some(stem) = strip_random(pod).and_then(|s| s.strip_suffix(&format!("-{hash}")).map(str::to_string)) {
            return stem;
        }
    }
    if labels.contains_key("controller-revision-hash") {
        if let Some(stem) = strip_random(pod) {
            return stem;
        }
    }
    pod.to_string()
}

/// A YAML scalar: plain when it cannot be misread, else double-quoted (JSON escapes are YAML's).
pub fn scalar(s: &str) -> String {
    let safe_chars = s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
    let first_ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'/');
    let lower = s.to_ascii_lowercase();
    let special = matches!(lower.as_str(), "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n");
    if safe_chars && first_ok && !special {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> BTreeMap<String, String> {
        parse_labels(s)
    }

    #[test]
    fn workload_names_from_pod_names() {
        assert_eq!(workload_name("web-7d4b9c8f6d-x2kqp", &labels("app=web,pod-template-hash=7d4b9c8f6d")), "web");
        assert_eq!(workload_name("db-0", &labels("app=db,statefulset.kubernetes.io/pod-name=db-0")), "db");
        assert_eq!(workload_name("agent-x2kqp", &labels("app=a,controller-revision-hash=5f6d")), "agent");
        assert_eq!(workload_name("backup-28391-abcde", &labels("job-name=backup-28391")), "backup-28391");
        assert_eq!(workload_name("debug", &labels("run=debug")), "debug");
        // a hash label that does not match the name leaves it whole
        assert_eq!(workload_name("web-x2kqp", &labels("pod-template-hash=zzz")), "web-x2kqp");
    }

    #[test]
    fn operations_from_events() {
        let file = |data: &'static str| Event {
            kind: "ContainerLog".into(),
            operation: "File".into(),
            resource: "/var/log/app.log".into(),
            process_name: "/app/server".into(),
            data: data.into(),
            ..Event::default()
        };
        let op = operation(&file("syscall=SYS_OPENAT flags=O_RDONLY")).unwrap();
        assert_eq!(op, Op::File { path: "/var/log/app.log".into(), source: "/app/server".into(), write: false });
        for data in
            ["syscall=SYS_OPENAT flags=O_WRONLY|O_CREAT", "syscall=SYS_OPEN flags=O_RDWR", "syscall=SYS_UNLINKAT"]
        {
            assert!(matches!(operation(&file(data)), Some(Op::File { write: true, .. })), "{data}");
        }
        let exec = Event {
            operation: "Process".into(),
            resource: "/bin/ls -la".into(),
            source: "/bin/bash -c ls".into(),
            parent_process_name: "/usr/bin/bash".into(),
            ..Event::default()
        };
        assert_eq!(operation(&exec), Some(Op::Exec { path: "/bin/ls".into(), source: "/usr/bin/bash".into() }));
        let relative =
            Event { operation: "File".into(), resource: "conf/a".into(), cwd: "/srv/".into(), ..exec.clone() };
        assert!(matches!(operation(&relative), Some(Op::File { path, .. }) if path == "/srv/conf/a"));
        let relative_no_cwd = Event { cwd: "".into(), ..relative.clone() };
        assert_eq!(operation(&relative_no_cwd), None);
        // volatile trees are kept as their root; a directory opened is its path
        let proc = Event { resource: "/proc/4242/status".into(), ..relative.clone() };
        assert!(matches!(operation(&proc), Some(Op::File { path, .. }) if path == "/proc/"));
        let dir = Event { resource: "/etc/".into(), ..relative };
        assert!(matches!(operation(&dir), Some(Op::File { path, .. }) if path == "/etc"));
        let cap = |r: &'static str| Event { operation: "Capabilities".into(), resource: r.into(), ..Event::default() };
        assert!(matches!(operation(&cap("CAP_NET_RAW")), Some(Op::Capability { number: 13, .. })));
        assert!(matches!(operation(&cap("cap=21")), Some(Op::Capability { number: 21, .. })));
        assert_eq!(operation(&cap("CAP_NOPE")), None);
    }

    fn log(ns: &str, pod: &str, container: &str, labels: &str, op: &str, resource: &str) -> Event<'static> {
        Event {
            kind: "ContainerLog".into(),
            namespace_name: ns.to_string().into(),
            pod_name: pod.to_string().into(),
            container_name: container.to_string().into(),
            labels: labels.to_string().into(),
            operation: op.to_string().into(),
            resource: resource.to_string().into(),
            process_name: "/app/server".into(),
            data: "syscall=SYS_OPENAT flags=O_RDONLY".into(),
            result: "Passed".into(),
            ..Event::default()
        }
    }

    #[test]
    fn pods_of_one_workload_merge_and_counts_add_up() {
        let mut c = Collector::new(None);
        c.observe(&log("shop", "web-6d9f-abcde", "nginx", "app=web,pod-template-hash=6d9f", "File", "/etc/a"));
        c.observe(&log("shop", "web-6d9f-fghij", "nginx", "app=web,pod-template-hash=6d9f", "File", "/etc/a"));
        c.observe(&log("shop", "web-6d9f-fghij", "nginx", "app=web,pod-template-hash=6d9f", "File", "/etc/b"));
        c.observe(&log("shop", "lonely", "c", "", "File", "/etc/a"));
        c.observe(&Event { kind: "HostLog".into(), ..Event::default() });
        c.observe(&Event { kind: "MatchedPolicy".into(), ..Event::default() });
        let failed = Event {
            result: "No such file or directory".into(),
            ..log("shop", "web-6d9f-abcde", "nginx", "app=web,pod-template-hash=6d9f", "File", "/etc/x")
        };
        c.observe(&failed);
        assert_eq!(c.containers.len(), 1);
        c.resolve();
        let web = &c.containers[0];
        assert_eq!((web.workload.as_str(), web.events, web.used), ("web", 4, 3));
        let a = Op::File { path: "/etc/a".into(), source: "/app/server".into(), write: false };
        assert_eq!(web.ops[&a], 2);
        assert_eq!(c.workloads_seen[0].selector, labels("app=web"));
        assert_eq!(
            c.counts,
            Counts { read: 7, alerts: 1, host: 1, unattributed: 1, attributed: 4, failed: 1, used: 3 }
        );
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
    }

    #[test]
    fn owner_names_the_workload() {
        let text = r#"{"Type":"ContainerLog","NamespaceName":"ns","PodName":"x-1","ContainerName":"c","Labels":"app=x","Owner":{"Name":"xdeploy","Ref":"Deployment","Namespace":"ns"},"Operation":"File","Resource":"/etc/a","Result":"Passed"}"#;
        let ev: Event<'_> = serde_json::from_str(text).unwrap();
        let mut c = Collector::new(None);
        c.observe(&ev);
        assert_eq!(c.containers[0].workload, "xdeploy");
        assert_eq!(c.workloads_seen[0].resolved_by, ResolvedBy::Owner);
        let null_owner: Event<'_> = serde_json::from_str(r#"{"Owner":null}"#).unwrap();
        assert_eq!(null_owner.owner, None);
    }

    #[test]
    fn scalars_quote_only_what_yaml_would_misread() {
        assert_eq!(scalar("/usr/bin/ls"), "/usr/bin/ls");
        assert_eq!(scalar("web"), "web");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("8080"), "\"8080\"");
        assert_eq!(scalar("/a b"), "\"/a b\"");
        assert_eq!(scalar("[nginx]"), "\"[nginx]\"");
        assert_eq!(scalar("/x\"y"), "\"/x\\\"y\"");
        assert_eq!(scalar(""), "\"\"");
    }
}
