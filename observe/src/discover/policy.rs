//! One allow-list KubeArmorPolicy per workload container, from its distinct operations.
//!
//! An Allow rule puts its whole category into allow-list mode: under default posture block
//! everything else is denied (docs/semantics.md). So besides what was observed the policy holds
//! what the kernel does without a system call the events could show (`implied` rows):
//! - each exec'd binary is also opened (file_open) before it runs: a readOnly file rule;
//! - each process seen acting ran its executable: a process rule and a readOnly file rule;
//! - a dynamically linked program's ELF interpreter is opened by the kernel: when processes ran,
//!   the loader of the C library whose directories were seen (glibc x86_64/aarch64), else musl's.
//!
//! File paths are aggregated by the one rule (`crate::aggregate`); a collapsed `dir/` becomes a
//! recursive matchDirectories rule. Paths KubeArmor's BPF-LSM cannot match (over 199 bytes, or a
//! directory over 64 bytes: lint L005) fall back to their deepest ancestor directory that fits.

use super::{scalar, Action, ObservedContainer, ObservedWorkload, Op, Options};
use crate::aggregate::Aggregator;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// KubeArmor compares at most 199 bytes of a path, and walks directories in the first 64.
const MAX_PATH: usize = 199;
const MAX_DIR: usize = 64;

/// Who used a rule's target: one executable (the rule gets `fromSource`) or several.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sources {
    One(String),
    Many,
}

impl Sources {
    fn of(source: &str) -> Sources {
        // fromSource needs an absolute file path KubeArmor can compare (CRD: `^/+.*[^/]$`).
        if source.starts_with('/') && !source.ends_with('/') && source.len() <= MAX_PATH {
            Sources::One(source.to_string())
        } else {
            Sources::Many
        }
    }
    fn add(&mut self, other: &Sources) {
        if self != other {
            *self = Sources::Many;
        }
    }
}

/// One rule: a path (`dir` false) or a recursive directory (`dir` true).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub target: String,
    pub dir: bool,
    pub write: bool,
    pub sources: Sources,
    /// Events behind it (for implied rows: the events that imply it).
    pub count: u64,
    /// Not seen as such: what the kernel needs for what was seen (module docs).
    pub implied: Option<&'static str>,
}

/// The policy's content, before rendering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub process: Vec<Row>,
    pub file: Vec<Row>,
    /// `matchProtocols` values with counts.
    pub protocols: Vec<(&'static str, u64)>,
    /// Capability names (no `cap_`) with counts.
    pub capabilities: Vec<(&'static str, u64)>,
    /// Rows left out by `--min-count`.
    pub dropped: usize,
    /// Capabilities the CRD cannot name (numbers over mac_admin).
    pub unnamed_capabilities: Vec<u32>,
}

impl Rules {
    pub fn count(&self) -> usize {
        self.process.len() + self.file.len() + self.protocols.len() + self.capabilities.len()
    }
}

/// ELF interpreters by C library: (a directory that shows the library is used, the loaders).
const GLIBC_LOADERS: [(&str, &str, &str); 2] = [
    ("x86_64-linux-gnu/", "/lib64/ld-linux-x86-64.so.2", "ld-linux-x86-64.so.2"),
    ("aarch64-linux-gnu/", "/lib/ld-linux-aarch64.so.1", "ld-linux-aarch64.so.1"),
];
const MUSL_LOADERS: [&str; 2] = ["/lib/ld-musl-x86_64.so.1", "/lib/ld-musl-aarch64.so.1"];

/// Everything one container needs, from its operations.
pub fn rules(c: &ObservedContainer, options: &Options) -> Rules {
    let mut process: BTreeMap<String, Row> = BTreeMap::new();
    let mut files: HashMap<String, Row> = HashMap::new();
    let mut protocols: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut capabilities: BTreeMap<u32, u64> = BTreeMap::new();
    let mut actors: BTreeMap<&str, u64> = BTreeMap::new();
    let mut execs = 0;
    let add = |rows: &mut dyn RowSink, path: &str, write: bool, sources: Sources, count: u64, implied| {
        rows.add(path, write, sources, count, implied)
    };
    for (op, &count) in &c.ops {
        match op {
            Op::Exec { path, source } => {
                execs += count;
                // The parent ran too (its own exec may precede the window).
                *actors.entry(source).or_default() += count;
                add(&mut process, path, false, Sources::of(source), count, None);
                add(&mut files, path, false, Sources::Many, count, Some("exec opens the binary"));
            }
            Op::File { path, source, write } => {
                add(&mut files, path, *write, Sources::of(source), count, None);
                *actors.entry(source).or_default() += count;
            }
            Op::Socket { kind, source } => {
                if let Some(name) = kind.rule_name() {
                    *protocols.entry(name).or_default() += count;
                }
                *actors.entry(source).or_default() += count;
            }
            Op::Capability { number, source } => {
                *capabilities.entry(*number).or_default() += count;
                *actors.entry(source).or_default() += count;
            }
        }
    }
    // A process seen acting was exec'd (perhaps before the window): unless an exec of it was
    // seen, its executable is implied.
    for (actor, count) in actors.into_iter().filter(|(a, _)| Sources::of(a) != Sources::Many) {
        if !process.contains_key(actor) {
            add(&mut process, actor, false, Sources::Many, count, Some("the process ran it"));
            add(&mut files, actor, false, Sources::Many, count, Some("the process ran it"));
            execs += count;
        }
    }
    if !process.is_empty() {
        for loader in loaders(files.keys().map(String::as_str)) {
            add(&mut files, &loader, false, Sources::Many, execs, Some("ELF interpreter, opened by the kernel"));
        }
    }
    let mut out = Rules::default();
    let min = options.min_count;
    let mut keep = |row: Row, into: &mut Vec<Row>| {
        if row.count >= min {
            into.push(row);
        } else {
            out.dropped += 1;
        }
    };
    let mut process_rows = Vec::new();
    for row in fit(process.into_values()) {
        keep(row, &mut process_rows);
    }
    let mut file_rows = Vec::new();
    for row in fit(aggregate(files, options.agg_children)) {
        keep(row, &mut file_rows);
    }
    out.process = process_rows;
    out.file = file_rows;
    for (name, count) in protocols {
        if count >= min {
            out.protocols.push((name, count));
        } else {
            out.dropped += 1;
        }
    }
    for (number, count) in capabilities {
        let named = armorc_compiler::ir::CAPABILITIES
            .iter()
            .find(|(_, n)| u32::from(*n) == number)
            .map(|(name, _)| *name)
            .filter(|name| armorc_compiler::check::patterns::capability(name));
        match named {
            Some(name) if count >= min => out.capabilities.push((name, count)),
            Some(_) => out.dropped += 1,
            None => out.unnamed_capabilities.push(number),
        }
    }
    out
}

/// Where rows are merged by target.
trait RowSink {
    fn add(&mut self, path: &str, write: bool, sources: Sources, count: u64, implied: Option<&'static str>);
}

fn merge(row: &mut Row, write: bool, sources: &Sources, count: u64, implied: Option<&'static str>) {
    row.write |= write;
    row.sources.add(sources);
    row.count += count;
    // Observed once is observed: an implied note only stays while nothing saw it directly.
    if implied.is_none() || row.implied.is_none() {
        row.implied = None;
    }
}

fn new_row(path: &str, write: bool, sources: Sources, count: u64, implied: Option<&'static str>) -> Row {
    Row { target: path.to_string(), dir: false, write, sources, count, implied }
}

impl RowSink for BTreeMap<String, Row> {
    fn add(&mut self, path: &str, write: bool, sources: Sources, count: u64, implied: Option<&'static str>) {
        match self.get_mut(path) {
            Some(row) => merge(row, write, &sources, count, implied),
            None => {
                self.insert(path.to_string(), new_row(path, write, sources, count, implied));
            }
        }
    }
}

impl RowSink for HashMap<String, Row> {
    fn add(&mut self, path: &str, write: bool, sources: Sources, count: u64, implied: Option<&'static str>) {
        match self.get_mut(path) {
            Some(row) => merge(row, write, &sources, count, implied),
            None => {
                self.insert(path.to_string(), new_row(path, write, sources, count, implied));
            }
        }
    }
}

/// The loaders for the libraries seen (module docs).
fn loaders<'p>(paths: impl Iterator<Item = &'p str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut glibc = false;
    let mut dirs: Vec<&str> = Vec::new();
    for p in paths {
        for (marker, _, _) in GLIBC_LOADERS {
            if let Some(i) = p.find(marker) {
                let dir = &p[..i + marker.len()];
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
    for (marker, interp, file) in GLIBC_LOADERS {
        let seen: Vec<&&str> = dirs.iter().filter(|d| d.ends_with(marker)).collect();
        if seen.is_empty() {
            continue;
        }
        glibc = true;
        out.push(interp.to_string());
        // The interpreter's link resolves into the library directory (merged /usr or not).
        out.extend(seen.into_iter().map(|d| format!("{d}{file}")));
    }
    if !glibc {
        out.extend(MUSL_LOADERS.iter().map(|s| s.to_string()));
    }
    out
}

/// Paths collapsed by the aggregation rule, rows merged per collapsed target.
fn aggregate(files: HashMap<String, Row>, max_children: usize) -> Vec<Row> {
    let mut agg = Aggregator::new(max_children);
    for path in files.keys() {
        agg.observe(path);
    }
    let collapse = agg.finish();
    let mut out: BTreeMap<String, Row> = BTreeMap::new();
    for (path, row) in files {
        let target = collapse.apply(&path).into_owned();
        match out.get_mut(&target) {
            Some(r) => merge(r, row.write, &row.sources, row.count, row.implied),
            None => {
                let dir = target.ends_with('/');
                out.insert(target.clone(), Row { target, dir, ..row });
            }
        }
    }
    out.into_values().collect()
}

/// Rows KubeArmor could not match move to their deepest ancestor directory that fits (merged).
fn fit(rows: impl IntoIterator<Item = Row>) -> Vec<Row> {
    let mut out: BTreeMap<String, Row> = BTreeMap::new();
    for mut row in rows {
        let too_long = if row.dir { row.target.len() > MAX_DIR } else { row.target.len() > MAX_PATH };
        if too_long {
            let cut = row.target[..MAX_DIR.min(row.target.len())].rfind('/').unwrap_or(0);
            row.target = row.target[..=cut].to_string();
            row.dir = true;
        }
        match out.get_mut(&row.target) {
            Some(r) => {
                let (write, sources, count, implied) = (row.write, row.sources.clone(), row.count, row.implied);
                merge(r, write, &sources, count, implied);
            }
            None => {
                out.insert(row.target.clone(), row);
            }
        }
    }
    out.into_values().collect()
}

/// Header lines (`# ...`) every emitted file starts with.
#[derive(Clone, Debug, Default)]
pub struct Header {
    pub command: String,
    pub first: Option<String>,
    pub last: Option<String>,
    /// `(what, how many)` lines: events attributed, used, ...
    pub counts: Vec<(String, u64)>,
}

impl Header {
    pub fn render(&self, out: &mut String) {
        out.push_str("# Discovered by armorc discover from observed events; review before enforcing.\n");
        let _ = writeln!(out, "# command: {}", self.command.replace('\n', " "));
        let _ = writeln!(
            out,
            "# evidence window: {} .. {}",
            self.first.as_deref().unwrap_or("?"),
            self.last.as_deref().unwrap_or("?")
        );
        for (what, n) in &self.counts {
            let _ = writeln!(out, "# {what}: {n}");
        }
    }
}

/// The policy's name: `discover-<workload>-<container>`, a DNS-1123 subdomain.
pub fn policy_name(workload: &str, container: &str) -> String {
    dns_name(&format!("discover-{workload}-{container}"))
}

/// Lower-case alphanumerics, `-` and `.`, at most 253 characters, alphanumeric at both ends.
pub fn dns_name(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' })
        .take(253)
        .collect();
    mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

/// The KubeArmorPolicy YAML.
pub fn render(c: &ObservedContainer, w: &ObservedWorkload, rules: &Rules, action: Action, header: &Header) -> String {
    let mut y = String::new();
    header.render(&mut y);
    y.push_str("apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n");
    let _ = writeln!(y, "  name: {}", scalar(&policy_name(&c.workload, &c.container)));
    let _ = writeln!(y, "  namespace: {}", scalar(&c.namespace));
    y.push_str("spec:\n  selector:\n    matchLabels:\n");
    for (k, v) in &w.selector {
        let _ = writeln!(y, "      {}: {}", scalar(k), scalar(v));
    }
    let _ = writeln!(y, "      kubearmor.io/container.name: {}", scalar(&format!("[{}]", c.container)));
    if !rules.process.is_empty() {
        y.push_str("  process:\n");
        section(&mut y, &rules.process, false);
    }
    if !rules.file.is_empty() {
        y.push_str("  file:\n");
        section(&mut y, &rules.file, true);
    }
    if !rules.protocols.is_empty() {
        y.push_str("  network:\n    matchProtocols:\n");
        for (p, n) in &rules.protocols {
            let _ = writeln!(y, "    - protocol: {p} # {n}");
        }
    }
    if !rules.capabilities.is_empty() {
        y.push_str("  capabilities:\n    matchCapabilities:\n");
        for (name, n) in &rules.capabilities {
            let _ = writeln!(y, "    - capability: {name} # {n}");
        }
    }
    let _ = writeln!(y, "  action: {}", action.as_str());
    y
}

/// matchPaths then matchDirectories of one section; `file` adds readOnly.
fn section(y: &mut String, rows: &[Row], file: bool) {
    for (dirs, key) in [(false, "matchPaths"), (true, "matchDirectories")] {
        let mut chosen = rows.iter().filter(|r| r.dir == dirs).peekable();
        if chosen.peek().is_none() {
            continue;
        }
        let _ = writeln!(y, "    {key}:");
        for r in chosen {
            let note = match r.implied {
                Some(why) => format!("{} (implied: {why})", r.count),
                None => r.count.to_string(),
            };
            if dirs {
                let _ = writeln!(y, "    - dir: {} # {note}\n      recursive: true", scalar(&r.target));
            } else {
                let _ = writeln!(y, "    - path: {} # {note}", scalar(&r.target));
            }
            if file && !r.write {
                y.push_str("      readOnly: true\n");
            }
            // File rules name no source: BPF-LSM checks every read and write of an open file
            // against the executable doing it, and descriptors outlive their opener (a shell's
            // redirection written by the command it runs); the monitor sees only the open.
            if let (false, Sources::One(source)) = (file, &r.sources) {
                let _ = writeln!(y, "      fromSource:\n      - path: {}", scalar(source));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::SocketKind;

    fn container(ops: &[(Op, u64)]) -> ObservedContainer {
        ObservedContainer {
            namespace: "shop".into(),
            workload: "web".into(),
            container: "nginx".into(),
            workload_index: 0,
            events: 0,
            used: 0,
            window: Default::default(),
            ops: ops.iter().cloned().collect(),
            raw: Default::default(),
        }
    }
    fn file(path: &str, source: &str, write: bool) -> Op {
        Op::File { path: path.into(), source: source.into(), write }
    }
    fn options(min_count: u64, agg: usize) -> Options {
        Options { action: Action::Allow, min_count, agg_children: agg }
    }
    fn find<'r>(rows: &'r [Row], target: &str) -> &'r Row {
        rows.iter().find(|r| r.target == target).unwrap_or_else(|| panic!("no {target} in {rows:?}"))
    }

    #[test]
    fn execs_actors_and_loaders_are_implied() {
        let c = container(&[
            (Op::Exec { path: "/bin/ls".into(), source: "/bin/sh".into() }, 2),
            (file("/usr/lib/x86_64-linux-gnu/libc.so.6", "/bin/ls", false), 2),
            (file("/var/log/x", "/bin/sh", true), 1),
        ]);
        let r = rules(&c, &options(1, 10));
        let ls = find(&r.process, "/bin/ls");
        assert_eq!((ls.count, &ls.sources, ls.implied), (2, &Sources::One("/bin/sh".into()), None));
        // the actors /bin/sh and /bin/ls ran, so they are executables the policy must allow
        assert_eq!(find(&r.process, "/bin/sh").implied, Some("the process ran it"));
        assert!(find(&r.file, "/bin/ls").implied.is_some());
        assert!(!find(&r.file, "/bin/ls").write);
        assert_eq!(find(&r.file, "/var/log/x").sources, Sources::One("/bin/sh".into()));
        assert!(find(&r.file, "/var/log/x").write);
        // glibc x86_64 seen: its interpreter, as PT_INTERP names it and in the directory seen
        find(&r.file, "/lib64/ld-linux-x86-64.so.2");
        find(&r.file, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        assert!(!r.file.iter().any(|f| f.target.contains("musl")));
    }

    #[test]
    fn aggregation_min_count_and_long_paths() {
        let mut ops: Vec<(Op, u64)> =
            (0..4).map(|i| (file(&format!("/usr/share/zoneinfo/z{i}"), "/app", false), 1)).collect();
        ops.push((file("/tmp/a/b", "/app", true), 2));
        ops.push((file("/etc/hosts", "/app", false), 5));
        ops.push((file("/etc/rare", "/other", false), 1));
        let long = format!("/data/{}/f", "x".repeat(200));
        ops.push((file(&long, "/app", false), 3));
        ops.push((Op::Socket { kind: SocketKind { sock_type: 1, protocol: 0 }, source: "/app".into() }, 1));
        ops.push((Op::Capability { number: 13, source: "/app".into() }, 4));
        ops.push((Op::Capability { number: 39, source: "/app".into() }, 4));
        let r = rules(&container(&ops), &options(2, 3));
        let zone = find(&r.file, "/usr/share/zoneinfo/");
        assert!(zone.dir && !zone.write && zone.count == 4);
        let tmp = find(&r.file, "/tmp/");
        assert!(tmp.dir && tmp.write, "{tmp:?}");
        assert_eq!(find(&r.file, "/etc/hosts").count, 5);
        assert!(!r.file.iter().any(|f| f.target == "/etc/rare"), "min-count drops it");
        let data = find(&r.file, "/data/");
        assert!(data.dir && data.count == 3);
        // tcp was seen once (< 2): dropped; net_raw kept; bpf has no CRD name
        assert!(r.protocols.is_empty());
        assert_eq!(r.capabilities, vec![("net_raw", 4)]);
        assert_eq!(r.unnamed_capabilities, vec![39]);
        assert!(r.dropped >= 2);
        // no process ran an exec, but actors did: musl loaders stand in when no glibc was seen
        assert!(r.file.iter().any(|f| f.target == "/lib/ld-musl-x86_64.so.1"));
    }

    #[test]
    fn names_are_dns_subdomains() {
        assert_eq!(policy_name("Web_App", "nginx"), "discover-web-app-nginx");
        assert_eq!(dns_name("-a-"), "a");
    }
}
