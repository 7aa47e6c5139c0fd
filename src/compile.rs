//! `armorc compile`: policies + workloads -> per-container BPF-LSM map images and AppArmor
//! profiles, with `OUT/index.json`. Everything is built in memory first; then either compared with
//! OUT (`--check`) or written into a temporary sibling directory that replaces OUT in one rename.

use crate::collect::{self, InputArgs};
use crate::lint::DenyArg;
use crate::Status;
use armorc_compiler::compose::{self, ComposeOptions, Composition, Enforcement, Finding, Posture, Target};
use armorc_compiler::diag::Severity;
use armorc_compiler::divergence::{self, Collected};
use armorc_compiler::inputs::{self, Excludes};
use armorc_compiler::ir::Policy;
use armorc_compiler::lower;
use armorc_compiler::render::{self, Format};
use armorc_compiler::workload::{Workload, Workloads};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

const AFTER_LONG_HELP: &str = "\
Output (OUT):
  index.json                          every target: namespace, workload, container, host, enforcement,
                                      posture, bpf / apparmor paths, apparmor_profile, policies
  bpf/<namespace>/<workload>/<container>.img, bpf/host.img
                                      map images (docs/map-image.md); inspect with `armorc explain`
  apparmor/<profile>, apparmor/<profile>.map.json
                                      AppArmor profiles and their line -> rule source maps
  patches/<namespace>/<workload>.yaml securityContext.appArmorProfile patches
  landlock/<namespace>/<workload>/<container>.json, landlock/host.json
                                      Landlock ruleset plans (docs/landlock-plan.md); what Landlock
                                      cannot express is a K001-K004 warning
  patches/landlock/<namespace>/<workload>.yaml, patches/landlock/<namespace>/<workload>_plans.yaml
                                      patches that start each container with a `command` through
                                      armor-exec under its plan, and the ConfigMap of the plans
                                      (docs/runtime.md); a container without `command` is K005
  divergence.json                     (--target all) where BPF-LSM and AppArmor decide differently,
                                      per target (not with --no-divergence); list it with
                                      `armorc explain --divergence OUT`
OUT is replaced as a whole (built beside it, then renamed); nothing is written on error.
Files whose bytes did not change are hard-linked from the previous OUT instead of rewritten.

Posture (--default-posture, --host-default-posture): `block`, `audit`, or
`file=block,network=audit,capabilities=block` (unnamed categories keep the default, audit).
Namespace annotations kubearmor-{file,network,capabilities}-posture override it per namespace.

Exit status:
  0  compiled (or, with --check, OUT is up to date)
  1  lint errors in the policies, unreadable workloads, a target over --capacity, a warning
     with --deny warning, a divergence with --deny-divergence, or a profile apparmor_parser
     rejects (--verify-apparmor)
  2  usage or I/O error (also: --verify-apparmor without apparmor_parser installed)
  3  --check found differences (each is listed)";

#[derive(clap::Args)]
#[command(after_long_help = AFTER_LONG_HELP)]
pub struct Args {
    /// Policy files or directories (as for `lint`); `-` reads standard input.
    #[arg(value_name = "POLICIES", required = true)]
    pub paths: Vec<String>,
    /// Workload files or directories (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
    /// CronJob, Namespace); repeatable.
    #[arg(long, value_name = "PATH")]
    pub workloads: Vec<String>,
    /// Node labels `k=v,...` for host policies; a host target exists only with this flag.
    #[arg(long, value_name = "K=V,...")]
    pub node_labels: Option<String>,
    /// What to generate.
    #[arg(long, value_enum)]
    pub target: TargetArg,
    /// Output directory.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: PathBuf,
    /// Compare what would be written with OUT; exit 3 listing every difference.
    #[arg(long)]
    pub check: bool,
    /// Lowest severity that fails the compilation.
    #[arg(long, value_enum, default_value_t = DenyArg::Error)]
    pub deny: DenyArg,
    /// Default posture for containers and the host (see below).
    #[arg(long, value_name = "POSTURE")]
    pub default_posture: Option<String>,
    /// Default posture for the host, overriding --default-posture.
    #[arg(long, value_name = "POSTURE")]
    pub host_default_posture: Option<String>,
    /// Check every generated AppArmor profile with `apparmor_parser -QK` (parse and compile, never
    /// load) before anything is written; a rejection names the policy rule behind the line.
    #[arg(long)]
    pub verify_apparmor: bool,
    /// Map entries allowed per target; more is an error naming the policies. At most 4096, the
    /// size of a kernel rule map (the loader refuses larger images).
    #[arg(long, value_name = "N", default_value_t = armorc_compiler::image::MAX_ENTRIES)]
    pub capacity: usize,
    /// Print how long each phase took (to standard error).
    #[arg(long)]
    pub timings: bool,
    /// Make every divergence between BPF-LSM and AppArmor or Landlock (D001-D010, found with
    /// --target all) an error: for clusters whose nodes use different enforcers.
    #[arg(long)]
    pub deny_divergence: bool,
    /// Skip the divergence analysis of --target all (for clusters whose nodes all use one
    /// enforcer): no D001-D010 warnings, no divergence.json, no divergence counts in index.json.
    #[arg(long, conflicts_with = "deny_divergence")]
    pub no_divergence: bool,
    /// Also enforce every path rule as the kernel spells it in these images (repeatable,
    /// comma-separated; as `lint --image`): a path through a symlink (`/bin/ls` where /bin is a
    /// link to usr/bin) gets a second rule with the resolved path (`/usr/bin/ls`), reported under
    /// the rule as written. `armorc lint --image` lists the rules concerned (I001).
    #[arg(long = "resolve-symlinks", value_name = "IMAGE", value_delimiter = ',')]
    pub resolve_symlinks: Vec<String>,
    /// The image of the init container that copies the static armor-exec into Landlock-patched
    /// pods (patches/landlock/; built by scripts/armor-exec.sh --image).
    #[arg(long, value_name = "REF", default_value = lower::landlock_patch::DEFAULT_IMAGE)]
    pub armor_exec_image: String,
    #[command(flatten)]
    pub inputs: InputArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetArg {
    Bpf,
    Apparmor,
    Landlock,
    /// BPF-LSM, AppArmor and Landlock, and the BPF-LSM/AppArmor divergence analysis.
    All,
}

/// Wall time per phase, for `--timings`; phases repeated per target are summed.
struct Timings {
    /// `--timings` was given: peaks are read and everything is printed.
    enabled: bool,
    phases: Vec<(&'static str, std::time::Duration)>,
    /// Work of another thread, beside the phases (not part of their total).
    beside: Vec<(&'static str, std::time::Duration)>,
    /// Peak resident memory (Linux) when each sequential phase ended.
    peaks: Vec<(&'static str, u64)>,
}

impl Timings {
    fn add(&mut self, phase: &'static str, since: std::time::Instant) {
        let d = since.elapsed();
        match self.phases.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, t)) => *t += d,
            None => self.phases.push((phase, d)),
        }
    }

    /// Records the process's peak resident memory so far (from /proc; nothing elsewhere).
    fn peak(&mut self, after: &'static str) {
        if !self.enabled {
            return;
        }
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
        if let Some(kb) = kb {
            self.peaks.push((after, kb));
        }
    }

    fn print(&self) {
        if !self.enabled {
            return;
        }
        let total: std::time::Duration = self.phases.iter().map(|(_, d)| *d).sum();
        for (phase, d) in &self.phases {
            eprintln!("timing: {phase:<18} {:>8.1} ms", d.as_secs_f64() * 1e3);
        }
        eprintln!("timing: {:<18} {:>8.1} ms", "total", total.as_secs_f64() * 1e3);
        for (work, d) in &self.beside {
            eprintln!(
                "timing: {work:<18} {:>8.1} ms (on its own thread, beside the phases above)",
                d.as_secs_f64() * 1e3
            );
        }
        for (after, kb) in &self.peaks {
            eprintln!("timing: peak memory after {after}: {:.1} MB", *kb as f64 / 1024.0);
        }
    }
}

/// Compilation stopped early: only the exit status. Whatever explains it has already been
/// printed on stderr (by `fail`, or by the step that stopped) when a `Stop` is made.
struct Stop(Status);

pub fn run(args: Args) -> Status {
    match compile(&args) {
        Ok(code) => code,
        Err(Stop(code)) => code,
    }
}

fn fail(code: Status, message: impl std::fmt::Display) -> Stop {
    eprintln!("armorc compile: {message}");
    Stop(code)
}

fn compile(args: &Args) -> Result<Status, Stop> {
    // Options first: a usage error must not depend on the inputs.
    let posture = match &args.default_posture {
        Some(p) => compose::parse_posture(p, Posture::default())
            .map_err(|e| fail(Status::Usage, format!("--default-posture: {e}")))?,
        None => Posture::default(),
    };
    let host_posture = match &args.host_default_posture {
        Some(p) => Some(
            compose::parse_posture(p, posture)
                .map_err(|e| fail(Status::Usage, format!("--host-default-posture: {e}")))?,
        ),
        None => None,
    };
    let node_labels = match &args.node_labels {
        Some(l) => Some(compose::parse_labels(l).map_err(|e| fail(Status::Usage, format!("--node-labels: {e}")))?),
        None => None,
    };
    if args.capacity == 0 || args.capacity > armorc_compiler::image::MAX_ENTRIES {
        return Err(fail(
            Status::Usage,
            format!(
                "--capacity must be between 1 and {} (a kernel rule map's size; the loader refuses larger images)",
                armorc_compiler::image::MAX_ENTRIES
            ),
        ));
    }
    if args.armor_exec_image.is_empty() || args.armor_exec_image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail(
            Status::Usage,
            format!(
                "--armor-exec-image {:?}: an image reference has no spaces or control characters",
                args.armor_exec_image
            ),
        ));
    }
    if args.verify_apparmor {
        if matches!(args.target, TargetArg::Bpf | TargetArg::Landlock) {
            return Err(fail(Status::Usage, "--verify-apparmor needs --target apparmor or all"));
        }
        parser_present().map_err(|e| fail(Status::Usage, e))?;
    }

    let mut timings = Timings { enabled: args.timings, phases: Vec::new(), beside: Vec::new(), peaks: Vec::new() };
    // Policies: exactly lint's reading and checks.
    let t = std::time::Instant::now();
    let outcome = collect::collect(&args.paths, &args.inputs, true).map_err(|e| fail(Status::Usage, e))?;
    outcome.print_notes();
    if !outcome.io_errors.is_empty() {
        return Err(Stop(Status::Usage));
    }
    if outcome.report.errors() > 0 {
        let mut options = render::Options::detect(env!("CARGO_PKG_VERSION"));
        options.color = false;
        eprint!("{}", render::render(Format::Human, &outcome.report, &options));
    } else if !outcome.report.diagnostics.is_empty() {
        // Warnings only: one line each (`armorc lint` shows them with their source lines).
        let mut text = String::new();
        for d in &outcome.report.diagnostics {
            let (start, _) = render::position(d);
            let severity = render::severity_word(d.severity);
            text.push_str(&format!(
                "{}:{}:{}: {severity}[{}]: {}\n",
                render::display_name(&d.file.name),
                start.line,
                start.column,
                d.code,
                d.message
            ));
        }
        eprint!("{text}");
    }
    if outcome.report.errors() > 0 {
        return Err(fail(
            Status::Failure,
            format!("{} lint error(s) in the policies; nothing written", outcome.report.errors()),
        ));
    }
    if outcome.report.documents == 0 {
        return Err(fail(Status::Failure, "no KubeArmor document found in POLICIES"));
    }
    let policies = resolve_symlinks(args, outcome.policies)?;
    timings.add("read and lint", t);
    timings.peak("read and lint");

    let t = std::time::Instant::now();
    let workloads = read_workloads(&args.workloads, &args.inputs, "compile").map_err(Stop)?;
    timings.add("read workloads", t);
    let t = std::time::Instant::now();
    let options = ComposeOptions { posture, host_posture, node_labels };
    let composition = compose::compose(&policies, &workloads, &options);
    timings.add("compose", t);
    timings.peak("compose");
    for note in workloads.notes.iter().chain(&composition.notes) {
        eprintln!("note: {note}");
    }
    if workloads.skipped > 0 {
        eprintln!("note: {} workload document(s) of other kinds skipped", workloads.skipped);
    }

    let mut warnings = outcome.report.warnings();
    for f in &composition.findings {
        eprintln!("{}", format_finding(f));
        if f.severity == Severity::Warning {
            warnings += 1;
        }
    }
    if args.deny == DenyArg::Warning && warnings > 0 {
        return Err(fail(Status::Failure, format!("{warnings} warning(s) and --deny warning; nothing written")));
    }

    let mut sink = if args.check { OutputSink::check(&args.out) } else { OutputSink::write(&args.out) }
        .map_err(|e| fail(Status::Usage, e))?;
    // Rules L011/C003 already warn about: the divergence analysis does not repeat them (D004).
    let mut warned: HashSet<(String, usize, usize)> = HashSet::new();
    for d in outcome.report.diagnostics.iter().filter(|d| d.code == armorc_compiler::codes::Code::L011) {
        let (start, _) = render::position(d);
        warned.insert((d.file.name.clone(), start.line, start.column));
    }
    for f in composition.findings.iter().filter(|f| f.code == armorc_compiler::codes::Code::C003) {
        if let Some(o) = &f.origin {
            warned.insert((o.file.clone(), o.line, o.column));
        }
    }
    let built = build(args, &policies, &composition, &workloads, &warned, &mut sink, &mut timings);
    timings.peak("lowering and writing");
    for f in &built.findings {
        eprintln!("{}", format_finding(f));
    }
    let divergence_findings = built.divergence.as_ref().map(|d| divergence_findings(d, args.deny_divergence));
    for f in divergence_findings.iter().flatten() {
        eprintln!("{}", format_finding(f));
    }
    if let Some(d) = &built.divergence {
        let rules = divergence_findings.as_ref().map_or(0, Vec::len);
        let targets = built.divergent_targets;
        eprintln!(
            "armorc compile: {} divergence(s) between BPF-LSM and AppArmor or Landlock in {targets} of {} target(s), {rules} \
             rule warning(s){}",
            built.divergence_total,
            composition.targets.len(),
            if d.items.is_empty() { "" } else { " (list: armorc explain --divergence OUT)" }
        );
    }
    for f in built.landlock_findings.iter().chain(&built.patch_findings) {
        eprintln!("{}", format_finding(f));
    }
    if built.plans > 0 && !built.landlock_findings.is_empty() {
        eprintln!(
            "armorc compile: {} rule warning(s) about what Landlock cannot express (docs/semantics.md \"## Landlock\")",
            built.landlock_findings.len()
        );
    }
    let rules_diverging = divergence_findings.as_ref().map_or(0, Vec::len);
    let problem = match (&built.io_error, &built.error, built.findings.len()) {
        (Some(e), _, _) => Some((Status::Usage, e.clone())),
        (None, Some(e), _) => Some((Status::Failure, e.clone())),
        (None, None, 0) if rules_diverging > 0 && args.deny_divergence => Some((
            Status::Failure,
            format!("{rules_diverging} divergence error(s) and --deny-divergence; nothing written"),
        )),
        (None, None, 0) => None,
        (None, None, n) => Some((Status::Failure, format!("{n} error(s); nothing written"))),
    };
    if let Some((code, message)) = problem {
        sink.abandon();
        return Err(fail(code, message));
    }

    let mut summary = format!(
        "{} target(s), {} map image(s), {} AppArmor profile(s)",
        composition.targets.len(),
        built.images,
        built.profiles
    );
    if matches!(args.target, TargetArg::Landlock | TargetArg::All) {
        summary.push_str(&format!(", {} Landlock plan(s)", built.plans));
    }
    let t = std::time::Instant::now();
    let differences = sink.finish().map_err(|e| fail(Status::Usage, e))?;
    timings.add(if args.check { "compare" } else { "replace OUT" }, t);
    timings.print();
    if !args.check {
        eprintln!("armorc compile: wrote {} ({summary})", args.out.display());
        return Ok(Status::Success);
    }
    if differences.is_empty() {
        eprintln!("armorc compile: {} is up to date ({summary})", args.out.display());
        return Ok(Status::Success);
    }
    let mut text = String::new();
    for d in &differences {
        text.push_str(d);
        text.push('\n');
    }
    crate::write_stdout(&text).map_err(|e| fail(Status::Usage, e))?;
    eprintln!(
        "armorc compile: {} difference(s) between the compiled output and {}",
        differences.len(),
        args.out.display()
    );
    Ok(Status::OutOfDate)
}

/// `armorc compile --target all` of policies already read and composed, written into OUT as
/// compile writes it (a temporary sibling tree renamed into place): `armorc test --kernel`'s
/// bundle. The error is compile's (a capacity error, two targets writing one file, I/O).
pub(crate) fn write_all(
    out: &Path,
    policies: &[Policy],
    composition: &Composition,
    workloads: &Workloads,
    node_labels: Option<&BTreeMap<String, String>>,
) -> Result<(), String> {
    let args = Args {
        paths: Vec::new(),
        workloads: Vec::new(),
        node_labels: node_labels.map(|l| l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")),
        target: TargetArg::All,
        out: out.to_path_buf(),
        check: false,
        deny: DenyArg::Error,
        default_posture: None,
        host_default_posture: None,
        verify_apparmor: false,
        capacity: armorc_compiler::image::MAX_ENTRIES,
        timings: false,
        deny_divergence: false,
        no_divergence: false,
        resolve_symlinks: Vec::new(),
        armor_exec_image: lower::landlock_patch::DEFAULT_IMAGE.to_string(),
        inputs: InputArgs { exclude: Vec::new(), follow: false, config: None },
    };
    let mut sink = OutputSink::write(out)?;
    let mut timings = Timings { enabled: false, phases: Vec::new(), beside: Vec::new(), peaks: Vec::new() };
    let built = build(&args, policies, composition, workloads, &HashSet::new(), &mut sink, &mut timings);
    if let Some(problem) = built.io_error.or(built.error).or_else(|| built.findings.first().map(format_finding)) {
        sink.abandon();
        return Err(problem);
    }
    sink.finish().map(|_| ())
}

/// `--workloads` of `compile` and `lint`: every file read with `compiler::workload`, our own
/// output trees below a directory skipped. Errors are printed (`armorc COMMAND: ...`); the status
/// is 2 for paths that cannot be read, 1 for malformed workloads.
pub(crate) fn read_workloads(paths: &[String], options: &InputArgs, command: &str) -> Result<Workloads, Status> {
    let fail = |code: Status, message: &dyn std::fmt::Display| {
        eprintln!("armorc {command}: {message}");
        code
    };
    let mut workloads = Workloads::default();
    if paths.is_empty() {
        return Ok(workloads);
    }
    let excludes = Excludes::new(&options.exclude).map_err(|e| fail(Status::Usage, &e))?;
    let expanded = inputs::expand(paths, options.follow, &excludes);
    if !expanded.errors.is_empty() {
        for e in &expanded.errors {
            eprintln!("error: {e}");
        }
        return Err(Status::Usage);
    }
    let (mut ours, mut noted) = (HashMap::new(), HashSet::new());
    for input in &expanded.inputs {
        if let inputs::Input::File { name, .. } = input {
            if let Some(tree) = inside_output_tree(Path::new(name), &mut ours) {
                // OUT (or a temporary tree of ours) below a --workloads directory: its
                // patches/*.yaml are our output, not workloads.
                if noted.insert(tree.clone()) {
                    eprintln!("note: {}: skipped (an armorc compile output, not workloads)", tree.display());
                }
                continue;
            }
        }
        let loaded = inputs::load(input).map_err(|e| fail(Status::Usage, &e))?;
        if let Some(d) = loaded.not_utf8 {
            let lc = d.file.line_col(d.span.map(|s| s.start).unwrap_or(0));
            let message = format!("{}:{}:{}: error: {}", input.name(), lc.line, lc.column, d.message);
            return Err(fail(Status::Failure, &message));
        }
        workloads.read(&loaded.source).map_err(|e| fail(Status::Failure, &e))?;
    }
    Ok(workloads)
}

/// The nearest directory above `file` that is an armorc output tree: it holds our index.json
/// (version 1 with `targets`), or it is named as our temporary trees (`.OUT.tmp-PID`,
/// `.OUT.old-PID`). `known` caches the answer per directory.
pub(crate) fn inside_output_tree(file: &Path, known: &mut HashMap<PathBuf, bool>) -> Option<PathBuf> {
    for dir in file.ancestors().skip(1).filter(|d| !d.as_os_str().is_empty()) {
        let ours = *known.entry(dir.to_path_buf()).or_insert_with(|| {
            let temporary = dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| temporary_pid(n).is_some());
            temporary || is_our_index(&dir.join("index.json"))
        });
        if ours {
            return Some(dir.to_path_buf());
        }
    }
    None
}

/// Whether `path` is an index.json that `armorc compile` wrote.
fn is_our_index(path: &Path) -> bool {
    let Ok(bytes) = inputs::read_file_capped(path, inputs::MAX_INPUT_BYTES) else { return false };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return false };
    value.get("version") == Some(&serde_json::json!(1)) && value.get("targets").is_some_and(|t| t.is_array())
}

/// For `.NAME.tmp-PID` / `.NAME.old-PID` (our temporary trees beside OUT): NAME and PID.
fn temporary_pid(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_prefix('.')?;
    let (stem, pid) = rest.rsplit_once('-')?;
    let out = stem.strip_suffix(".tmp").or_else(|| stem.strip_suffix(".old"))?;
    if out.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((out, pid.parse().ok()?))
}

/// Whether process `pid` exists (in our pid namespace).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Remove `.NAME.tmp-PID` / `.NAME.old-PID` directories in `parent` left by compiles of OUT
/// `name` that were killed (their PID no longer runs). Live ones (a concurrent compile) stay.
fn remove_stale_trees(parent: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some((out, pid)) = file_name.to_str().and_then(temporary_pid) else { continue };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if out == name && is_dir && pid != std::process::id() && !alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub fn format_finding(f: &Finding) -> String {
    let severity = render::severity_word(f.severity);
    let mut s = match &f.origin {
        Some(o) => {
            format!("{}:{}:{}: {severity}[{}]: {}", render::display_name(&o.file), o.line, o.column, f.code, f.message)
        }
        None => format!("{severity}[{}]: {}", f.code, f.message),
    };
    for (o, label) in &f.related {
        s.push_str(&format!("\n  = {}:{}:{}: {label} ({})", render::display_name(&o.file), o.line, o.column, o.at));
    }
    s
}

/// One finding per (code, rule) over every target, as warnings (errors with --deny-divergence).
fn divergence_findings(collected: &Collected, deny: bool) -> Vec<Finding> {
    collected
        .per_rule()
        .into_iter()
        .map(|(d, targets)| Finding {
            code: d.code,
            severity: if deny { Severity::Error } else { Severity::Warning },
            message: format!("{} ({targets} target(s))", d.message()),
            origin: Some(d.rule.clone()),
            related: d.related.iter().cloned().collect(),
        })
        .collect()
}

/// `OUT/divergence.json`: each distinct divergence once, and per target the ones it has.
#[derive(serde::Serialize)]
struct DivergenceFile<'a> {
    divergences: &'a [divergence::Divergence],
    targets: Vec<DivergenceTarget>,
    version: u32,
}

#[derive(serde::Serialize)]
struct DivergenceTarget {
    /// Indexes into `divergences`.
    divergences: Vec<usize>,
    /// `namespace/workload/container` or `host`, as in index.json.
    target: String,
    /// Why the target was not analysed, if it was not.
    unanalysed: Option<String>,
}

/// The divergence analysis on its own thread: it analyses one target while the next ones are
/// lowered and written (the analysis costs about as much as the lowering it checks).
struct DivergenceWorker<'scope> {
    jobs: std::sync::mpsc::SyncSender<DivergenceJob<'scope>>,
    handle: std::thread::ScopedJoinHandle<'scope, AnalysedTargets>,
}

/// One target to analyse: its map image and profile text, as written.
struct DivergenceJob<'a> {
    /// Its index in the composition (and in index.json).
    at: usize,
    target: &'a Target,
    image: armorc_compiler::image::MapImage,
    profile: lower::apparmor::Profile,
    /// Its Landlock plan and the rules K-warned there, where the plan applies (D010).
    landlock:
        Option<(armorc_compiler::landlock::Plan, Vec<(armorc_compiler::codes::Code, armorc_compiler::ir::Origin)>)>,
}

struct AnalysedTarget {
    at: usize,
    file: DivergenceTarget,
}

struct AnalysedTargets {
    collected: Collected,
    /// In the order the targets were sent.
    targets: Vec<AnalysedTarget>,
    /// Time the thread spent analysing, and the time the lowering then waited for it.
    busy: std::time::Duration,
    waited: std::time::Duration,
}

impl<'scope> DivergenceWorker<'scope> {
    fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        policies: &'env [Policy],
        warned: &'env HashSet<(String, usize, usize)>,
    ) -> Self {
        // Bounded: a slow analysis holds the lowering back instead of queueing every image.
        let (jobs, received) = std::sync::mpsc::sync_channel::<DivergenceJob>(8);
        let handle = scope.spawn(move || {
            let mut analyzer = divergence::Analyzer::default();
            let mut out = AnalysedTargets {
                collected: Collected::default(),
                targets: Vec::new(),
                busy: std::time::Duration::ZERO,
                waited: std::time::Duration::ZERO,
            };
            for job in received {
                let t = std::time::Instant::now();
                let applied: Vec<&Policy> = job.target.policies.iter().map(|&i| &policies[i]).collect();
                let landlock = job
                    .landlock
                    .as_ref()
                    .map(|(plan, warned)| divergence::Landlock { plan, warned: warned.as_slice() });
                let (divergences, unanalysed) =
                    match analyzer.analyze(job.target, &applied, &job.image, &job.profile, landlock) {
                        Ok(found) => {
                            // Rules L011/C003 already warn about are not repeated as D004.
                            let kept = found
                                .into_iter()
                                .filter(|(_, d)| {
                                    d.code != armorc_compiler::codes::Code::D004
                                        || !warned.contains(&(d.rule.file.clone(), d.rule.line, d.rule.column))
                                })
                                .map(|(number, _)| number);
                            (out.collected.add(kept), None)
                        }
                        Err(divergence::Unanalysed(e)) => (Vec::new(), Some(e)),
                    };
                let file = DivergenceTarget { divergences, target: job.image.target.clone(), unanalysed };
                out.targets.push(AnalysedTarget { at: job.at, file });
                out.busy += t.elapsed();
            }
            let t = std::time::Instant::now();
            out.collected.finish(analyzer);
            out.busy += t.elapsed();
            out
        });
        DivergenceWorker { jobs, handle }
    }

    fn send(&self, job: DivergenceJob<'scope>) {
        // The thread only stops when the channel closes (or it panicked: `finish` says so).
        let _ = self.jobs.send(job);
    }

    /// Waits for the analysis of every target sent.
    fn finish(self) -> AnalysedTargets {
        let t = std::time::Instant::now();
        drop(self.jobs);
        let mut out = self.handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        out.waited = t.elapsed();
        out
    }
}

/// What building produced besides the files (which went to the sink).
struct Built {
    /// With --target all: every target's divergences (None: not analysed).
    divergence: Option<Collected>,
    /// Targets with at least one divergence, and the sum of divergences over targets.
    divergent_targets: usize,
    divergence_total: usize,
    /// Capacity errors.
    findings: Vec<Finding>,
    /// A problem that is no rule's fault (two workloads mapping to one file).
    error: Option<String>,
    io_error: Option<String>,
    images: usize,
    profiles: usize,
    plans: usize,
    /// K001-K004, once per (code, rule) over every target.
    landlock_findings: Vec<Finding>,
    /// K005: containers the Landlock patches cannot wrap.
    patch_findings: Vec<Finding>,
}

fn build(
    args: &Args,
    policies: &[Policy],
    composition: &Composition,
    workloads: &Workloads,
    warned: &HashSet<(String, usize, usize)>,
    sink: &mut OutputSink,
    timings: &mut Timings,
) -> Built {
    // validated before composing; the host target's labels in index.json
    let node_labels = args.node_labels.as_deref().and_then(|l| compose::parse_labels(l).ok());
    let bpf = matches!(args.target, TargetArg::Bpf | TargetArg::All);
    let apparmor = matches!(args.target, TargetArg::Apparmor | TargetArg::All);
    let landlock = matches!(args.target, TargetArg::Landlock | TargetArg::All);
    let mut landlock_warned: HashSet<(armorc_compiler::codes::Code, armorc_compiler::ir::Origin)> = HashSet::new();
    let mut built = Built {
        divergence: (bpf && apparmor && !args.no_divergence).then(Collected::default),
        divergent_targets: 0,
        divergence_total: 0,
        findings: Vec::new(),
        error: None,
        io_error: None,
        images: 0,
        profiles: 0,
        plans: 0,
        landlock_findings: Vec::new(),
        patch_findings: Vec::new(),
    };
    // Which target wrote each path, so a collision names both workloads' files and lines.
    let mut owners: std::collections::HashMap<String, Option<usize>> = std::collections::HashMap::new();
    let mut put = |built: &mut Built, timings: &mut Timings, path: &str, bytes: &[u8], target: Option<usize>| {
        let t = std::time::Instant::now();
        let result = sink.put(path, bytes);
        timings.add(if args.check { "compare" } else { "write files" }, t);
        let first = *owners.entry(path.to_string()).or_insert(target);
        match result {
            Ok(()) => {}
            Err(PutError::Duplicate) => {
                let who = |t: Option<usize>| {
                    t.map_or_else(|| "a patch".to_string(), |t| describe_target(&composition.targets[t], workloads))
                };
                built.error.get_or_insert(format!(
                    "{} and {} would both write {path}: workload names must be unique per namespace (across kinds), \
                     and AppArmor profile names join namespace, workload and container with `-` (namespace a-b \
                     with workload c collides with namespace a with workload b-c)",
                    who(target),
                    who(first)
                ));
            }
            Err(PutError::Io(e)) => {
                built.io_error.get_or_insert(e);
            }
        }
    };
    let mut index = Vec::new();
    let mut profile_targets = Vec::new();
    let mut plan_targets = Vec::new();
    // Each policy's AppArmor lines are rendered once here, not once per target it applies to.
    let t = std::time::Instant::now();
    let mut apparmor_lowering = apparmor.then(|| {
        let lowering = lower::apparmor::Lowering::new(policies);
        // The divergence analysis reads each profile's lines by the lowering's numbers.
        if built.divergence.is_some() {
            lowering.recording_lines()
        } else {
            lowering
        }
    });
    timings.add("lower apparmor", t);
    let analysed = std::thread::scope(|scope| {
        let divergence_worker = built.divergence.is_some().then(|| DivergenceWorker::start(scope, policies, warned));
        for (at, target) in composition.targets.iter().enumerate() {
            if built.io_error.is_some() {
                break;
            }
            let applied: Vec<&Policy> = target.policies.iter().map(|&i| &policies[i]).collect();
            let mut entry = IndexEntry {
                apparmor: None,
                apparmor_map: None,
                apparmor_profile: None,
                bpf: None,
                bpf_entries: None,
                container: target.container.as_deref(),
                divergences: None,
                enforcement: enforcement_word(&target.enforcement),
                host: target.host,
                labels: target_labels(target, workloads, node_labels.as_ref()),
                landlock: None,
                namespace: target.namespace.as_deref(),
                policies: applied.iter().map(|p| p.id()).collect(),
                posture: IndexPosture {
                    capabilities: target.posture.capabilities,
                    file: target.posture.file,
                    network: target.posture.network,
                },
                reason: match &target.enforcement {
                    Enforcement::Disabled(r) => Some(r.as_str()),
                    _ => None,
                },
                workload: target.workload.as_deref(),
                workload_kind: target.workload_kind.as_deref(),
            };
            let mut image = None;
            // The target's profile and plan for the divergence analysis (sent once both are lowered).
            let mut written = None;
            let mut plan = None;
            if bpf {
                let t = std::time::Instant::now();
                let lowered = lower::bpf::lower_target(target, &applied);
                let image = image.insert(lowered);
                if image.entries.len() > args.capacity {
                    built.findings.push(capacity_finding(image, args.capacity));
                }
                let path = target.artifact_path("bpf", "img");
                let bytes = image.encode();
                timings.add("lower bpf", t);
                let image = &*image;
                put(&mut built, timings, &path, &bytes, Some(at));
                entry.bpf_entries = Some(image.entries.len());
                entry.bpf = Some(path);
                built.images += 1;
            }
            if let Some(lowering) = &mut apparmor_lowering {
                let t = std::time::Instant::now();
                let mut profile = lowering.lower(target, &target.policies);
                timings.add("lower apparmor", t);
                if args.verify_apparmor {
                    if let Err(e) = lower::apparmor::check_with_parser(&profile) {
                        // The first rejection stops the run: OUT is left as it was.
                        built.error = Some(e.to_string());
                        break;
                    }
                }
                let path = format!("apparmor/{}", profile.file_name);
                let map = format!("{path}.map.json");
                put(&mut built, timings, &path, profile.text.as_bytes(), Some(at));
                put(&mut built, timings, &map, profile.map_json.as_bytes(), Some(at));
                entry.apparmor = Some(path);
                entry.apparmor_map = Some(map);
                entry.apparmor_profile = Some(profile.name.clone());
                if divergence_worker.is_some() {
                    written = Some(lower::apparmor::Profile {
                        name: profile.name.clone(),
                        file_name: String::new(),
                        text: std::mem::take(&mut profile.text),
                        lines: std::mem::take(&mut profile.lines),
                        map_json: String::new(),
                    });
                }
                profile_targets.push((target.clone(), profile.name));
                built.profiles += 1;
            }
            if landlock {
                let t = std::time::Instant::now();
                match lower::landlock::lower_target(target, &applied) {
                    Ok(lowered) => {
                        // The plan applies to the host's commands and to containers armor-exec wraps.
                        let applies = target.host || lower::landlock_patch::wrapped(target, workloads);
                        if divergence_worker.is_some() && applies {
                            plan = Some((lowered.plan.clone(), lowered.warned_rules()));
                        }
                        for f in lowered.findings {
                            if landlock_warned.insert((f.code, f.origin.clone().expect("K findings name their rule"))) {
                                built.landlock_findings.push(f);
                            }
                        }
                        let path = target.artifact_path("landlock", "json");
                        timings.add("lower landlock", t);
                        put(&mut built, timings, &path, lowered.plan.encode().as_bytes(), Some(at));
                        entry.landlock = Some(path);
                        built.plans += 1;
                        if !target.host {
                            plan_targets.push((target.clone(), lowered.plan));
                        }
                    }
                    Err(e) => {
                        built.error.get_or_insert(e.to_string());
                        break;
                    }
                }
            }
            if let (Some(worker), Some(image), Some(profile)) = (&divergence_worker, image, written) {
                worker.send(DivergenceJob { at, target, image, profile, landlock: plan });
            }
            index.push(entry);
        }
        divergence_worker.map(DivergenceWorker::finish)
    });
    let mut divergence_targets = Vec::new();
    if let Some(analysed) = analysed {
        timings.beside.push(("divergence", analysed.busy));
        timings.phases.push(("divergence (wait)", analysed.waited));
        for done in analysed.targets {
            if let Some(e) = &done.file.unanalysed {
                eprintln!("note: {}: divergence analysis skipped: {e}", done.file.target);
            }
            // A target whose lowering then failed has no entry (and nothing is written).
            if let Some(entry) = index.get_mut(done.at) {
                entry.divergences = done.file.unanalysed.is_none().then_some(done.file.divergences.len());
            }
            built.divergence_total += done.file.divergences.len();
            built.divergent_targets += usize::from(!done.file.divergences.is_empty());
            divergence_targets.push(done.file);
        }
        built.divergence = Some(analysed.collected);
    }
    if let Some(collected) = &built.divergence {
        let file = DivergenceFile { divergences: &collected.items, targets: divergence_targets, version: 1 };
        let mut text = serde_json::to_string_pretty(&file).expect("divergences are JSON");
        text.push('\n');
        put(&mut built, timings, "divergence.json", text.as_bytes(), None);
    }
    if apparmor {
        for (path, text) in lower::apparmor::patches(&profile_targets) {
            put(&mut built, timings, &path, text.as_bytes(), None);
        }
    }
    if landlock {
        match lower::landlock_patch::patches(&plan_targets, workloads, &args.armor_exec_image) {
            Ok(patches) => {
                for (path, text) in patches.files {
                    put(&mut built, timings, &path, text.as_bytes(), None);
                }
                built.patch_findings = patches.findings;
            }
            Err(e) => {
                built.error.get_or_insert(e);
            }
        }
    }
    let t = std::time::Instant::now();
    let mut text = serde_json::to_string_pretty(&Index { targets: index, version: 1 }).expect("index is JSON");
    text.push('\n');
    timings.add("index.json", t);
    put(&mut built, timings, "index.json", text.as_bytes(), None);
    built
}

/// `Deployment shop/web (deploy.yaml:3:1)`: a target as the workload file defines it.
fn describe_target(target: &Target, workloads: &Workloads) -> String {
    if target.host {
        return "the host".to_string();
    }
    let (ns, name) = (target.namespace.as_deref().unwrap_or("default"), target.workload.as_deref().unwrap_or("-"));
    let kind = target.workload_kind.as_deref().unwrap_or("workload");
    match workload_of(target, workloads) {
        Some(w) => format!("{kind} {ns}/{name} ({})", w.location),
        None => format!("{kind} {ns}/{name}"),
    }
}

/// `--resolve-symlinks`: each path rule also as the images spell it (compiler::image_paths).
fn resolve_symlinks(args: &Args, policies: Vec<Policy>) -> Result<Vec<Policy>, Stop> {
    if args.resolve_symlinks.is_empty() {
        return Ok(policies);
    }
    let image_args = crate::lint_image::ImageArgs {
        images: args.resolve_symlinks.clone(),
        ..crate::lint_image::ImageArgs::default()
    };
    let images =
        image_args.load().map_err(|e| fail(Status::Failure, e.replacen("--image", "--resolve-symlinks", 1)))?;
    let files: Vec<&dyn armorc_compiler::image_paths::ImageFiles> =
        images.iter().map(|i| i as &dyn armorc_compiler::image_paths::ImageFiles).collect();
    let mut added = 0;
    let resolved = policies
        .iter()
        .map(|p| {
            let (policy, n) = armorc_compiler::image_paths::resolve_symlinks(p, &files);
            added += n;
            policy
        })
        .collect();
    eprintln!(
        "note: --resolve-symlinks: {added} rule(s) added for paths through symlinks in {}",
        args.resolve_symlinks.join(", ")
    );
    Ok(resolved)
}

/// The workload a container target was composed from.
fn workload_of<'w>(target: &Target, workloads: &'w Workloads) -> Option<&'w Workload> {
    let (ns, name) = (target.namespace.as_deref().unwrap_or("default"), target.workload.as_deref().unwrap_or("-"));
    let kind = target.workload_kind.as_deref().unwrap_or("workload");
    workloads.workloads.iter().find(|w| w.namespace_or_default() == ns && w.name == name && w.kind == kind)
}

/// The labels a target was compiled for: its pods' (the pod template's) or, for the host, the
/// node's. The node agent finds a running container's target by namespace, these labels (a
/// subset of the pod's) and the container name.
fn target_labels<'a>(
    target: &Target,
    workloads: &'a Workloads,
    node_labels: Option<&'a BTreeMap<String, String>>,
) -> BTreeMap<&'a str, &'a str> {
    let labels = if target.host { node_labels } else { workload_of(target, workloads).map(|w| &w.labels) };
    labels.into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// `OUT/index.json`. Keys are in alphabetical order, as in every index written so far.
#[derive(serde::Serialize)]
struct Index<'a> {
    targets: Vec<IndexEntry<'a>>,
    version: u32,
}

#[derive(serde::Serialize)]
struct IndexEntry<'a> {
    apparmor: Option<String>,
    apparmor_map: Option<String>,
    apparmor_profile: Option<String>,
    bpf: Option<String>,
    bpf_entries: Option<usize>,
    container: Option<&'a str>,
    /// Divergences between BPF-LSM and AppArmor or Landlock (with --target all; None if not analysed).
    divergences: Option<usize>,
    enforcement: &'static str,
    host: bool,
    /// Pod template labels (container targets) or node labels (the host), for the node agent.
    labels: BTreeMap<&'a str, &'a str>,
    /// Only with --target landlock or all (older outputs stay byte-identical).
    #[serde(skip_serializing_if = "Option::is_none")]
    landlock: Option<String>,
    namespace: Option<&'a str>,
    policies: Vec<String>,
    posture: IndexPosture,
    reason: Option<&'a str>,
    workload: Option<&'a str>,
    workload_kind: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct IndexPosture {
    capabilities: armorc_compiler::compose::PostureAction,
    file: armorc_compiler::compose::PostureAction,
    network: armorc_compiler::compose::PostureAction,
}

/// `--verify-apparmor` without the parser is an environment error, found before any work.
fn parser_present() -> Result<(), String> {
    match std::process::Command::new("apparmor_parser").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "--verify-apparmor needs apparmor_parser, which could not be run ({e}); install the `apparmor` package \
             (Debian/Ubuntu: apt-get install apparmor)"
        )),
    }
}

fn enforcement_word(e: &Enforcement) -> &'static str {
    match e {
        Enforcement::Enabled => "enabled",
        Enforcement::Audited => "audited",
        Enforcement::Disabled(_) => "disabled",
    }
}

fn capacity_finding(image: &armorc_compiler::image::MapImage, capacity: usize) -> Finding {
    let policies = lower::bpf::contributing_policies(image);
    Finding {
        code: armorc_compiler::codes::Code::C002,
        severity: Severity::Error,
        message: format!(
            "target {} needs {} map entries, over the capacity of {capacity} (--capacity); its policies: {}",
            image.target,
            image.entries.len(),
            policies.join(", ")
        ),
        origin: None,
        related: Vec::new(),
    }
}

enum PutError {
    Duplicate,
    Io(String),
}

/// Where built files go: a temporary sibling directory that replaces OUT at the end, or a
/// comparison with OUT (`--check`). Files arrive one at a time, so memory stays flat.
///
/// A file whose bytes equal the one already in OUT is hard-linked from it instead of written:
/// recompiling a repository where little changed writes only what changed, keeps the other
/// files' inodes and times, and replacing OUT then frees only the changed files.
enum OutputSink {
    Write {
        out: PathBuf,
        tmp: PathBuf,
        dirs: HashSet<PathBuf>,
        seen: HashSet<String>,
        /// OUT held an earlier output when we started (so files may be reused from it).
        reuse: bool,
        /// Buffer for reading earlier files (reused so reading costs no fresh memory).
        old: Vec<u8>,
    },
    Check {
        out: PathBuf,
        existing: BTreeSet<String>,
        differences: Vec<(String, String)>,
        seen: HashSet<String>,
    },
}

impl OutputSink {
    /// An existing OUT must be an earlier output (it has index.json) or empty, so a wrong `-o`
    /// never deletes someone's files.
    fn write(out: &Path) -> Result<OutputSink, String> {
        let name = out
            .file_name()
            .ok_or_else(|| format!("{}: not a directory name", out.display()))?
            .to_string_lossy()
            .into_owned();
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if out.exists() {
            if !out.is_dir() {
                return Err(format!("{} exists and is not a directory", out.display()));
            }
            let empty = std::fs::read_dir(out).map_err(|e| format!("{}: {e}", out.display()))?.next().is_none();
            if !empty && !out.join("index.json").is_file() {
                return Err(format!(
                    "{} exists and is not an armorc output directory (no index.json); refusing to replace it",
                    out.display()
                ));
            }
        }
        let reuse = out.join("index.json").is_file();
        remove_stale_trees(&parent, &name);
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        Ok(OutputSink::Write {
            out: out.to_path_buf(),
            tmp,
            dirs: HashSet::new(),
            seen: HashSet::new(),
            reuse,
            old: Vec::new(),
        })
    }

    fn check(out: &Path) -> Result<OutputSink, String> {
        let mut existing = BTreeSet::new();
        if out.exists() {
            list_files(out, "", &mut existing).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        }
        Ok(OutputSink::Check { out: out.to_path_buf(), existing, differences: Vec::new(), seen: HashSet::new() })
    }

    fn put(&mut self, rel: &str, bytes: &[u8]) -> Result<(), PutError> {
        match self {
            OutputSink::Write { out, tmp, dirs, seen, reuse, old } => {
                if !seen.insert(rel.to_string()) {
                    return Err(PutError::Duplicate);
                }
                let path = tmp.join(rel);
                if let Some(dir) = path.parent() {
                    if !dirs.contains(dir) {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| PutError::Io(format!("cannot create {}: {e}", dir.display())))?;
                        dirs.insert(dir.to_path_buf());
                    }
                }
                if *reuse
                    && same_content(&out.join(rel), bytes, old)
                    && std::fs::hard_link(out.join(rel), &path).is_ok()
                {
                    return Ok(());
                }
                std::fs::write(&path, bytes).map_err(|e| PutError::Io(format!("cannot write {}: {e}", path.display())))
            }
            OutputSink::Check { out, existing, differences, seen } => {
                if !seen.insert(rel.to_string()) {
                    return Err(PutError::Duplicate);
                }
                if !existing.contains(rel) {
                    differences.push((rel.to_string(), format!("missing: {rel}")));
                    return Ok(());
                }
                // Read no more than could be equal, and never from a FIFO or device (it would block).
                let path = out.join(rel);
                match std::fs::symlink_metadata(&path) {
                    Ok(m) if m.is_file() => {}
                    Ok(_) => {
                        differences.push((rel.to_string(), format!("differs: {rel} (not a regular file)")));
                        return Ok(());
                    }
                    Err(e) => return Err(PutError::Io(format!("cannot read {}: {e}", path.display()))),
                }
                let mut have = Vec::new();
                std::fs::File::open(&path)
                    .and_then(|f| {
                        std::io::Read::read_to_end(&mut std::io::Read::take(f, bytes.len() as u64 + 1), &mut have)
                    })
                    .map_err(|e| PutError::Io(format!("cannot read {}: {e}", path.display())))?;
                if have != bytes {
                    differences
                        .push((rel.to_string(), format!("differs: {rel}{}", describe_difference(rel, &have, bytes))));
                }
                Ok(())
            }
        }
    }

    /// Drop everything written so far.
    fn abandon(self) {
        if let OutputSink::Write { tmp, .. } = self {
            let _ = std::fs::remove_dir_all(tmp);
        }
    }

    /// Write mode: swap the new tree in (returns no differences). Check mode: every difference,
    /// one line each, sorted by path.
    fn finish(self) -> Result<Vec<String>, String> {
        match self {
            OutputSink::Write { out, tmp, .. } => {
                let name = tmp.file_name().expect("the temporary tree is OUT's sibling `.NAME.tmp-PID`");
                let old = tmp.with_file_name(name.to_string_lossy().replace(".tmp-", ".old-"));
                // OUT is replaced in one step: a kill at any point leaves the old or the new OUT
                // (and a temporary tree the next compile removes), never no OUT.
                let swap = || -> std::io::Result<()> {
                    if !out.exists() {
                        return std::fs::rename(&tmp, &out);
                    }
                    match armorc_compiler::outputs::exchange_dirs(&tmp, &out) {
                        // tmp now holds the previous OUT.
                        Ok(()) => return std::fs::remove_dir_all(&tmp),
                        // A filesystem without RENAME_EXCHANGE: two renames, as before.
                        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::ENOTSUP)) => {}
                        Err(e) => return Err(e),
                    }
                    std::fs::rename(&out, &old)?;
                    if let Err(e) = std::fs::rename(&tmp, &out) {
                        let _ = std::fs::rename(&old, &out);
                        return Err(e);
                    }
                    std::fs::remove_dir_all(&old)
                };
                swap().map_err(|e| {
                    let _ = std::fs::remove_dir_all(&tmp);
                    format!("cannot write {}: {e}", out.display())
                })?;
                Ok(Vec::new())
            }
            OutputSink::Check { existing, mut differences, seen, .. } => {
                for extra in existing.iter().filter(|p| !seen.contains(*p)) {
                    differences.push((extra.clone(), format!("extra: {extra}")));
                }
                differences.sort();
                Ok(differences.into_iter().map(|(_, line)| line).collect())
            }
        }
    }
}

/// Does the regular file at `path` hold exactly `bytes`? (Read into `buffer`; any problem is a no.)
fn same_content(path: &Path, bytes: &[u8], buffer: &mut Vec<u8>) -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else { return false };
    match file.metadata() {
        Ok(m) if m.is_file() && m.len() == bytes.len() as u64 => {}
        _ => return false,
    }
    buffer.clear();
    // One byte more than expected would show a file that grew since the metadata call.
    file.take(bytes.len() as u64 + 1).read_to_end(buffer).is_ok() && buffer.as_slice() == bytes
}

/// A short hint for map images: how the entries changed.
fn describe_difference(path: &str, have: &[u8], want: &[u8]) -> String {
    if !path.ends_with(".img") {
        return String::new();
    }
    use armorc_compiler::image::MapImage;
    match (MapImage::decode(have), MapImage::decode(want)) {
        (Ok(h), Ok(w)) => {
            let hk: BTreeSet<_> = h.entries.iter().map(|e| (e.key.to_bytes(), e.value.process, e.value.file)).collect();
            let wk: BTreeSet<_> = w.entries.iter().map(|e| (e.key.to_bytes(), e.value.process, e.value.file)).collect();
            format!(
                " ({} entries now, {} compiled; {} added, {} removed or changed)",
                h.entries.len(),
                w.entries.len(),
                wk.difference(&hk).count(),
                hk.difference(&wk).count()
            )
        }
        (Err(e), _) => format!(" (existing file: {e})"),
        _ => String::new(),
    }
}

fn list_files(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        if entry.file_type()?.is_dir() {
            list_files(&entry.path(), &rel, out)?;
        } else {
            out.insert(rel);
        }
    }
    Ok(())
}
