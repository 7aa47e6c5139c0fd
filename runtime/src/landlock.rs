//! Applying a Landlock plan (docs/landlock-plan.md): `build` turns each plan layer into a
//! Landlock ruleset, expanding the grants against the filesystem as it is now; `restrict` enforces
//! them on the calling process and drops the plan's capabilities, right before the command execs.
//! Building restricts nothing, so rulesets built in a parent can be enforced by a forked child.
//!
//! Paths are opened one component at a time with `O_PATH | O_NOFOLLOW` from their parent: no
//! symbolic link is ever followed, on the way or at the end, so a rule lands on the file the plan
//! names or nowhere.

use crate::enforcer::landlock_abi;
use crate::exec::PreExec;
use crate::sockets::{self, SocketProgram};
use anyhow::{anyhow, bail, Context, Result};
use armorc_compiler::inputs;
use armorc_compiler::landlock::{Excluded, Grant, Plan, Right, NET_ABI};
use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

const LANDLOCK_RULE_PATH_BENEATH: libc::c_long = 1;
/// `LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP`.
const NET_TCP: u64 = 1 | 2;
const CAP_SETPCAP: u32 = 8;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct landlock_path_beneath_attr` (packed in linux/landlock.h: 12 bytes).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// `struct __user_cap_header_struct` and `__user_cap_data_struct` (v3: two data structs).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// What `build` did, for the loader's summary line.
#[derive(Debug, Default)]
pub struct BuildReport {
    /// Rules added, per layer.
    pub rules: Vec<usize>,
    /// `beneath` and `files_in` paths that got no rule, with why (not found, a symbolic link).
    pub skipped: Vec<String>,
    /// Symbolic links on the way to an excluded path: not followed, so what they point to is
    /// granted like any other entry (the exclusion does not reach through them).
    pub symlinks: Vec<String>,
    /// Entries left without a rule because they are another name (hard link, bind mount) of an
    /// excluded path or of a directory on the way to one: a rule on them would grant it.
    pub aliases: Vec<String>,
    /// Names of the capabilities `restrict` drops.
    pub dropped: Vec<String>,
    /// The plan refuses TCP sockets: whether Landlock refuses TCP connect and bind (the last
    /// ruleset), or why not (the kernel's ABI).
    pub tcp: Option<Result<(), String>>,
}

impl BuildReport {
    /// One line: layers, rules, skipped paths, symbolic links, capabilities.
    pub fn summary(&self) -> String {
        fn some(list: &[String]) -> String {
            let mut s = list.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
            if list.len() > 3 {
                s.push_str(&format!(", +{} more", list.len() - 3));
            }
            s
        }
        let per_layer: Vec<String> = self.rules.iter().map(usize::to_string).collect();
        let mut line = format!(
            "{} layer(s), {} rule(s) ({})",
            self.rules.len(),
            self.rules.iter().sum::<usize>(),
            if per_layer.is_empty() { "-".into() } else { per_layer.join(" + ") }
        );
        if !self.skipped.is_empty() {
            line.push_str(&format!("; {} path(s) skipped: {}", self.skipped.len(), some(&self.skipped)));
        }
        if !self.symlinks.is_empty() {
            line.push_str(&format!(
                "; {} symbolic link(s) on the way to excluded paths not followed: {}",
                self.symlinks.len(),
                some(&self.symlinks)
            ));
        }
        if !self.aliases.is_empty() {
            line.push_str(&format!(
                "; {} other name(s) of excluded paths not granted: {}",
                self.aliases.len(),
                some(&self.aliases)
            ));
        }
        match &self.tcp {
            Some(Ok(())) => line.push_str("; TCP connect and bind refused"),
            Some(Err(why)) => line.push_str(&format!("; TCP connect and bind NOT refused: {why}")),
            None => {}
        }
        if self.dropped.is_empty() {
            line.push_str("; no capability dropped");
        } else {
            line.push_str(&format!("; capabilities dropped: {}", self.dropped.join(", ")));
        }
        line
    }
}

/// A plan made ready to enforce: one ruleset per layer, the capabilities to drop.
pub struct Rulesets {
    layers: Vec<OwnedFd>,
    caps: Vec<u32>,
    pub report: BuildReport,
}

/// A plan made ready to run a command under (`prepare`): its rulesets, and the socket program
/// when the plan refuses sockets and this process could attach it.
pub struct Prepared {
    pub rulesets: Rulesets,
    pub sockets: Option<SocketProgram>,
}

impl Prepared {
    /// The step right before the command's exec, or None when there is nothing to enforce.
    pub fn pre_exec(&self) -> Option<PreExec<'_>> {
        (!self.rulesets.is_empty() || self.sockets.is_some())
            .then_some(PreExec::Landlock(&self.rulesets, self.sockets.as_ref()))
    }
}

/// `build`s the plan of target `name` and attaches its socket program (`socket_program`), saying
/// on stderr what will be enforced (`armor-loader exec --lsm landlock` and `armor-exec`).
pub fn prepare(name: &str, plan: &Plan) -> Result<Prepared> {
    let rulesets = build(plan)?;
    let sockets = socket_program(name, plan);
    let prepared = Prepared { rulesets, sockets };
    let program = crate::program();
    if prepared.pre_exec().is_none() {
        eprintln!("{program}: landlock: {name}: the plan has no layer and no capability drop: running unenforced");
    } else {
        eprintln!("{program}: landlock: {name}: {}", prepared.rulesets.report.summary());
    }
    Ok(prepared)
}

/// The plan's socket program, attached to the command's own cgroup, when the plan refuses
/// sockets and the loader can (root); otherwise a warning naming what is not enforced.
fn socket_program(name: &str, plan: &Plan) -> Option<SocketProgram> {
    let net = plan.network.as_ref()?;
    let program = crate::program();
    match SocketProgram::attach(net) {
        Ok(p) => {
            eprintln!("{program}: landlock: {name}: socket program attached to {}", p.cgroup().display());
            Some(p)
        }
        Err(e) => {
            let tcp = if net.refuses_tcp() { " (Landlock still refuses TCP connect and bind)" } else { "" };
            eprintln!(
                "{program}: landlock: {name}: warning: socket creation is not refused{tcp}: could not attach \
                 the socket program (it needs root): {e:#}; not enforced: {}",
                sockets::refusing_rules(plan).join("; ")
            );
            None
        }
    }
}

/// Read (at most `inputs::MAX_INPUT_BYTES`) and decode a plan file; nothing is built before this
/// succeeds.
pub fn read_plan(path: &Path) -> Result<Plan> {
    let bytes = inputs::read_file_capped(path, inputs::MAX_INPUT_BYTES)
        .map_err(|e| anyhow!("{}: {}", path.display(), inputs::io_message(&e)))?;
    Plan::decode(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Builds the plan's rulesets (docs/landlock-plan.md, "Grants"), and when the plan refuses TCP
/// sockets a last one handling TCP bind and connect with no port granted (Landlock ABI 4; on an
/// older kernel it is left out and the report says why). The calling process stays
/// unrestricted. Fails when the kernel's Landlock ABI is below the plan's.
pub fn build(plan: &Plan) -> Result<Rulesets> {
    if !plan.layers.is_empty() {
        let abi = landlock_abi()
            .map_err(|e| anyhow!("Landlock is unavailable ({e}); the plan needs Landlock ABI {}", plan.abi))?;
        if abi < i64::from(plan.abi) {
            bail!("the kernel's Landlock ABI is {abi}, the plan needs ABI {}", plan.abi);
        }
    }
    let mut report = BuildReport::default();
    let mut layers = Vec::new();
    for layer in &plan.layers {
        let mut b = Layer { ruleset: create_ruleset(bits(&layer.handled), 0)?, added: 0, report: &mut report };
        for grant in &layer.grants {
            let access = bits(grant.access());
            match grant {
                // the plan's own grants (no rule: `/`, dynamic loaders) are skipped silently
                Grant::Beneath { path, rule, .. } => b.beneath(path, access, rule.is_some()),
                Grant::FilesIn { dir, .. } => b.files_in(dir, access),
                Grant::Except { excluded, .. } => b.except(access, excluded),
            }
            .with_context(|| format!("layer `{}`", layer.name))?;
        }
        let (ruleset, added) = (b.ruleset, b.added);
        report.rules.push(added);
        layers.push(ruleset);
    }
    if plan.network.as_ref().is_some_and(|n| n.refuses_tcp()) {
        let abi = landlock_abi().unwrap_or(0);
        report.tcp = Some(if abi >= i64::from(NET_ABI) {
            layers.push(create_ruleset(0, NET_TCP)?);
            Ok(())
        } else {
            Err(format!("the kernel's Landlock ABI is {abi}, TCP rules need {NET_ABI}"))
        });
    }
    report.dropped = plan.drop_capabilities.iter().map(|c| c.name.clone()).collect();
    Ok(Rulesets { layers, caps: plan.drop_capabilities.iter().map(|c| c.number).collect(), report })
}

fn bits(rights: &[Right]) -> u64 {
    rights.iter().fold(0, |a, r| a | r.bit())
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A ruleset handling `handled_fs` and `handled_net` (`struct landlock_ruleset_attr`: the size
/// passed is ABI 1's struct, 8 bytes, without network rights, so older kernels take it).
fn create_ruleset(handled_fs: u64, handled_net: u64) -> Result<OwnedFd> {
    let attr = [handled_fs, handled_net];
    let size: usize = if handled_net == 0 { 8 } else { 16 };
    // SAFETY: attr is a live [u64; 2], at least the `size` bytes passed; the kernel only reads it.
    let fd = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, attr.as_ptr(), size, 0u32) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("landlock_create_ruleset");
    }
    // SAFETY: the syscall returned a new descriptor (O_CLOEXEC) that only we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    Link,
    Other,
}

/// `name` in `dir`, without following a symbolic link; `None` when it does not exist.
fn open_at(dir: RawFd, name: &[u8]) -> io::Result<Option<(OwnedFd, Kind)>> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: c is NUL-terminated; openat only reads it. The fd returned is new and ours.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOENT) { Ok(None) } else { Err(e) };
    }
    // SAFETY: fd was just returned by openat and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let (kind, _) = meta(&fd)?;
    Ok(Some((fd, kind)))
}

/// The file type and identity (device, inode) behind a descriptor (fstat works on O_PATH ones).
fn meta(fd: &OwnedFd) -> io::Result<(Kind, (u64, u64))> {
    // SAFETY: all-zero bytes are a valid libc::stat; fstat writes only that live struct, for a
    // live (borrowed) descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Link,
        _ => Kind::Other,
    };
    Ok((kind, (st.st_dev, st.st_ino)))
}

/// The files an `except` grant must not put a rule on. Landlock attaches a rule to an inode, so a
/// rule on another name of an excluded file (a hard link) or of a directory on the way to one (a
/// bind mount) would grant the excluded path itself: `/`, the directories on the way, the
/// excluded paths, and the files directly in a shallow excluded directory.
fn guarded(excluded: &[Excluded]) -> Result<HashSet<(u64, u64)>> {
    let root = || open_at(libc::AT_FDCWD, b"/")?.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT));
    let mut ids = HashSet::new();
    for x in excluded {
        let (mut fd, mut kind) = root().context("opening /")?;
        ids.insert(meta(&fd)?.1);
        let mut reached = true;
        for comp in x.path[1..].split('/') {
            let next = if kind == Kind::Dir { open_at(fd.as_raw_fd(), comp.as_bytes()) } else { Ok(None) };
            match next.with_context(|| format!("opening {}", x.path))? {
                Some((next, k)) if k != Kind::Link => (fd, kind) = (next, k),
                _ => {
                    reached = false; // missing, or through a link (reported by the walk)
                    break;
                }
            }
            ids.insert(meta(&fd)?.1);
        }
        if reached && x.shallow && kind == Kind::Dir {
            for name in list(&fd).with_context(|| format!("listing {}", x.path))? {
                if let Some((e, Kind::Other)) = open_at(fd.as_raw_fd(), &name)? {
                    ids.insert(meta(&e)?.1);
                }
            }
        }
    }
    Ok(ids)
}

/// How opening a plan path ended.
enum Found {
    Opened(OwnedFd, Kind),
    Missing,
    /// A symbolic link at this prefix of the path: the walk stops there.
    Symlink(String),
}

/// Opens an absolute plan path component by component from `/`, following no symbolic link.
fn open_path(path: &str) -> io::Result<Found> {
    let (mut fd, mut kind) =
        open_at(libc::AT_FDCWD, b"/")?.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
    if path == "/" {
        return Ok(Found::Opened(fd, kind));
    }
    let mut end = 0;
    for comp in path[1..].split('/') {
        end += 1 + comp.len();
        if kind != Kind::Dir {
            return Ok(Found::Missing); // a file on the way
        }
        match open_at(fd.as_raw_fd(), comp.as_bytes())? {
            None => return Ok(Found::Missing),
            Some((_, Kind::Link)) => return Ok(Found::Symlink(path[..end].to_string())),
            Some((next, k)) => (fd, kind) = (next, k),
        }
    }
    Ok(Found::Opened(fd, kind))
}

/// The entry names of a directory (opened O_PATH), sorted, without `.` and `..`.
fn list(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    // SAFETY: "." is NUL-terminated; reopening an O_PATH directory for reading gives a new fd.
    let fd =
        unsafe { libc::openat(dir.as_raw_fd(), c".".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is our new directory descriptor; on success the DIR stream owns it.
    let d = unsafe { libc::fdopendir(fd) };
    if d.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so fd is still ours to close (once).
        unsafe { libc::close(fd) };
        return Err(e);
    }
    let mut names = Vec::new();
    let result = loop {
        // SAFETY: errno is this thread's; readdir returns NULL at the end (errno unchanged) or on
        // error (errno set), else an entry valid until the next readdir on `d`, copied right away.
        unsafe {
            *libc::__errno_location() = 0;
            let ent = libc::readdir(d);
            if ent.is_null() {
                break match errno() {
                    0 => Ok(()),
                    e => Err(io::Error::from_raw_os_error(e)),
                };
            }
            let name = CStr::from_ptr((*ent).d_name.as_ptr()).to_bytes();
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
        }
    };
    // SAFETY: d is the stream fdopendir returned, closed once (this closes fd too).
    unsafe { libc::closedir(d) };
    result?;
    names.sort();
    Ok(names)
}

/// What the `except` walk does with an entry (docs/landlock-plan.md, rules 1-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Rule 1: an excluded path (not shallow): nothing on it or below.
    Skip,
    /// Rule 2: on the way to an excluded path, or a shallow excluded path: no rule, expand it.
    Descend,
    /// Rule 3: in a shallow excluded directory: a rule if it is a directory.
    RuleIfDir,
    /// Rule 4.
    Rule,
}

/// The step for entry `path` of a directory that is (`in_shallow`) or is not a shallow excluded path.
fn step(path: &[u8], in_shallow: bool, excluded: &[Excluded]) -> Step {
    let mut descend = false;
    for x in excluded {
        let x_path = x.path.as_bytes();
        if x_path == path {
            if !x.shallow {
                return Step::Skip;
            }
            descend = true;
        } else if x_path.len() > path.len() && x_path.starts_with(path) && x_path[path.len()] == b'/' {
            descend = true;
        }
    }
    if descend {
        Step::Descend
    } else if in_shallow {
        Step::RuleIfDir
    } else {
        Step::Rule
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if dir != b"/" {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// Rights a rule on a non-directory may carry.
fn file_rights() -> u64 {
    Right::ALL.iter().filter(|r| r.applies_to_files()).fold(0, |a, r| a | r.bit())
}

/// One `except` grant being expanded.
struct Walk<'a> {
    access: u64,
    excluded: &'a [Excluded],
    /// `guarded`: the files no rule may name.
    guarded: HashSet<(u64, u64)>,
}

/// One layer being built.
struct Layer<'a> {
    ruleset: OwnedFd,
    added: usize,
    report: &'a mut BuildReport,
}

impl Layer<'_> {
    /// A rule on `fd` (consumed: closed right after); a non-directory gets only the rights files
    /// can carry (the kernel refuses others with EINVAL), and no rule if none is left.
    fn add(&mut self, fd: OwnedFd, kind: Kind, access: u64, path: &[u8]) -> Result<()> {
        let access = if kind == Kind::Dir { access } else { access & file_rights() };
        if access == 0 {
            return Ok(());
        }
        let attr = PathBeneathAttr { allowed_access: access, parent_fd: fd.as_raw_fd() };
        // SAFETY: attr is a live 12-byte packed struct the kernel only reads; both fds are live.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                self.ruleset.as_raw_fd(),
                LANDLOCK_RULE_PATH_BENEATH,
                &attr as *const PathBeneathAttr,
                0u32,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            bail!("landlock_add_rule on {}: {e}", String::from_utf8_lossy(path));
        }
        drop(fd);
        self.added += 1;
        Ok(())
    }

    fn open_or_skip(&mut self, path: &str, report: bool) -> Result<Option<(OwnedFd, Kind)>> {
        let why = match open_path(path).with_context(|| format!("opening {path}"))? {
            Found::Opened(fd, kind) => return Ok(Some((fd, kind))),
            Found::Missing => "not found".to_string(),
            Found::Symlink(at) => format!("symbolic link at {at}"),
        };
        if report {
            self.report.skipped.push(format!("{path} ({why})"));
        }
        Ok(None)
    }

    fn beneath(&mut self, path: &str, access: u64, report: bool) -> Result<()> {
        if let Some((fd, kind)) = self.open_or_skip(path, report)? {
            self.add(fd, kind, access, path.as_bytes())?;
        }
        Ok(())
    }

    fn files_in(&mut self, dir: &str, access: u64) -> Result<()> {
        let Some((fd, kind)) = self.open_or_skip(dir, true)? else { return Ok(()) };
        if kind != Kind::Dir {
            self.report.skipped.push(format!("{dir} (not a directory)"));
            return Ok(());
        }
        for name in list(&fd).with_context(|| format!("listing {dir}"))? {
            let path = join(dir.as_bytes(), &name);
            let entry = open_at(fd.as_raw_fd(), &name)
                .with_context(|| format!("opening {}", String::from_utf8_lossy(&path)))?;
            if let Some((e, Kind::Other)) = entry {
                self.add(e, Kind::Other, access, &path)?;
            }
        }
        Ok(())
    }

    fn except(&mut self, access: u64, excluded: &[Excluded]) -> Result<()> {
        let guarded = guarded(excluded)?;
        let Found::Opened(root, _) = open_path("/").context("opening /")? else {
            bail!("/ cannot be opened");
        };
        self.expand(b"/", &root, false, &Walk { access, excluded, guarded })
    }

    fn expand(&mut self, dir: &[u8], fd: &OwnedFd, in_shallow: bool, walk: &Walk) -> Result<()> {
        let excluded = walk.excluded;
        let shown = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        for name in list(fd).with_context(|| format!("listing {}", shown(dir)))? {
            let path = join(dir, &name);
            let step = step(&path, in_shallow, excluded);
            if step == Step::Skip {
                continue;
            }
            // an entry removed since the listing needs no rule
            let Some((e, kind)) =
                open_at(fd.as_raw_fd(), &name).with_context(|| format!("opening {}", shown(&path)))?
            else {
                continue;
            };
            match (step, kind) {
                (Step::Descend, Kind::Link) => self.report.symlinks.push(shown(&path)),
                (Step::Descend, Kind::Dir) => {
                    let shallow = excluded.iter().any(|x| x.shallow && x.path.as_bytes() == path.as_slice());
                    self.expand(&path, &e, shallow, walk)?;
                }
                (_, Kind::Link) | (Step::Descend, _) | (Step::RuleIfDir, Kind::Other) => {}
                _ if walk.guarded.contains(&meta(&e)?.1) => self.report.aliases.push(shown(&path)),
                _ => self.add(e, kind, walk.access, &path)?,
            }
        }
        Ok(())
    }
}

impl Rulesets {
    /// Whether there is anything to enforce.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty() && self.caps.is_empty()
    }

    /// Enforces the rulesets on the calling thread (and what it execs) and drops the capabilities:
    /// sets no_new_privs (Landlock requires it without CAP_SYS_ADMIN; setuid binaries and file
    /// capabilities then elevate nothing), restricts with each layer in order, drops each
    /// capability from the bounding set, clears them from the effective, permitted and
    /// inheritable sets, and clears the ambient set.
    ///
    /// Dropping from the bounding set needs CAP_SETPCAP: a process without it (root or not)
    /// skips that step (the others need no privilege); under no_new_privs its exec cannot gain a
    /// capability beyond its permitted set, from which the drops are cleared (the kernel
    /// intersects a root exec's new permitted set with the old one). With CAP_SETPCAP every
    /// failure is an error.
    ///
    /// Only system calls, no allocation: runs in a forked child of a possibly multi-threaded
    /// process, right before execve. The error names the failed step and its errno.
    pub fn restrict(&self) -> Result<(), (&'static str, i32)> {
        // SAFETY: prctl and the Landlock/capability syscalls take integers and pointers to the
        // stack structs below, live for each call and of the sizes the kernel expects (v3: one
        // header, two data structs). Nothing here allocates or takes a lock.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(("prctl(PR_SET_NO_NEW_PRIVS)", errno()));
            }
            for fd in &self.layers {
                if libc::syscall(libc::SYS_landlock_restrict_self, fd.as_raw_fd(), 0u32) != 0 {
                    return Err(("landlock_restrict_self", errno()));
                }
            }
            if self.caps.is_empty() {
                return Ok(());
            }
            let mut head = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
            let mut data = [CapData::default(); 2];
            if libc::syscall(libc::SYS_capget, &mut head as *mut CapHeader, data.as_mut_ptr()) != 0 {
                return Err(("capget", errno()));
            }
            if data[0].effective & (1 << CAP_SETPCAP) != 0 {
                for &cap in &self.caps {
                    // EINVAL: a capability this kernel does not know, which nothing can use
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 && errno() != libc::EINVAL
                    {
                        return Err(("prctl(PR_CAPBSET_DROP)", errno()));
                    }
                }
            }
            for &cap in &self.caps {
                let d = &mut data[(cap / 32) as usize % 2];
                let keep = !(1u32 << (cap % 32));
                d.effective &= keep;
                d.permitted &= keep;
                d.inheritable &= keep;
            }
            if libc::syscall(libc::SYS_capset, &mut head as *mut CapHeader, data.as_ptr()) != 0 {
                return Err(("capset", errno()));
            }
            if libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", errno()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(path: &str, shallow: bool) -> Excluded {
        Excluded { path: path.into(), shallow, rule: 0 }
    }

    #[test]
    fn step_follows_the_four_rules() {
        let ex = [x("/etc/shadow", false), x("/var/log", true), x("/var/log/secure/key", false)];
        assert_eq!(step(b"/etc", false, &ex), Step::Descend); // rule 2: ancestor
        assert_eq!(step(b"/etc/shadow", false, &ex), Step::Skip); // rule 1
        assert_eq!(step(b"/etc/shadow-", false, &ex), Step::Rule); // a sibling sharing the prefix
        assert_eq!(step(b"/etcetera", false, &ex), Step::Rule);
        assert_eq!(step(b"/var/log", false, &ex), Step::Descend); // rule 2: shallow excluded
        assert_eq!(step(b"/var/log/syslog", true, &ex), Step::RuleIfDir); // rule 3
        assert_eq!(step(b"/var/log/secure", true, &ex), Step::Descend); // rule 2 before rule 3
        assert_eq!(step(b"/var/log/secure/other", false, &ex), Step::Rule);
        assert_eq!(step(b"/var/log/secure/key", false, &ex), Step::Skip);
        assert_eq!(step(b"/usr", false, &ex), Step::Rule); // rule 4
    }

    #[test]
    fn an_excluded_path_wins_over_being_on_the_way() {
        // /a is excluded outright and also an ancestor of /a/b: nothing below /a is granted
        let ex = [x("/a/b", false), x("/a", false)];
        assert_eq!(step(b"/a", false, &ex), Step::Skip);
        let ex = [x("/a", true), x("/a", false)];
        assert_eq!(step(b"/a", false, &ex), Step::Skip);
    }

    #[test]
    fn join_and_file_rights() {
        assert_eq!(join(b"/", b"etc"), b"/etc");
        assert_eq!(join(b"/etc", b"passwd"), b"/etc/passwd");
        let f = file_rights();
        assert_eq!(f, Right::Execute.bit() | Right::WriteFile.bit() | Right::ReadFile.bit() | Right::Truncate.bit());
    }

    #[test]
    fn open_path_never_follows_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("real")).unwrap();
        std::fs::write(d.join("real/f"), b"x").unwrap();
        std::os::unix::fs::symlink("real", d.join("link")).unwrap();
        let p = |s: &str| format!("{}/{s}", d.display());
        assert!(matches!(open_path(&p("real/f")).unwrap(), Found::Opened(_, Kind::Other)));
        assert!(matches!(open_path(&p("real")).unwrap(), Found::Opened(_, Kind::Dir)));
        assert!(matches!(open_path(&p("real/f/g")).unwrap(), Found::Missing));
        assert!(matches!(open_path(&p("nope")).unwrap(), Found::Missing));
        match open_path(&p("link/f")).unwrap() {
            Found::Symlink(at) => assert_eq!(at, p("link")),
            _ => panic!("a link on the way must stop the walk"),
        }
        assert!(matches!(open_path(&p("link")).unwrap(), Found::Symlink(_)));
        let Found::Opened(fd, _) = open_path(&d.display().to_string()).unwrap() else { panic!("temp dir") };
        let names = list(&fd).unwrap();
        assert_eq!(names, vec![b"link".to_vec(), b"real".to_vec()]);
    }
}
