//! `armorc summary`: karmor summary's tables from KubeArmor event files (docs/observe.md,
//! "summary"). Flags become `summary::Options`; the events stream through one `Summarizer`; the
//! report is rendered once, then written whole (to stdout, or atomically to `-o`).

use crate::Status;
use armorc_observe::aggregate::DEFAULT_MAX_CHILDREN;
use armorc_observe::event::{read_events, ReadError};
use armorc_observe::summary::render::{render, Format};
use armorc_observe::summary::{Options, Summarizer};
use armorc_observe::time;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
#[command(after_help = "\
Rows come from telemetry (ContainerLog, HostLog); alerts (MatchedPolicy, MatchedHostPolicy) add \
their Action to the STATUS of the row they match. STATUS lists every outcome seen: Allow (Passed), \
Audit and Block (alerts), Denied (a refused telemetry event), Failed (another error).

Exit status: 0 printed; 1 an event could not be read (file:line:column); 2 usage or I/O error. \
Nothing is written unless every event was read.")]
pub struct Args {
    /// Event files: JSON lines or pretty-printed JSON objects, KubeArmor's (`karmor logs --json`)
    /// or armor-loader's; gzip is detected; `-` is standard input.
    #[arg(required = true, value_name = "EVENTS")]
    events: Vec<PathBuf>,
    /// Only events of this namespace.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Only events whose Labels include every `k=v` (comma-separated, repeatable).
    #[arg(short = 'l', long = "labels", value_delimiter = ',')]
    labels: Vec<String>,
    /// Only events of this pod.
    #[arg(long)]
    pod: Option<String>,
    /// Only events of this container.
    #[arg(long)]
    container: Option<String>,
    /// Only events at or after T: an RFC 3339 time (2024-05-01T10:00:00Z) or a duration back
    /// from now (30s, 10m, 2h, 1d, 1h30m). Events without a time are left out.
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Aggregate file paths: /proc/PID, /tmp, /var/tmp, /dev/shm trees to their root, and
    /// directories (depth 2 or more) with more than --agg-children children to `dir/`.
    #[arg(long)]
    agg: bool,
    /// Children a directory may have before --agg collapses it.
    #[arg(long = "agg-children", value_name = "N", default_value_t = DEFAULT_MAX_CHILDREN, requires = "agg")]
    agg_children: usize,
    /// Output format.
    #[arg(long, value_parser = ["text", "json", "markdown", "html"], default_value = "text")]
    format: String,
    /// Write to FILE (atomically: a temporary sibling renamed into place) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn usage(message: impl std::fmt::Display) -> Status {
    eprintln!("armorc summary: {message}");
    Status::Usage
}

fn options(args: &Args) -> Result<Options, String> {
    let mut labels = Vec::new();
    for item in &args.labels {
        let (k, v) = item.split_once('=').ok_or_else(|| format!("-l `{item}`: expected key=value"))?;
        labels.push((k.to_string(), v.to_string()));
    }
    let since = match &args.since {
        None => None,
        Some(t) => Some(
            time::parse_rfc3339(t)
                .or_else(|| time::parse_duration(t).map(|d| time::now_micros().saturating_sub(d)))
                .ok_or_else(|| format!("--since `{t}`: expected an RFC 3339 time or a duration like 10m, 2h"))?,
        ),
    };
    Ok(Options {
        namespace: args.namespace.clone(),
        pod: args.pod.clone(),
        container: args.container.clone(),
        labels,
        since,
        aggregate: args.agg.then_some(args.agg_children),
    })
}

pub fn run(args: Args) -> Status {
    let options = match options(&args) {
        Ok(o) => o,
        Err(message) => return usage(message),
    };
    let format = Format::from_name(&args.format).unwrap_or(Format::Text);
    let mut summarizer = Summarizer::new(options);
    let read = read_events::<ReadError>(&args.events, |_, ev| {
        summarizer.observe(ev);
        Ok(())
    });
    match read {
        Ok(()) => {}
        Err(e @ ReadError::Syntax { .. }) => {
            eprintln!("armorc summary: {e}");
            return Status::Failure;
        }
        Err(e) => return usage(e),
    }
    let report = summarizer.report();
    let written = match &args.output {
        Some(path) => write_atomic(path, |out| render(&report, format, out)),
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match render(&report, format, &mut out).and_then(|()| out.flush()) {
                // `| head` closing the pipe is not an error worth a message.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| format!("stdout: {e}")),
            }
        }
    };
    match written {
        Ok(()) => Status::Success,
        Err(message) => usage(message),
    }
}

/// Write `path` through a temporary file in its directory, renamed into place once complete:
/// readers see the old file or the new one, never a part.
fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), String> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = std::io::BufWriter::new(tmp);
    fill(&mut out).and_then(|()| out.flush()).map_err(failed)?;
    let tmp = out.into_inner().map_err(|e| failed(e.into_error()))?;
    tmp.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}
