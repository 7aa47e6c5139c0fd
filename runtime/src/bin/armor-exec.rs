//! armor-exec: runs one command under a Landlock plan inside a container. `armorc compile
//! --target landlock` patches each workload container that has a `command` to start as
//! `armor-exec --plan /armorc/plans/<container>.json -- <command...>` (docs/runtime.md,
//! "Landlock in Kubernetes pods"); an init container copies this binary (static) into an emptyDir
//! with `armor-exec --install /armorc/bin`.
//!
//! The plan is applied as `armor-loader exec --lsm landlock` applies a target's plan
//! (`landlock::prepare`: rulesets, capability drops, the socket program when privileged), then
//! the command replaces this process (same pid, signals go straight to it). Only when the socket
//! program is attached does armor-exec stay the command's parent, as the program lives as long
//! as this process; it then passes the signals the runtime sends it (SIGTERM, SIGINT, SIGHUP,
//! SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH) on to the command and, as pid 1, reaps orphans
//! (`exec::run_plain`).

use anyhow::{bail, Context, Result};
use armor_runtime::{exec, landlock};
use clap::Parser;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const NAME: &str = "armor-exec";

const AFTER_HELP: &str = "Examples:\n  armor-exec --plan /armorc/plans/nginx.json -- nginx -g 'daemon off;'\n  \
armor-exec --install /armorc/bin\n\n\
Exit status: the command's (armor-exec execs it); 126: the plan could not be read or applied, or \
the kernel refused to run the command; 127: the command was not found; 2: usage; 1: --install failed.";

#[derive(Parser)]
#[command(name = NAME, version, about = "Apply a Landlock plan (armorc compile --target landlock) to this process and exec the command", after_help = AFTER_HELP)]
struct Cli {
    /// The Landlock plan (docs/landlock-plan.md), e.g. a compile output's
    /// landlock/<namespace>/<workload>/<container>.json.
    #[arg(long, value_name = "FILE", required_unless_present = "install", conflicts_with = "install")]
    plan: Option<PathBuf>,
    /// Copy this executable to DIR/armor-exec (mode 0755) and exit: the init container's job.
    #[arg(long, value_name = "DIR")]
    install: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, value_name = "CMD", required_unless_present = "install")]
    cmd: Vec<OsString>,
}

fn main() -> ExitCode {
    armor_runtime::set_program(NAME);
    let cli = Cli::parse();
    if let Some(dir) = &cli.install {
        return match install(dir) {
            Ok(to) => {
                eprintln!("{NAME}: installed {}", to.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{NAME}: error: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    let plan = cli.plan.as_deref().expect("clap requires --plan without --install");
    match run(plan, &cli.cmd) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("{NAME}: error: {e:#}; the command was not run");
            ExitCode::from(126)
        }
    }
}

/// Applies the plan and execs `cmd` (returns only with the socket program: the command's status).
fn run(plan_path: &Path, cmd: &[OsString]) -> Result<i32> {
    let plan = landlock::read_plan(plan_path)?;
    let prepared = landlock::prepare(&plan.target, &plan).with_context(|| format!("{}", plan_path.display()))?;
    let pre = prepared.pre_exec();
    if prepared.sockets.is_some() {
        // the program stays attached while this process lives: wait for the command
        return exec::run_plain(cmd, pre);
    }
    match exec::exec_in_place(cmd, pre)? {}
}

/// Copies /proc/self/exe to DIR/armor-exec through a temporary sibling renamed into place.
fn install(dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let to = dir.join(NAME);
    let tmp = dir.join(format!(".{NAME}.{}", std::process::id()));
    std::fs::copy("/proc/self/exe", &tmp).with_context(|| format!("copying /proc/self/exe to {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .and_then(|()| std::fs::rename(&tmp, &to))
        .with_context(|| format!("installing {}", to.display()))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
    Ok(to)
}
