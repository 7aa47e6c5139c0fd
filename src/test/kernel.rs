//! `armorc test --kernel`: each case performed for real through `armor-loader exec --op` in
//! its target, under one enforcer (bpf, apparmor or landlock), from a bundle compiled as
//! `armorc compile --target all` compiles it into a temporary directory. The loader's exit
//! status is the answer: 0 allowed, 13 refused, 3 failed otherwise, 4 an operation it cannot
//! perform (docs/testing.md, "--kernel"). A case this machine cannot set up is skipped with the
//! reason, never passed. Nothing outside the temporary directory is created, truncated or
//! removed: file changes (unlink, mkdir, rmdir) run only under it, on files made for the case.

use super::{Built, Case, Enforcer};
use armorc_compiler::compose::Target;
use armorc_compiler::ir::{Policy, RuleTarget};
use armorc_compiler::model::Op;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The loader's `exec --op` exit statuses (runtime/src/op.rs).
const ALLOWED: i32 = 0;
const DENIED: i32 = 13;
const FAILED: i32 = 3;
const UNSUPPORTED: i32 = 4;

/// Where the loader is, and the enforcer every case runs under.
pub(super) struct Kernel {
    loader: PathBuf,
    pub(super) lsm: String,
}

/// What the kernel answered for one case.
pub(super) enum Answer {
    /// `allow`, `deny` or `audit` (an allowed operation, for a case expecting `audit`), with the
    /// answer line (JSON) for the reports.
    Decided(&'static str, String),
    /// The operation could not be performed: not a decision (the case fails), with why.
    Error(String),
    /// The case cannot be run on this machine: why.
    Skipped(String),
}

impl Kernel {
    /// The loader: `--loader`, else `armor-loader` beside this executable, else on PATH. The
    /// enforcer: `--lsm`, else what `armor-loader probe` picks.
    pub(super) fn new(loader: Option<&Path>, lsm: Option<&str>) -> Result<Kernel, String> {
        let loader = match loader {
            Some(p) if p.is_file() => p.to_path_buf(),
            Some(p) => return Err(format!("--loader {}: no such file", p.display())),
            None => find_loader().ok_or_else(|| {
                "armor-loader not found beside armorc or on PATH (build it: cargo build -p armor-loader; or give \
                 --loader PATH)"
                    .to_string()
            })?,
        };
        let lsm = match lsm {
            Some(l) => l.to_string(),
            None => probe(&loader)?,
        };
        Ok(Kernel { loader, lsm })
    }

    pub(super) fn label(&self) -> String {
        format!("kernel ({})", self.lsm)
    }

    /// The bundle of one test file, in a fresh temporary directory (removed when dropped).
    pub(super) fn bundle(
        built: &Built,
        node_labels: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Result<tempfile::TempDir, String> {
        let dir = tempfile::Builder::new()
            .prefix("armorc-test-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        crate::compile::write_all(
            &dir.path().join("bundle"),
            &built.policies,
            &built.composition,
            &built.workloads,
            node_labels,
        )
        .map_err(|e| format!("compiling the bundle for --kernel: {e}"))?;
        Ok(dir)
    }

    /// Run `case` in `target` of the bundle in `dir`.
    pub(super) fn run(&self, dir: &Path, case: &Case, target: &Target, policies: &[Policy]) -> Answer {
        if case.enforcer == Enforcer::Landlock && self.lsm != "landlock" {
            return Answer::Skipped(format!("the case is for enforcer landlock, the kernel run uses {}", self.lsm));
        }
        let owner_only = target.policies.iter().any(|&p| policies[p].rules.iter().any(|r| owner_only(&r.target)));
        let prepared = match prepare(case, owner_only) {
            Ok(p) => p,
            Err(why) => return Answer::Skipped(why),
        };
        let mut cmd = Command::new(&self.loader);
        cmd.arg("exec").arg("--bundle").arg(dir.join("bundle")).args(["--lsm", &self.lsm]);
        if target.host {
            cmd.arg("--host");
        } else {
            cmd.args(["--target", &case.target]);
        }
        cmd.args(["--op", prepared.op, &prepared.arg]);
        let output = cmd.output();
        if let Some(made) = &prepared.made {
            // whatever the operation did, what we made goes
            let _ = std::fs::remove_file(made).or_else(|_| std::fs::remove_dir(made));
        }
        let output = match output {
            Ok(o) => o,
            Err(e) => return Answer::Error(format!("cannot run {}: {e}", self.loader.display())),
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").to_string();
        let line = |status: i32| {
            serde_json::json!({"kernel": self.lsm, "op": prepared.op, "arg": prepared.arg, "status": status})
                .to_string()
        };
        match output.status.code() {
            Some(ALLOWED) if case.expect == "audit" => Answer::Decided("audit", line(ALLOWED)),
            Some(ALLOWED) => Answer::Decided("allow", line(ALLOWED)),
            Some(DENIED) => Answer::Decided("deny", line(DENIED)),
            Some(UNSUPPORTED) => Answer::Skipped(message),
            Some(FAILED) => Answer::Error(format!("the operation failed (not a decision): {message}")),
            code => Answer::Error(format!(
                "armor-loader exited with {}: {message}",
                code.map_or_else(|| "a signal".to_string(), |c| c.to_string())
            )),
        }
    }
}

fn find_loader() -> Option<PathBuf> {
    let beside = std::env::current_exe().ok()?.parent().map(|d| d.join("armor-loader"));
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    beside.into_iter().chain(on_path.map(|d| d.join("armor-loader"))).find(|p| p.is_file())
}

/// The enforcer `armor-loader probe` chooses on this machine.
fn probe(loader: &Path) -> Result<String, String> {
    let out = Command::new(loader)
        .args(["probe", "--format", "json"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", loader.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| format!("{} probe: {}", loader.display(), String::from_utf8_lossy(&out.stderr).trim()))?;
    match doc["chosen"].as_str() {
        Some(lsm) if lsm != "none" => Ok(lsm.to_string()),
        _ => Err(format!(
            "{} probe: no enforcer usable on this machine (armor-loader probe says why); give --lsm",
            loader.display()
        )),
    }
}

fn owner_only(t: &RuleTarget) -> bool {
    match t {
        RuleTarget::ProcessPath { owner_only, .. }
        | RuleTarget::ProcessExecname { owner_only, .. }
        | RuleTarget::ProcessDir { owner_only, .. }
        | RuleTarget::ProcessPattern { owner_only, .. }
        | RuleTarget::FilePath { owner_only, .. }
        | RuleTarget::FileDir { owner_only, .. }
        | RuleTarget::FilePattern { owner_only, .. } => *owner_only,
        _ => false,
    }
}

/// The loader's `--op OP ARG` for a case, and what was made for it (removed after the run).
struct Prepared {
    op: &'static str,
    arg: String,
    made: Option<PathBuf>,
}

/// `--op` for `case`, making what it needs under the temporary directory; the reason the case
/// cannot run here otherwise.
fn prepare(case: &Case, owner_only: bool) -> Result<Prepared, String> {
    let q = &case.query;
    if !q.source.is_empty() {
        return Err(format!(
            "source: the operation would have to come from a process running {} (not done: exec'ing it would run it)",
            String::from_utf8_lossy(&q.source)
        ));
    }
    if q.tty {
        return Err("tty: the operation runs without a terminal".into());
    }
    if !q.args.is_empty() {
        return Err("args: the exec runs its program with no arguments".into());
    }
    let plain = |op: &'static str, arg: String| Ok(Prepared { op, arg, made: None });
    match q.op {
        Op::Socket if q.call.is_some() => Err("connect and bind are not performed, only the socket's creation".into()),
        Op::Socket => {
            let ty = match (q.sock_type, q.protocol) {
                (0, 6 | 132) => 1, // tcp, sctp: SOCK_STREAM
                (0, 17) => 2,      // udp: SOCK_DGRAM
                (0, 1 | 58) => 3,  // icmp, icmpv6: SOCK_RAW
                (0, p) => return Err(format!("protocol {p} without a type: no socket type to create")),
                (t, _) => t,
            };
            plain("socket", format!("{ty},{}", q.protocol))
        }
        Op::Capable => plain("capable", q.capability.to_string()),
        Op::Exec | Op::Open | Op::Write | Op::Unlink | Op::Mkdir | Op::Rmdir => {
            let path = std::str::from_utf8(&q.path).map_err(|_| "the path is not UTF-8".to_string())?.to_string();
            file_op(q.op, path, q.owner, owner_only)
        }
        op => Err(format!(
            "op {} is not performed by the kernel run (only exec, open, write, unlink, mkdir, rmdir, socket, capable)",
            op.name()
        )),
    }
}

fn file_op(op: Op, path: String, owner: bool, owner_only: bool) -> Result<Prepared, String> {
    let meta = std::fs::metadata(&path);
    if owner_only {
        // ownerOnly rules decide by the file's owner: the case must say what is true here
        // SAFETY: geteuid has no arguments and cannot fail.
        let euid = unsafe { libc::geteuid() };
        let ours = meta.as_ref().is_ok_and(|m| m.uid() == euid);
        if ours != owner {
            return Err(format!(
                "owner: {owner}, but {path} is {}owned by this user (uid {euid}) here, and the target has ownerOnly rules",
                if ours { "" } else { "not " }
            ));
        }
    }
    let name = op.name();
    let missing = || format!("{path} does not exist on this machine");
    match op {
        Op::Exec => match meta {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {}
            Ok(_) => return Err(format!("{path} is not an executable file here")),
            Err(_) => return Err(missing()),
        },
        // opening a device or FIFO could block or act: only files and directories
        Op::Open => match meta {
            Ok(m) if m.is_file() || m.is_dir() => {}
            Ok(_) => return Err(format!("{path} is not a regular file or directory here")),
            Err(_) => return Err(missing()),
        },
        Op::Write => match meta {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(format!("{path} is not a regular file here")),
            Err(_) => return Err(missing()),
        },
        _ => return changed_in_temp(op, path),
    }
    Ok(Prepared { op: name, arg: path, made: None })
}

/// unlink, mkdir, rmdir: only below the temporary directory, on a name nothing holds, which we
/// make (unlink, rmdir) or the operation makes (mkdir); it is removed after the run.
fn changed_in_temp(op: Op, path: String) -> Result<Prepared, String> {
    let temp = std::env::temp_dir();
    let temp = temp.canonicalize().unwrap_or(temp);
    let p = Path::new(&path);
    let parent = p.parent().and_then(|d| d.canonicalize().ok());
    if !parent.as_ref().is_some_and(|d| d.starts_with(&temp)) || path.split('/').any(|c| c == "..") {
        return Err(format!(
            "{} changes the file system: run only below the temporary directory {} (system paths are never changed)",
            op.name(),
            temp.display()
        ));
    }
    if std::fs::symlink_metadata(p).is_ok() {
        return Err(format!("{path} exists: the kernel run {}s only what it made", op.name()));
    }
    let made = match op {
        Op::Unlink => std::fs::File::create(p).map(drop),
        Op::Rmdir => std::fs::create_dir(p),
        _ => Ok(()),
    };
    made.map_err(|e| format!("cannot make {path}: {e}"))?;
    Ok(Prepared { op: op.name(), arg: path.clone(), made: Some(PathBuf::from(path)) })
}
