//! `armorc summary`: karmor summary's tables from KubeArmor events (docs/observe.md, "summary").
//!
//! Events stream through a [`Summarizer`], which keeps one entry per distinct row (count, last
//! updated time, status bits), never the events: memory grows with the behaviour seen, not with
//! the length of the capture. [`Summarizer::report`] turns the entries into a [`Report`] that
//! borrows their text (no copy of the rows), which one renderer per format prints (`render`).
//!
//! Rows come from telemetry only (`ContainerLog`, `HostLog`); an alert (`MatchedPolicy`,
//! `MatchedHostPolicy`) adds its Action to the STATUS of the row with the same key, and makes no
//! row of its own.

pub mod render;

use crate::aggregate::{volatile_root, Aggregator};
use crate::event::Event;
use crate::net::{Connection, Direction};
use crate::time;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

/// Which events count, and how file paths are shown.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only this NamespaceName.
    pub namespace: Option<String>,
    /// Only this PodName.
    pub pod: Option<String>,
    /// Only this ContainerName.
    pub container: Option<String>,
    /// `k=v` pairs that must all be among the event's Labels.
    pub labels: Vec<(String, String)>,
    /// Leave out events before this instant (µs since the epoch), and events without a time.
    pub since: Option<i64>,
    /// `--agg`: file paths collapsed by `aggregate`'s rule, with this many children for rule 2.
    pub aggregate: Option<usize>,
}

/// The STATUS column: one bit per outcome seen on a row.
mod status {
    /// Telemetry with `Result: Passed`, or an alert whose Action is `Allow`.
    pub const ALLOW: u8 = 1;
    /// An alert whose Action is `Audit`.
    pub const AUDIT: u8 = 2;
    /// An alert whose Action is `Block`.
    pub const BLOCK: u8 = 4;
    /// Telemetry whose Result is a refusal (`Permission denied`, `Operation not permitted`):
    /// with `Block` beside it a policy refused, without it something else did (file modes, ...).
    pub const DENIED: u8 = 8;
    /// Telemetry that failed for another reason (`No such file or directory`, ...).
    pub const FAILED: u8 = 16;
    pub const NAMES: [(u8, &str); 5] =
        [(ALLOW, "Allow"), (AUDIT, "Audit"), (BLOCK, "Block"), (DENIED, "Denied"), (FAILED, "Failed")];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Table {
    Process,
    File,
    Ingress,
    Egress,
    Bind,
}

/// What is kept per distinct row.
#[derive(Clone, Copy, Debug)]
struct RowStats {
    /// Telemetry events (0 while only alerts named the row: such rows are not shown).
    count: u64,
    /// Newest telemetry time, µs since the epoch (`i64::MIN`: none had a time).
    last: i64,
    status: u8,
}

impl RowStats {
    fn last_updated(&self) -> Option<i64> {
        (self.last != i64::MIN).then_some(self.last)
    }
}

/// Event counts, shown under the tables (and in JSON as `totals`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Every event read.
    pub events: u64,
    /// `ContainerLog` and `HostLog` events.
    pub telemetry: u64,
    /// `Matched*` alerts.
    pub alerts: u64,
    /// Telemetry and alerts left out by `-n`, `-l`, `--pod`, `--container` or `--since`.
    pub filtered_out: u64,
    /// Telemetry that fits no table: Capabilities, Syscall, sockets without an address.
    pub untabled: u64,
    /// Rows only alerts named (no telemetry): not shown, since rows come from telemetry.
    pub alert_only_rows: u64,
}

/// One pod's container (or the host) as a group header.
#[derive(Clone, Debug, Default)]
struct WorkloadId {
    cluster: String,
    namespace: String,
    pod: String,
    container: String,
    /// Set for host events only, so one pod's rows from several nodes stay together.
    host: String,
    labels: String,
}

/// Each distinct string once (paths, commands, protocols); rows name them by index.
#[derive(Default)]
struct Strings {
    index: HashMap<Box<str>, u32, FastHash>,
}

impl Strings {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.index.len()).unwrap_or(u32::MAX);
        self.index.insert(s.into(), i);
        i
    }

    /// The strings in index order.
    fn by_id(&self) -> Vec<&str> {
        let mut all = vec![""; self.index.len()];
        for (s, &i) in &self.index {
            all[i as usize] = s;
        }
        all
    }
}

/// foldhash: the keys are our own, short and hashed several times an event.
type FastHash = foldhash::fast::RandomState;

/// Each distinct (address, port) of a connection once; rows name them by index.
#[derive(Default)]
struct Endpoints {
    all: Vec<(IpAddr, u16)>,
    index: HashMap<(IpAddr, u16), u32, FastHash>,
}

impl Endpoints {
    fn id(&mut self, endpoint: (IpAddr, u16)) -> u32 {
        let all = &mut self.all;
        *self.index.entry(endpoint).or_insert_with(|| {
            all.push(endpoint);
            u32::try_from(all.len() - 1).unwrap_or(u32::MAX)
        })
    }
}

/// A row: its table and workload, two strings (SRC and DESTINATION; or PROTOCOL and COMMAND),
/// and for connections the endpoint. 20 bytes: the row table is most of the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct RowKey {
    table: Table,
    workload: u32,
    a: u32,
    b: u32,
    endpoint: u32,
}

/// The streaming state: distinct workloads, strings and rows. An event that repeats a known row
/// allocates nothing; a new row costs a fixed-size key (its strings are shared).
pub struct Summarizer {
    options: Options,
    workloads: Vec<WorkloadId>,
    /// A workload's fields, length-prefixed, built in `key` (one reused buffer).
    workload_index: HashMap<Box<[u8]>, u32, FastHash>,
    key: Vec<u8>,
    strings: Strings,
    endpoints: Endpoints,
    rows: HashMap<RowKey, RowStats, FastHash>,
    totals: Totals,
}

fn push_part(key: &mut Vec<u8>, part: &[u8]) {
    let part = &part[..part.len().min(u32::MAX as usize)];
    key.extend_from_slice(&(part.len() as u32).to_le_bytes());
    key.extend_from_slice(part);
}

/// `Permission denied` (EACCES) and `Operation not permitted` (EPERM): refusals.
fn is_refusal(result: &str) -> bool {
    matches!(result, "Permission denied" | "Operation not permitted")
}

fn first_non_empty<'s>(a: &'s str, b: &'s str) -> &'s str {
    if a.trim().is_empty() {
        b.trim()
    } else {
        a.trim()
    }
}

impl Summarizer {
    pub fn new(options: Options) -> Summarizer {
        Summarizer {
            options,
            workloads: Vec::new(),
            workload_index: HashMap::default(),
            key: Vec::with_capacity(256),
            strings: Strings::default(),
            endpoints: Endpoints::default(),
            rows: HashMap::default(),
            totals: Totals::default(),
        }
    }

    fn selected(&self, ev: &Event<'_>) -> bool {
        let o = &self.options;
        o.namespace.as_deref().is_none_or(|n| ev.namespace_name == n)
            && o.pod.as_deref().is_none_or(|p| ev.pod_name == p)
            && o.container.as_deref().is_none_or(|c| ev.container_name == c)
            && o.labels.iter().all(|(k, v)| {
                ev.labels.split(',').any(|kv| kv.trim().split_once('=') == Some((k.as_str(), v.as_str())))
            })
    }

    /// Count one event.
    pub fn observe(&mut self, ev: &Event<'_>) {
        self.totals.events += 1;
        let telemetry = ev.is_log();
        if telemetry {
            self.totals.telemetry += 1;
        } else if ev.kind.starts_with("Matched") {
            self.totals.alerts += 1;
        } else {
            return;
        }
        let when = time::event_time(ev);
        let too_old = self.options.since.is_some_and(|since| when.is_none_or(|t| t < since));
        if too_old || !self.selected(ev) {
            self.totals.filtered_out += 1;
            return;
        }
        let outcome = if telemetry {
            if ev.passed() {
                status::ALLOW
            } else if is_refusal(&ev.result) {
                status::DENIED
            } else {
                status::FAILED
            }
        } else {
            match &*ev.action {
                "Block" => status::BLOCK,
                "Audit" => status::AUDIT,
                "Allow" => status::ALLOW,
                _ => return,
            }
        };
        let Some(key) = self.row_key(ev) else {
            if telemetry {
                self.totals.untabled += 1;
            }
            return;
        };
        let update = |stats: &mut RowStats| {
            if telemetry {
                stats.count += 1;
                stats.last = stats.last.max(when.unwrap_or(i64::MIN));
            }
            stats.status |= outcome;
        };
        update(self.rows.entry(key).or_insert(RowStats { count: 0, last: i64::MIN, status: 0 }));
    }

    /// The row `ev` counts in; `None` when it fits no table.
    fn row_key(&mut self, ev: &Event<'_>) -> Option<RowKey> {
        let (table, connection) = match &*ev.operation {
            "Process" => (Table::Process, None),
            "File" => (Table::File, None),
            "Network" => {
                let c = Connection::of(ev)?;
                let table = match c.direction {
                    Direction::Egress => Table::Egress,
                    Direction::Ingress => Table::Ingress,
                    Direction::Bind => Table::Bind,
                };
                (table, Some(c))
            }
            _ => return None,
        };
        let workload = self.workload(ev);
        let strings = &mut self.strings;
        let key = |a, b| RowKey { table, workload, a, b, endpoint: 0 };
        Some(match connection {
            Some(c) => RowKey {
                endpoint: self.endpoints.id((c.ip, c.port)),
                ..key(strings.id(c.protocol), strings.id(first_non_empty(&ev.process_name, ev.source_path())))
            },
            // SRC: the process that ran the exec; DESTINATION: what it executed.
            None if table == Table::Process => key(
                strings.id(first_non_empty(ev.source_path(), &ev.parent_process_name)),
                strings.id(first_non_empty(ev.resource_path(), &ev.process_name)),
            ),
            None => {
                let path = ev.resource.trim();
                // --agg's rule 1 needs no other path: applied here, it also bounds the rows kept.
                let path = match self.options.aggregate {
                    Some(_) => volatile_root(path).unwrap_or(path),
                    None => path,
                };
                key(strings.id(first_non_empty(&ev.process_name, ev.source_path())), strings.id(path))
            }
        })
    }

    /// The index of `ev`'s workload, added when new.
    fn workload(&mut self, ev: &Event<'_>) -> u32 {
        let host = if ev.kind.contains("Host") { &*ev.host_name } else { "" };
        let key = &mut self.key;
        key.clear();
        for part in [&*ev.cluster_name, &ev.namespace_name, &ev.pod_name, &ev.container_name, host] {
            push_part(key, part.as_bytes());
        }
        if let Some(&i) = self.workload_index.get(key.as_slice()) {
            if self.workloads[i as usize].labels.is_empty() && !ev.labels.is_empty() {
                self.workloads[i as usize].labels = ev.labels.to_string();
            }
            return i;
        }
        let i = u32::try_from(self.workloads.len()).unwrap_or(u32::MAX);
        self.workload_index.insert(key.as_slice().into(), i);
        self.workloads.push(WorkloadId {
            cluster: ev.cluster_name.to_string(),
            namespace: ev.namespace_name.to_string(),
            pod: ev.pod_name.to_string(),
            container: ev.container_name.to_string(),
            host: host.to_string(),
            labels: ev.labels.to_string(),
        });
        i
    }

    /// The tables: rows with telemetry, file paths aggregated under `--agg`, everything sorted.
    pub fn report(&self) -> Report<'_> {
        let mut tables: BTreeMap<u32, Tables<'_>> = BTreeMap::new();
        let mut totals = self.totals.clone();
        let strings = self.strings.by_id();
        let text = |i: u32| strings.get(i as usize).copied().unwrap_or_default();
        let no_endpoint = (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        // Each table's rows counted first, so its vector is allocated once at its final size.
        let mut sizes: BTreeMap<(u32, Table), usize> = BTreeMap::new();
        for (key, stats) in &self.rows {
            if stats.count == 0 {
                totals.alert_only_rows += 1;
            } else {
                *sizes.entry((key.workload, key.table)).or_default() += 1;
            }
        }
        for ((workload, table), n) in sizes {
            let t = tables.entry(workload).or_default();
            match table {
                Table::Process => t.process.reserve_exact(n),
                Table::File => t.file.reserve_exact(n),
                Table::Ingress => t.ingress.reserve_exact(n),
                Table::Egress => t.egress.reserve_exact(n),
                Table::Bind => t.bind.reserve_exact(n),
            }
        }
        for (key, stats) in &self.rows {
            if stats.count == 0 {
                continue;
            }
            let t = tables.entry(key.workload).or_default();
            let (address, port) = self.endpoints.all.get(key.endpoint as usize).copied().unwrap_or(no_endpoint);
            let path_row = || PathRow {
                source: text(key.a),
                destination: Cow::Borrowed(text(key.b)),
                count: stats.count,
                last_updated: stats.last_updated(),
                status: stats.status,
            };
            let connection_row = || ConnectionRow {
                protocol: text(key.a),
                command: text(key.b),
                address,
                port,
                count: stats.count,
                last_updated: stats.last_updated(),
                status: stats.status,
            };
            match key.table {
                Table::Process => t.process.push(path_row()),
                Table::File => t.file.push(path_row()),
                Table::Ingress => t.ingress.push(connection_row()),
                Table::Egress => t.egress.push(connection_row()),
                Table::Bind => t.bind.push(connection_row()),
            }
        }
        let mut workloads: Vec<WorkloadSummary<'_>> = tables
            .into_iter()
            .filter_map(|(i, mut t)| {
                if let Some(max_children) = self.options.aggregate {
                    t.file = aggregate_files(std::mem::take(&mut t.file), max_children);
                }
                t.sort();
                let id = self.workloads.get(i as usize)?;
                Some(WorkloadSummary {
                    cluster: &id.cluster,
                    namespace: &id.namespace,
                    pod: &id.pod,
                    container: &id.container,
                    host: &id.host,
                    labels: &id.labels,
                    tables: t,
                })
            })
            .collect();
        workloads.sort_by_key(|w| (w.namespace, w.pod, w.container, w.host, w.cluster));
        Report { version: 1, aggregated: self.options.aggregate.is_some(), totals, workloads }
    }
}

/// `--agg`: one aggregator over the workload's file paths, then rows that now coincide merged.
fn aggregate_files(rows: Vec<PathRow<'_>>, max_children: usize) -> Vec<PathRow<'_>> {
    let mut agg = Aggregator::new(max_children);
    for r in &rows {
        agg.observe(&r.destination);
    }
    let collapse = agg.finish();
    let mut merged: BTreeMap<(&str, Cow<'_, str>), PathRow<'_>> = BTreeMap::new();
    for r in rows {
        let destination = match &r.destination {
            Cow::Borrowed(d) => collapse.apply(d),
            Cow::Owned(d) => Cow::Owned(collapse.apply(d).into_owned()),
        };
        match merged.get_mut(&(r.source, destination.clone())) {
            Some(m) => {
                m.count += r.count;
                m.last_updated = m.last_updated.max(r.last_updated);
                m.status |= r.status;
            }
            None => {
                merged.insert((r.source, destination.clone()), PathRow { destination, ..r });
            }
        }
    }
    merged.into_values().collect()
}

/// What the renderers print. JSON is this structure (docs/observe.md, "JSON").
#[derive(Clone, Debug, Serialize)]
pub struct Report<'a> {
    /// The JSON shape's version.
    pub version: u32,
    /// File paths were aggregated (`--agg`).
    pub aggregated: bool,
    pub totals: Totals,
    /// Workloads with at least one row, by namespace, pod, container.
    pub workloads: Vec<WorkloadSummary<'a>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WorkloadSummary<'a> {
    pub cluster: &'a str,
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: &'a str,
    /// The node, for host events (`HostLog`); empty for containers.
    pub host: &'a str,
    /// `k=v,k=v` as the events carry them.
    pub labels: &'a str,
    #[serde(flatten)]
    pub tables: Tables<'a>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Tables<'a> {
    pub process: Vec<PathRow<'a>>,
    pub file: Vec<PathRow<'a>>,
    pub ingress: Vec<ConnectionRow<'a>>,
    pub egress: Vec<ConnectionRow<'a>>,
    pub bind: Vec<ConnectionRow<'a>>,
}

impl Tables<'_> {
    /// By columns. The columns of a table's rows are distinct (they were the rows' keys), so an
    /// unstable sort gives the one order, without a stable sort's scratch copy of the rows.
    fn sort(&mut self) {
        for rows in [&mut self.process, &mut self.file] {
            rows.sort_unstable_by(|a, b| (a.source, &a.destination).cmp(&(b.source, &b.destination)));
        }
        for rows in [&mut self.ingress, &mut self.egress, &mut self.bind] {
            rows.sort_unstable_by(|a, b| {
                (a.protocol, a.command, a.address, a.port).cmp(&(b.protocol, b.command, b.address, b.port))
            });
        }
    }

    /// Events counted in each table, in table order (Process, File, Ingress, Egress, Bind).
    pub fn counts(&self) -> [u64; 5] {
        let paths = |rows: &[PathRow<'_>]| rows.iter().map(|r| r.count).sum();
        let conns = |rows: &[ConnectionRow<'_>]| rows.iter().map(|r| r.count).sum();
        [paths(&self.process), paths(&self.file), conns(&self.ingress), conns(&self.egress), conns(&self.bind)]
    }
}

/// A Process or File row.
#[derive(Clone, Debug, Serialize)]
pub struct PathRow<'a> {
    pub source: &'a str,
    /// The executed or opened path; under `--agg` possibly a collapsed directory ending in `/`.
    pub destination: Cow<'a, str>,
    pub count: u64,
    #[serde(serialize_with = "ser::time")]
    pub last_updated: Option<i64>,
    #[serde(serialize_with = "ser::status")]
    pub status: u8,
}

/// An Ingress, Egress or Bind row.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionRow<'a> {
    pub protocol: &'a str,
    pub command: &'a str,
    /// The peer (Ingress, Egress) or the local address (Bind).
    pub address: IpAddr,
    pub port: u16,
    pub count: u64,
    #[serde(serialize_with = "ser::time")]
    pub last_updated: Option<i64>,
    #[serde(serialize_with = "ser::status")]
    pub status: u8,
}

/// The table names, in table order, as karmor titles them.
pub const TABLE_TITLES: [&str; 5] =
    ["Process Data", "File Data", "Ingress connections", "Egress connections", "Bind Points"];

/// `Allow`, `Allow,Block`, ... (empty when no outcome was recorded).
pub fn status_text(bits: u8) -> String {
    status::NAMES.iter().filter(|(bit, _)| bits & bit != 0).map(|(_, name)| *name).collect::<Vec<_>>().join(",")
}

/// `2023-08-23T18:05:48Z`, or `-` when no event of the row had a time.
pub fn time_text(micros: Option<i64>) -> String {
    micros.map_or_else(|| "-".to_string(), time::format_rfc3339)
}

mod ser {
    use serde::Serializer;

    pub fn time<S: Serializer>(micros: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match micros {
            Some(m) => s.serialize_str(&crate::time::format_rfc3339(*m)),
            None => s.serialize_none(),
        }
    }

    pub fn status<S: Serializer>(bits: &u8, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(super::status::NAMES.iter().filter(|(bit, _)| bits & bit != 0).map(|(_, name)| name))
    }
}

#[cfg(test)]
mod tests;
