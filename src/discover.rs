//! `armorc discover`: KubeArmor telemetry events -> least-privilege allow-list KubeArmorPolicies
//! (one per workload container) and Kubernetes NetworkPolicies (one per workload), with a report
//! (`armorc_observe::discover`; docs/observe.md "## discover"). Everything is built in memory,
//! then written into a temporary sibling of OUT that replaces it in one rename.

use crate::Status;
use armorc_compiler::inputs::{self, Excludes};
use armorc_compiler::workload::Workloads;
use armorc_observe::discover::{report, Action, Collector, Options};
use armorc_observe::event::{read_events, ReadError};
use std::path::{Path, PathBuf};

const AFTER_LONG_HELP: &str = "\
Input: KubeArmor event JSON (`karmor logs --json`, `armor-loader --visibility`, KubeArmor's relay),
JSON lines or pretty-printed objects, gzip detected, `-` for standard input. Telemetry
(`Type: ContainerLog`) is used; alerts and HostLog are counted and skipped; failed operations
never become rules.

Workload identity: a --workloads manifest whose selector the pod's labels carry (its name and
selector; its `armorc.io/ips` annotation lists addresses its pods and Services are reached at),
else the event's Owner, else the pod name less its controller's suffixes, selecting by the
event's labels less per-pod ones (pod-template-hash, ...).

Output (OUT):
  <namespace>/<workload>-<container>.kubearmorpolicy.yaml
                       allow-list KubeArmorPolicy: process, file (readOnly where only reads were
                       seen; aggregated directories recursive), network protocols, capabilities;
                       fromSource on process, network and capability rules one executable alone
                       used (not on file rules: descriptors outlive their opener); what the kernel needs without
                       an event (exec'd binaries opened, ELF interpreters) marked `implied`
  <namespace>/<workload>.networkpolicy.yaml
                       networking.k8s.io/v1 NetworkPolicy: egress per peer, ingress from peers'
                       egress and accepts, kube-dns when port 53 was used
  report.json          counts, rules, coverage (the share of used events the policies allow,
                       decided by armorc's BPF-LSM model under posture block)
OUT is replaced as a whole (built beside it, then renamed); nothing is written on error. An
existing OUT must be empty or an earlier discover output (it has report.json).

Exit status:
  0  written
  1  an event or workload file is malformed (file:line:column)
  2  usage or I/O error";

#[derive(clap::Args)]
#[command(after_long_help = AFTER_LONG_HELP)]
pub struct Args {
    /// Event files (JSON lines or pretty objects, gzip ok); `-` reads standard input.
    #[arg(value_name = "EVENTS", required = true)]
    pub events: Vec<PathBuf>,
    /// Workload manifests (files or directories) naming the workloads and their selectors.
    #[arg(long, value_name = "PATH")]
    pub workloads: Vec<String>,
    /// The action of the emitted KubeArmorPolicies.
    #[arg(long, value_enum, default_value_t = ActionArg::Allow)]
    pub action: ActionArg,
    /// Leave out rules (and NetworkPolicy ports) seen fewer than N times.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_count: u64,
    /// A directory with more than N distinct children observed becomes one recursive rule.
    #[arg(long, value_name = "N", default_value_t = armorc_observe::aggregate::DEFAULT_MAX_CHILDREN)]
    pub agg_children: usize,
    /// Output directory.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionArg {
    #[value(name = "Allow", alias = "allow")]
    Allow,
    #[value(name = "Audit", alias = "audit")]
    Audit,
}

pub fn run(args: Args) -> Status {
    match discover_to(&args) {
        Ok(status) => status,
        Err((status, message)) => {
            eprintln!("armorc discover: {message}");
            status
        }
    }
}

type Failure = (Status, String);

fn discover_to(args: &Args) -> Result<Status, Failure> {
    if args.events.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err((Status::Usage, "`-` (standard input) given more than once".into()));
    }
    let workloads = read_workloads(&args.workloads)?;
    let options = Options {
        action: match args.action {
            ActionArg::Allow => Action::Allow,
            ActionArg::Audit => Action::Audit,
        },
        min_count: args.min_count,
        agg_children: args.agg_children,
    };
    let mut collector = Collector::new((!args.workloads.is_empty()).then_some(&workloads));
    read_events::<ReadError>(&args.events, |_, ev| {
        collector.observe(ev);
        Ok(())
    })
    .map_err(|e| match e {
        ReadError::Open { .. } => (Status::Usage, format!("error: {e}")),
        // malformed JSON, invalid UTF-8, a corrupt gzip stream: the input is bad
        _ => (Status::Failure, format!("error: {e}")),
    })?;
    let output = report::finish(collector, &options, &command_line()).map_err(|m| (Status::Failure, m))?;
    let json = serde_json::to_string_pretty(&output.report).map_err(|e| (Status::Usage, e.to_string()))?;
    let mut files = output.files;
    files.push(("report.json".into(), json + "\n"));
    write_out(&args.out, &files).map_err(|m| (Status::Usage, m))?;
    let r = &output.report;
    eprintln!(
        "armorc discover: {} read ({} used); {} KubeArmorPolicy and {} NetworkPolicy files written to {}",
        crate::plural(r.events.read as usize, "event"),
        r.events.used,
        r.kubearmor_policies.iter().filter(|p| p.file.is_some()).count(),
        r.network_policies.len(),
        args.out.display()
    );
    for note in &r.notes {
        eprintln!("note: {note}");
    }
    Ok(Status::Success)
}

/// The command as typed (for the headers and the report), arguments quoted where a shell would
/// need it.
fn command_line() -> String {
    let quote = |a: String| {
        if !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-=,:@".contains(&b)) {
            a
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    let mut words: Vec<String> = std::env::args().map(quote).collect();
    if let Some(first) = words.first_mut() {
        *first = "armorc".into();
    }
    words.join(" ")
}

fn read_workloads(paths: &[String]) -> Result<Workloads, Failure> {
    let mut workloads = Workloads::default();
    if paths.is_empty() {
        return Ok(workloads);
    }
    let excludes = Excludes::new::<&str>(&[]).map_err(|e| (Status::Usage, e.to_string()))?;
    let expanded = inputs::expand(paths, false, &excludes);
    if let Some(e) = expanded.errors.first() {
        return Err((Status::Usage, format!("error: {e}")));
    }
    for input in &expanded.inputs {
        let loaded = inputs::load(input).map_err(|e| (Status::Usage, format!("error: {e}")))?;
        if let Some(d) = loaded.not_utf8 {
            let lc = d.file.line_col(d.span.map(|s| s.start).unwrap_or(0));
            return Err((Status::Failure, format!("{}:{}:{}: error: {}", input.name(), lc.line, lc.column, d.message)));
        }
        workloads.read(&loaded.source).map_err(|e| (Status::Failure, e.to_string()))?;
    }
    Ok(workloads)
}

/// OUT replaced as a whole: written into `.NAME.tmp-PID` beside it, then swapped in.
fn write_out(out: &Path, files: &[(String, String)]) -> Result<(), String> {
    let name = out.file_name().ok_or_else(|| format!("{}: not a directory name", out.display()))?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if out.exists() {
        let empty =
            out.is_dir() && std::fs::read_dir(out).map_err(|e| format!("{}: {e}", out.display()))?.next().is_none();
        if !empty && !out.join("report.json").is_file() {
            return Err(format!(
                "{} exists and is not an armorc discover output (no report.json); refusing to replace it",
                out.display()
            ));
        }
    }
    let tmp = parent.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let old = parent.join(format!(".{}.old-{}", name.to_string_lossy(), std::process::id()));
    let write = || -> std::io::Result<()> {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        for (rel, text) in files {
            let path = tmp.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, text)?;
        }
        std::fs::create_dir_all(&tmp)?;
        if !out.exists() {
            return std::fs::rename(&tmp, out);
        }
        match armorc_compiler::outputs::exchange_dirs(&tmp, out) {
            Ok(()) => return std::fs::remove_dir_all(&tmp),
            // A filesystem without RENAME_EXCHANGE: two renames.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::ENOTSUP)) => {}
            Err(e) => return Err(e),
        }
        std::fs::rename(out, &old)?;
        if let Err(e) = std::fs::rename(&tmp, out) {
            let _ = std::fs::rename(&old, out);
            return Err(e);
        }
        std::fs::remove_dir_all(&old)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        format!("cannot write {}: {e}", out.display())
    })
}
