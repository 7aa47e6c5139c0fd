//! armor-loader: the node side of armorc. Loads our BPF programs, applies compiled bundles to
//! targets, runs commands as a target, reports alerts, and verifies kernel decisions.

use anyhow::{bail, Context, Result};
use armor_runtime::agent::{self, Throttle};
use armor_runtime::apparmor::{self, ExecAttr};
use armor_runtime::bundle::{Bundle, Selector};
use armor_runtime::enforcer::{self, Enforcer};
use armor_runtime::events::{self, Decoder, RawEvent, RingReader, RuleMeta, TargetState};
use armor_runtime::exec::PreExec;
use armor_runtime::kernel::{Harness, Targets, HOST};
use armor_runtime::monitor::{Kinds, LogDecoder, Monitor, Output, Recorder};
use armor_runtime::op::Operation;
use armor_runtime::{landlock, node, probe, read_image, verify, PIN_DIR};
use armorc_compiler::{inputs, query};
use clap::{Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EXIT_CODES: &str = "Exit status: 0 success; 1 error (nothing applied, a reason on stderr); `exec` exits \
with the command's status (126: the kernel refused to run it, 127: not found); `exec --op` exits 0 when the \
operation succeeded, 13 when the kernel refused it (EACCES/EPERM), 3 when it failed otherwise (errno on \
stderr), 4 when it is not one --op can perform, 126 when the enforcer could not be entered; `verify` exits 1 when the kernel and the model disagree.";

/// The exit statuses of `armor-loader` (EXIT_CODES, in --help); an error (`Err`) exits 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Done; `verify`: the kernel and the model agree.
    Success,
    /// `verify`: the kernel and the model disagree.
    Disagree,
    /// `exec`: the command's own status (126: the kernel refused to run it, 127: not found).
    Command(i32),
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        ExitCode::from(match status {
            Status::Success => 0,
            Status::Disagree => 1,
            Status::Command(code) => code.clamp(0, 255) as u8,
        })
    }
}

#[derive(Parser)]
#[command(name = "armor-loader", version, about = "Apply armorc-compiled policies on this node: BPF-LSM programs, AppArmor profiles, Landlock rulesets, alerts", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
struct PinArgs {
    /// bpffs directory of our pinned programs and maps.
    #[arg(long, value_name = "DIR", default_value = PIN_DIR)]
    pin_dir: PathBuf,
}

#[derive(clap::Args)]
struct LsmArgs {
    /// Enforcers to try, in order; the first usable one is chosen (bpf, apparmor, landlock, none).
    #[arg(long, value_name = "ORDER", default_value = enforcer::DEFAULT_ORDER)]
    lsm: String,
}

#[derive(clap::Args)]
struct VisibilityArgs {
    /// What the visibility monitor records (tracepoints; works without BPF-LSM): any of
    /// process,file,network,capability, or none. Default: process,file,network with `--lsm none`
    /// chosen, else none.
    #[arg(long, value_name = "KINDS")]
    visibility: Option<String>,
    /// Telemetry records per second and target before the target's records are dropped
    /// (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_events_per_sec: u32,
}

impl VisibilityArgs {
    fn kinds(&self, chosen: Enforcer) -> Result<Kinds> {
        match &self.visibility {
            Some(v) => Kinds::parse(v),
            None if chosen == Enforcer::None => Ok(Kinds::DEFAULT),
            None => Ok(Kinds::NONE),
        }
    }

    fn throttle(&self) -> Throttle {
        Throttle { max_per_sec: self.max_events_per_sec, throttle_sec: 1 }
    }
}

#[derive(Subcommand)]
enum Command {
    /// What this kernel offers: BTF, active LSMs, and per enforcer whether it is usable and why not.
    #[command(after_help = "Examples:\n  armor-loader probe\n  armor-loader probe --format json --lsm apparmor,bpf")]
    Probe {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        lsm: LsmArgs,
        #[command(flatten)]
        pin: PinArgs,
    },
    /// Start enforcement: attach and pin our LSM programs (bpf), or check AppArmor. Idempotent;
    /// enforcement stays after the command exits.
    #[command(after_help = "Examples:\n  armor-loader up\n  armor-loader up --lsm apparmor")]
    Up {
        #[command(flatten)]
        lsm: LsmArgs,
        #[command(flatten)]
        pin: PinArgs,
        /// Alerts per second and target before the target's alerts are muted (0: no throttling).
        #[arg(long, default_value_t = Throttle::default().max_per_sec)]
        max_alerts_per_sec: u32,
        /// Seconds a target's alerts stay muted once the threshold is reached.
        #[arg(long, default_value_t = Throttle::default().throttle_sec)]
        throttle_sec: u32,
    },
    /// Stop enforcement: detach our programs and remove every pin and target state.
    Down {
        #[command(flatten)]
        pin: PinArgs,
        #[arg(long, value_name = "DIR", default_value = events::STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Run a command as a compiled target: with bpf in new pid and mount namespaces that get the
    /// target's map image first; with apparmor under the target's profile; with landlock under the
    /// target's rulesets, its capabilities dropped.
    #[command(after_help = "Examples:\n  armor-loader exec --bundle out --target shop/web/nginx -- /usr/bin/id\n  \
                            armor-loader exec --bundle out --target shop/web/nginx --lsm apparmor -- sh -c 'cat /etc/shadow'\n  \
                            armor-loader exec --bundle out --target shop/web/nginx --lsm landlock -- /usr/bin/id\n  \
                            armor-loader exec --bundle out --target shop/web/nginx --lsm bpf --op open /etc/shadow\n\n\
                            The exit status is the command's. With --op, the target's own process performs one \
                            operation once enforcement is in place (no helper program is exec'd): open PATH, \
                            write PATH (open O_WRONLY: nothing written, nothing truncated or created), exec PATH \
                            (the new program is stopped before it runs and killed), unlink PATH, mkdir PATH, \
                            rmdir PATH, socket TYPE,PROTOCOL (numbers), capable CAP (setgid, setuid, \
                            net_bind_service, net_raw, sys_chroot, sys_admin: a harmless call needing it); with \
                            apparmor the process enters the profile itself (changeprofile). Exit 0 allowed, 13 \
                            refused (EACCES/EPERM), 3 failed otherwise, 4 not an operation --op performs.")]
    Exec {
        /// `armorc compile` output directory (its index.json names the targets).
        #[arg(long, value_name = "OUT")]
        bundle: PathBuf,
        /// The target, as NAMESPACE/WORKLOAD/CONTAINER in index.json.
        #[arg(long, value_name = "NS/WORKLOAD/CONTAINER", conflicts_with = "host", required_unless_present = "host")]
        target: Option<String>,
        /// The host target: its image applies to the host's own namespaces while the command runs.
        #[arg(long)]
        host: bool,
        #[command(flatten)]
        lsm: LsmArgs,
        #[command(flatten)]
        pin: PinArgs,
        #[arg(long, value_name = "DIR", default_value = events::STATE_DIR)]
        state_dir: PathBuf,
        #[command(flatten)]
        visibility: VisibilityArgs,
        /// Where the command's telemetry goes, as JSON lines (`-`: standard output; default:
        /// standard error). A file is written whole when the command ends.
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
        /// Perform one operation in the target instead of running a command: OP is open, write,
        /// exec, unlink, mkdir, rmdir, socket or capable; ARG its path, TYPE,PROTOCOL or capability.
        #[arg(long, num_args = 2, value_names = ["OP", "ARG"], conflicts_with = "cmd")]
        op: Option<Vec<String>>,
        #[arg(required_unless_present = "op", last = true, value_name = "CMD")]
        cmd: Vec<OsString>,
    },
    /// Print alerts (KubeArmor's alert JSON), one per line: BPF-LSM alerts from our ring buffer,
    /// and with --bundle AppArmor denials from the kernel log, mapped to their policies.
    #[command(
        after_help = "Examples:\n  armor-loader events --format json\n  armor-loader events --follow --bundle out"
    )]
    Events {
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Keep reading until interrupted.
        #[arg(long)]
        follow: bool,
        /// `armorc compile` output whose AppArmor profiles the kernel log's denials are mapped
        /// through (without it, only BPF-LSM alerts are read).
        #[arg(long, value_name = "OUT")]
        bundle: Option<PathBuf>,
        #[command(flatten)]
        pin: PinArgs,
        #[arg(long, value_name = "DIR", default_value = events::STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Write a map image as the rule map of a target key (or the host).
    Apply {
        image: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        pin: PinArgs,
    },
    /// Remove a target key's rule map.
    Remove {
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        pin: PinArgs,
    },
    /// Run query lines against an image in the kernel (test-run harness) and compare with the model.
    Verify { image: PathBuf, queries: PathBuf },
    /// The node agent: follow containerd's containers and enforce each one's compiled target
    /// (found by its pod's namespace, labels and container name), and follow the bundle: a new
    /// compile output is applied to every container. Runs until SIGINT/SIGTERM; enforcement stays.
    #[command(after_help = "Examples:\n  armor-loader up && armor-loader run --bundle /etc/armorc/out\n  \
                            armor-loader run --bundle out --lsm apparmor --containerd /run/k3s/containerd/containerd.sock\n  \
                            armor-loader run --bundle out --node-labels kubernetes.io/hostname=node-1")]
    Run {
        /// `armorc compile` output directory; watched for replacement.
        #[arg(long, value_name = "OUT")]
        bundle: PathBuf,
        #[command(flatten)]
        lsm: LsmArgs,
        /// containerd's socket.
        #[arg(long, value_name = "SOCK", default_value = "/run/containerd/containerd.sock")]
        containerd: PathBuf,
        /// containerd namespace of the containers (the CRI plugin's is k8s.io).
        #[arg(long, value_name = "NS", default_value = armor_runtime::containerd::K8S_NAMESPACE)]
        namespace: String,
        /// This node's labels (k=v,...): the bundle's host target applies when they include its labels.
        #[arg(long, value_name = "LABELS")]
        node_labels: Option<String>,
        #[command(flatten)]
        visibility: VisibilityArgs,
        /// Where telemetry goes, as JSON lines (`-`: standard output, the default; a file is
        /// appended to).
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
        #[command(flatten)]
        pin: PinArgs,
        #[arg(long, value_name = "DIR", default_value = events::STATE_DIR)]
        state_dir: PathBuf,
    },
    /// What the node agent (`run`) enforces: containers, their targets, enforcer, entries, when
    /// applied, and problems.
    #[command(after_help = "Examples:\n  armor-loader status\n  armor-loader status --format json")]
    Status {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[arg(long, value_name = "DIR", default_value = events::STATE_DIR)]
        state_dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct KeyArgs {
    /// pid namespace inode of the target (with --mnt-ns).
    #[arg(long, requires = "mnt_ns", conflicts_with = "host")]
    pid_ns: Option<u32>,
    /// mount namespace inode of the target (with --pid-ns).
    #[arg(long, requires = "pid_ns", conflicts_with = "host")]
    mnt_ns: Option<u32>,
    /// The host key {0,0}.
    #[arg(long)]
    host: bool,
}

impl KeyArgs {
    fn key(&self) -> Result<(u32, u32)> {
        match (self.host, self.pid_ns, self.mnt_ns) {
            (true, None, None) => Ok(HOST),
            (false, Some(p), Some(m)) if (p, m) != HOST => Ok((p, m)),
            (false, Some(_), Some(_)) => bail!("{{0,0}} is the host: use --host"),
            _ => bail!("give --pid-ns N --mnt-ns M, or --host"),
        }
    }
}

fn run(cli: Cli) -> Result<Status> {
    match cli.command {
        Command::Probe { format, lsm, pin } => cmd_probe(format, &enforcer::parse_order(&lsm.lsm)?, &pin.pin_dir),
        Command::Up { lsm, pin, max_alerts_per_sec, throttle_sec } => cmd_up(
            &enforcer::parse_order(&lsm.lsm)?,
            &pin.pin_dir,
            Throttle { max_per_sec: max_alerts_per_sec, throttle_sec },
        ),
        Command::Down { pin, state_dir } => {
            let n = agent::down(&pin.pin_dir)?;
            let _ = std::fs::remove_dir_all(state_dir.join("targets"));
            println!("down: {n} pin(s) removed under {}", pin.pin_dir.display());
            Ok(Status::Success)
        }
        Command::Exec { bundle, target, host, lsm, pin, state_dir, visibility, events, op, cmd } => {
            let sel = if host { Selector::Host } else { Selector::parse_target(target.as_deref().unwrap_or(""))? };
            let output = match events {
                None => Output::Stderr,
                Some(p) if p.as_os_str() == "-" => Output::Stdout,
                Some(p) => Output::File(p),
            };
            let exec =
                ExecArgs { order: enforcer::parse_order(&lsm.lsm)?, pin_dir: &pin.pin_dir, state_dir: &state_dir };
            let op = match op.as_deref() {
                Some([op, arg]) => match Operation::parse(op, arg) {
                    Ok(op) => Some(op),
                    Err(e) => {
                        eprintln!("armor-loader: {e:#}");
                        return Ok(Status::Command(armor_runtime::op::UNSUPPORTED));
                    }
                },
                _ => None,
            };
            let body = match &op {
                Some(op) => Body::Op(op),
                None => Body::Command(&cmd),
            };
            cmd_exec(&bundle, &sel, &exec, &visibility, output, body).map(Status::Command)
        }
        Command::Events { format, follow, bundle, pin, state_dir } => {
            cmd_events(format, follow, bundle.as_deref(), &pin.pin_dir, &state_dir)
        }
        Command::Apply { image, key, pin } => {
            let image = read_image(&image)?; // rejected before the kernel is touched
            let key = key.key()?;
            let mut targets = Targets::pinned(Some(&pin.pin_dir))?;
            targets.apply(key, &image)?;
            println!(
                "applied {} ({} entries) to {{pid_ns {}, mnt_ns {}}}",
                image.target,
                image.entries.len(),
                key.0,
                key.1
            );
            Ok(Status::Success)
        }
        Command::Remove { key, pin } => {
            let key = key.key()?;
            // A removal never creates kernel state: nothing pinned, nothing to remove.
            let Some(mut targets) = Targets::pinned_existing(Some(&pin.pin_dir))? else {
                println!(
                    "no rule map for {{pid_ns {}, mnt_ns {}}} (no {} pinned under {})",
                    key.0,
                    key.1,
                    armor_runtime::TARGETS_MAP,
                    pin.pin_dir.display()
                );
                return Ok(Status::Success);
            };
            if targets.remove(key)? {
                println!("removed {{pid_ns {}, mnt_ns {}}}", key.0, key.1);
            } else {
                println!("no rule map for {{pid_ns {}, mnt_ns {}}}", key.0, key.1);
            }
            Ok(Status::Success)
        }
        Command::Verify { image, queries } => cmd_verify(&image, &queries),
        Command::Run { bundle, lsm, containerd, namespace, node_labels, visibility, events, pin, state_dir } => {
            let node_labels = match node_labels {
                Some(l) => Some(
                    armorc_compiler::compose::parse_labels(&l).map_err(|e| anyhow::anyhow!("--node-labels: {e}"))?,
                ),
                None => None,
            };
            let order = enforcer::parse_order(&lsm.lsm)?;
            let chosen = enforcer::pick(&order, &pin.pin_dir)?;
            let events = match events {
                Some(p) if p.as_os_str() != "-" => Output::Append(p),
                _ => Output::Stdout,
            };
            node::run(node::Options {
                visibility: visibility.kinds(chosen)?,
                visibility_throttle: visibility.throttle(),
                events,
                bundle,
                enforcer: chosen,
                pin_dir: pin.pin_dir,
                state_dir,
                socket: containerd,
                namespace,
                node_labels,
            })?;
            Ok(Status::Success)
        }
        Command::Status { format, state_dir } => cmd_status(format, &state_dir),
    }
}

fn cmd_status(format: Format, state_dir: &Path) -> Result<Status> {
    let status = node::read_status(state_dir)?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(Status::Success);
    }
    println!(
        "agent pid {} ({}), enforcer {}, bundle {}, updated {}",
        status.agent_pid,
        if Path::new(&format!("/proc/{}", status.agent_pid)).exists() { "running" } else { "not running" },
        status.enforcer,
        status.bundle.display(),
        status.updated
    );
    for c in &status.containers {
        let who =
            if c.id == "host" { "host".to_string() } else { format!("{}/{}/{}", c.namespace, c.pod, c.container) };
        let what = match (&c.target, &c.problem) {
            (Some(t), None) => format!(
                "{t}: {}{}",
                c.when.as_deref().unwrap_or("-"),
                c.entries.map(|n| format!(", {n} entries")).unwrap_or_default()
            ),
            (Some(t), Some(p)) => format!("{t}: PROBLEM: {p}"),
            (None, Some(p)) => format!("unmanaged: {p}"),
            (None, None) => "unmanaged".to_string(),
        };
        let id: String = c.id.chars().take(12).collect();
        let observed = if c.watched.is_some() { " (observed)" } else { "" };
        println!("{id:<12}  pid {:<7}  {who}  {what}{observed}", c.pid);
    }
    let applied = status.containers.iter().filter(|c| c.target.is_some() && c.problem.is_none()).count();
    println!("{} container(s), {applied} with their target applied ({})", status.containers.len(), status.enforcer);
    Ok(Status::Success)
}

fn cmd_probe(format: Format, order: &[Enforcer], pin_dir: &Path) -> Result<Status> {
    let lsms = probe::active_lsms();
    let lsm_list = lsms.as_ref().cloned().unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    let probes: Vec<(Enforcer, enforcer::Usability)> =
        Enforcer::ALL.iter().map(|&e| (e, enforcer::probe(e, &lsm_list, pin_dir))).collect();
    let chosen = order.iter().find(|e| probes.iter().any(|(p, u)| p == *e && u.usable)).copied();
    if format == Format::Json {
        let enforcers: serde_json::Map<String, serde_json::Value> = probes
            .iter()
            .map(|(e, u)| (e.name().to_string(), serde_json::to_value(u).expect("plain struct")))
            .collect();
        let doc = serde_json::json!({
            "version": 1,
            "kernel": kernel,
            "arch": std::env::consts::ARCH,
            "btf": btf,
            "lsms": lsm_list,
            "enforcers": enforcers,
            "order": order.iter().map(|e| e.name()).collect::<Vec<_>>(),
            "chosen": chosen.map(|e| e.name()),
        });
        println!("{doc}");
        return Ok(Status::Success);
    }
    println!("kernel: {kernel} ({})", std::env::consts::ARCH);
    match &lsms {
        Ok(l) => println!("lsm: {}", l.join(",")),
        Err(e) => println!("lsm: unknown ({e:#})"),
    }
    println!("btf: /sys/kernel/btf/vmlinux {}", if btf { "present" } else { "missing" });
    for (e, u) in &probes {
        println!("{:<9} {}: {}", e.name(), if u.usable { "usable" } else { "not usable" }, u.reason);
    }
    match chosen {
        Some(e) => println!("chosen: {e} (--lsm {})", enforcer::names(order)),
        None => println!("chosen: none usable in --lsm {}", enforcer::names(order)),
    }
    Ok(Status::Success)
}

fn cmd_up(order: &[Enforcer], pin_dir: &Path, throttle: Throttle) -> Result<Status> {
    let chosen = enforcer::pick(order, pin_dir)?;
    match chosen {
        Enforcer::Bpf => {
            let r = agent::up(pin_dir, throttle)?;
            if r.attached.is_empty() {
                println!(
                    "up: bpf already attached ({} programs pinned under {})",
                    probe::LSM_PROGRAMS.len(),
                    pin_dir.display()
                );
            } else {
                println!("up: bpf: attached {} LSM program(s), pinned under {}", r.attached.len(), pin_dir.display());
            }
        }
        Enforcer::Apparmor => println!("up: apparmor: usable; profiles are loaded per target by `exec`"),
        Enforcer::Landlock | Enforcer::None => println!("up: {chosen}: nothing to attach"),
    }
    Ok(Status::Success)
}

struct ExecArgs<'a> {
    order: Vec<Enforcer>,
    pin_dir: &'a Path,
    state_dir: &'a Path,
}

/// The visibility monitor while `exec` runs a command: the command's key watched, its records
/// written by a recorder thread (started after the fork: the fork needs a single thread).
struct Observer {
    monitor: Monitor,
    output: Option<Output>,
    recorder: Option<Recorder>,
    state_dir: PathBuf,
}

impl Observer {
    fn start(kinds: Kinds, args: &VisibilityArgs, output: Output, state_dir: &Path) -> Result<Observer> {
        let monitor = Monitor::start(kinds, args.throttle())?;
        for m in &monitor.missing {
            eprintln!("armor-loader: visibility: this kernel has no tracepoint {m}: not observed");
        }
        Ok(Observer { monitor, output: Some(output), recorder: None, state_dir: state_dir.to_path_buf() })
    }

    fn watch(&mut self, key: (u32, u32)) -> Result<()> {
        let output = self.output.take().context("the observer watches one command")?;
        let reader = self.monitor.take_reader()?;
        self.recorder = Some(Recorder::start(reader, LogDecoder::new(&self.state_dir), output)?);
        self.monitor.watch(key)
    }

    fn finish(mut self, key: Option<(u32, u32)>) -> Result<()> {
        if let Some(key) = key {
            self.monitor.unwatch(key)?;
        }
        let Some(recorder) = self.recorder.take() else { return Ok(()) };
        let recorded = recorder.finish()?;
        let (full, throttled) = self.monitor.dropped()?;
        eprintln!(
            "armor-loader: visibility ({}): {} event(s); dropped: {full} (ring buffer full), {throttled} (throttled), {} (path not resolved)",
            self.monitor.kinds.names(),
            recorded.events,
            recorded.unresolved
        );
        Ok(())
    }
}

/// What `exec` runs as the target: a command, or one operation (`--op`).
#[derive(Clone, Copy)]
enum Body<'a> {
    Command(&'a [OsString]),
    Op(&'a Operation),
}

/// Run `body` as a target. `setup` gets the key the command's processes have before anything
/// runs: the host's {0,0} while it runs, or with `isolate` the key of fresh pid and mount
/// namespaces; without either, `body` runs in ours and setup is not called. `teardown` follows.
fn run_target(
    body: Body<'_>,
    pre: Option<PreExec<'_>>,
    host: bool,
    isolate: bool,
    setup: impl FnOnce((u32, u32)) -> Result<()>,
    teardown: impl FnOnce((u32, u32)),
) -> Result<i32> {
    use armor_runtime::exec::{enter, run_isolated, run_isolated_with, run_plain, run_plain_with};
    let plain = || match body {
        Body::Command(cmd) => run_plain(cmd, pre),
        Body::Op(op) => run_plain_with(|| op.run(|| enter(pre))),
    };
    if host {
        setup(HOST)?;
        let code = plain();
        teardown(HOST);
        return code;
    }
    if isolate {
        return match body {
            Body::Command(cmd) => run_isolated(cmd, pre, setup, teardown),
            Body::Op(op) => run_isolated_with(|| op.run(|| enter(pre)), setup, teardown),
        };
    }
    plain()
}

fn cmd_exec(
    out: &Path,
    sel: &Selector,
    args: &ExecArgs<'_>,
    visibility: &VisibilityArgs,
    output: Output,
    cmd: Body<'_>,
) -> Result<i32> {
    let (pin_dir, state_dir) = (args.pin_dir, args.state_dir);
    let bundle = Bundle::open(out)?;
    let target = bundle.find(sel)?.clone();
    // An enforcer the bundle has no artifact for cannot enforce this target: the next one is tried.
    let (order, missing): (Vec<Enforcer>, Vec<Enforcer>) =
        args.order.iter().partition(|e| target.artifact_of(**e).is_some());
    for e in &missing {
        eprintln!(
            "armor-loader: {e} not usable: {} has no {e} artifact in {} (armorc compile --target {} or all)",
            target.name(),
            out.display(),
            e.name()
        );
    }
    if order.is_empty() {
        bail!("no enforcer in --lsm has an artifact for {} in {}", target.name(), out.display());
    }
    let chosen = enforcer::pick(&order, pin_dir)?;
    let kinds = visibility.kinds(chosen)?;
    let observer = if kinds.is_empty() { None } else { Some(Observer::start(kinds, visibility, output, state_dir)?) };
    let observed = observer.is_some();
    let observer = std::cell::RefCell::new(observer);
    let watched = std::cell::Cell::new(None);
    let mut state = TargetState { enforcer: chosen.name().into(), ..TargetState::for_target(&target) };
    // What every enforcer does with the command's key: its state for alerts and events, watched.
    let observe = |key: (u32, u32), state: &TargetState| -> Result<()> {
        if let Some(o) = observer.borrow_mut().as_mut() {
            events::write_state(state_dir, key, state)?;
            o.watch(key)?;
            watched.set(Some(key));
        }
        Ok(())
    };
    let code = match chosen {
        Enforcer::Bpf => {
            let image = read_image(&bundle.artifact(&target, &target.bpf, "map image")?)?;
            if !agent::is_up(pin_dir) {
                bail!("the BPF-LSM programs are not attached under {}: run `armor-loader up` first", pin_dir.display());
            }
            state.rules = RuleMeta::of_image(&image);
            let targets = std::cell::RefCell::new(Targets::pinned(Some(pin_dir))?);
            run_target(
                cmd,
                None,
                target.host,
                true,
                |key| {
                    events::write_state(state_dir, key, &state)?;
                    targets.borrow_mut().apply(key, &image)?;
                    observe(key, &state)
                },
                |key| {
                    if let Err(e) = targets.borrow_mut().remove(key) {
                        eprintln!("armor-loader: removing the target's rule map: {e:#}");
                    }
                },
            )
        }
        Enforcer::Apparmor => {
            let profile = bundle.artifact(&target, &target.apparmor, "AppArmor profile")?;
            let name = target.apparmor_profile.clone().context("index.json names no apparmor_profile")?;
            apparmor::load_profile(&profile)?;
            // --op: the task performs the operation itself, so it enters the profile itself
            let attr = if matches!(cmd, Body::Op(_)) { ExecAttr::change(&name) } else { ExecAttr::new(&name) };
            run_target(
                cmd,
                Some(PreExec::AppArmor(&attr)),
                target.host && observed,
                observed,
                |key| observe(key, &state),
                |_| {},
            )
        }
        Enforcer::Landlock => {
            let name = target.name();
            if target.enforcement != "enabled" {
                // Landlock has no audit-only mode: an audited target runs unenforced too
                eprintln!("armor-loader: landlock: {name}: enforcement {}: running unenforced", target.enforcement);
                run_target(cmd, None, target.host && observed, observed, |key| observe(key, &state), |_| {})
            } else {
                let path = bundle.artifact(&target, &target.landlock, "Landlock plan")?;
                let plan = landlock::read_plan(&path)?; // rejected before anything is built
                let prepared = landlock::prepare(&name, &plan).with_context(|| format!("{}", path.display()))?;
                let pre = prepared.pre_exec();
                run_target(cmd, pre, target.host && observed, observed, |key| observe(key, &state), |_| {})
            }
        }
        Enforcer::None => {
            eprintln!("armor-loader: enforcer none: running {} unenforced", target.name());
            run_target(cmd, None, target.host && observed, observed, |key| observe(key, &state), |_| {})
        }
    };
    if let Some(o) = observer.into_inner() {
        o.finish(watched.get())?;
    }
    if let (Some(key), false) = (watched.get(), chosen == Enforcer::Bpf) {
        events::remove_state(state_dir, key);
    }
    code
}

fn print_alert(format: Format, a: &events::Event) {
    match format {
        Format::Json => println!("{}", serde_json::to_string(a).expect("alert is JSON")),
        Format::Text => println!(
            "{} {} {} {}/{}/{} {} {} {} {} ({})",
            a.updated_time,
            a.enforcer,
            a.kind,
            a.namespace_name,
            a.pod_name,
            a.container_name,
            a.operation,
            a.resource,
            a.action,
            a.result,
            a.policy_name
        ),
    }
}

fn cmd_events(format: Format, follow: bool, bundle: Option<&Path>, pin_dir: &Path, state_dir: &Path) -> Result<Status> {
    let bpf_up = pin_dir.join("armor_events").exists();
    if !bpf_up && bundle.is_none() {
        bail!(
            "no alerts to read: no BPF-LSM ring buffer under {} (run `armor-loader up`) and no --bundle for AppArmor",
            pin_dir.display()
        );
    }
    let mut mapper = bundle.map(apparmor::DenialMapper::open).transpose()?;
    let read_apparmor = |mapper: &mut apparmor::DenialMapper, follow: bool| {
        apparmor::read_kmsg(follow, |d| print_alert(format, &mapper.alert(&d)))
    };
    std::thread::scope(|s| -> Result<()> {
        let kmsg = match mapper.as_mut() {
            Some(m) if follow => Some(s.spawn(move || read_apparmor(m, true))),
            Some(m) => {
                read_apparmor(m, false)?;
                None
            }
            None => None,
        };
        if bpf_up {
            let mut reader = RingReader::open_alerts(pin_dir)?;
            let mut decoder = Decoder::new(state_dir);
            loop {
                reader.drain(|bytes| {
                    if let Some(ev) = RawEvent::parse(bytes) {
                        print_alert(format, &decoder.alert(&ev));
                    }
                });
                if !follow {
                    break;
                }
                reader.wait(1000);
            }
            eprintln!("armor-loader: {}", events::dropped_summary(pin_dir));
        }
        if let Some(h) = kmsg {
            h.join().map_err(|_| anyhow::anyhow!("kernel log reader panicked"))??;
        }
        Ok(())
    })?;
    Ok(Status::Success)
}

fn cmd_verify(img: &Path, queries: &Path) -> Result<Status> {
    let image = read_image(img)?;
    // Read whole before the kernel is touched, at most inputs::MAX_INPUT_BYTES.
    let bytes = inputs::read_file_capped(queries, inputs::MAX_INPUT_BYTES)
        .map_err(|e| anyhow::anyhow!("{}: {}", queries.display(), inputs::io_message(&e)))?;
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}: not UTF-8", queries.display()))?;
    let parsed = verify::parse_queries(&text);
    armor_runtime::ensure_bpffs()?;
    let mut harness = Harness::load()?;
    let report = verify::verify(&mut harness, &image, &parsed)?;
    println!("{}", report.summary());
    let q = queries.display();
    for d in &report.disagreements {
        println!(
            "{q}:{}: {}\n  kernel: {}\n  model:  {}",
            d.line,
            query::to_line(&d.query),
            verify::describe(&d.kernel),
            verify::describe(&d.model)
        );
    }
    for (line, e) in &report.errors {
        println!("{q}:{line}: error: {e}");
    }
    Ok(if report.ok() { Status::Success } else { Status::Disagree })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("armor-loader: {e:#}");
            ExitCode::from(1)
        }
    }
}
