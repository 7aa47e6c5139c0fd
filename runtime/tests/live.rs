//! Live differential: real processes in a target perform real operations (exec, open, write,
//! unlink, mkdir, rmdir, rename, chmod, truncate, socket create/connect, capability uses),
//! generated from the fixture and corpus images the way `armor_runtime::mutate` generates
//! queries; each system call's result is compared with the model's answer for the same real
//! operation (`Model::decide_operation`). It creates and removes files at policy paths (/etc,
//! /usr/bin, ...), so it runs only inside the kernel lab (scripts/lab.sh sets ARMORC_LAB=1),
//! where BPF-LSM is active; elsewhere it says so and passes, and in the lab a refused program
//! load fails it. The Landlock differential needs no lab: on a plain machine it runs itself again
//! in a mount namespace whose root is a throw-away overlay of the host's (`in_sandbox`).

#![allow(clippy::unwrap_used)] // test code: a failed setup step is a failed test

mod common;

use armor_runtime::agent::{self, Throttle};
use armor_runtime::exec::run_isolated_with;
use armor_runtime::kernel::Targets;
use armor_runtime::mutate::{self, Rng};
use armorc_compiler::image::{MapImage, DENY};
use armorc_compiler::model::{Model, Op, Operation, Query, SocketCall};
use std::collections::{BTreeMap, HashSet};
use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// In the kernel lab (as root), or skipped: these tests change files at policy paths.
fn lab_or_skip(test: &str) -> bool {
    if std::env::var_os("ARMORC_LAB").is_none() {
        println!("skipped: {test}: changes files at policy paths, so it runs only in the kernel lab (scripts/lab.sh)");
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "{test}: the lab runs tests as root");
    true
}

fn in_lab_or_skip(test: &str) -> bool {
    if !lab_or_skip(test) {
        return false;
    }
    if let Err(e) = armor_runtime::probe::test_load() {
        panic!("{test}: BPF-LSM programs must load in the lab: {e}");
    }
    true
}

/// What both live differentials need: a local TCP server for connects (its port), and the
/// filesystem preparer with the exec target and our own executable.
fn live_setup() -> (u16, Fs) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // accept and drop connections so the backlog never fills
    std::thread::spawn(move || for _ in listener.incoming() {});
    let exe = std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap();
    let fs = Fs {
        elf: mutate::tiny_elf(),
        exe: exe.as_os_str().as_encoded_bytes().to_vec(),
        rng: Rng::new(0x11fe),
        made: false,
        port,
    };
    (port, fs)
}

/// What a real operation does.
#[derive(Clone, Debug)]
enum Action {
    Exec,
    Open,
    Write,
    Unlink,
    Mkdir,
    Rmdir,
    Rename,
    Chmod,
    Truncate,
    /// socket(AF_INET, type, protocol)
    Socket(i32, i32),
    /// a TCP connect to the test's listener on 127.0.0.1
    Connect,
    Chroot,
    Chown,
    Setuid,
    BindLowPort,
    Sethostname,
}

/// Capabilities we can exercise for real, with the action that needs them.
fn cap_action(cap: u32) -> Option<Action> {
    match cap {
        0 => Some(Action::Chown),
        7 => Some(Action::Setuid),
        10 => Some(Action::BindLowPort),
        13 => Some(Action::Socket(libc::SOCK_RAW, libc::IPPROTO_ICMP)),
        18 => Some(Action::Chroot),
        21 => Some(Action::Sethostname),
        _ => None,
    }
}

#[derive(Clone)]
struct LiveOp {
    action: Action,
    /// the path as generated (before canonicalisation) and its C form (the syscall's argument)
    path: String,
    c_path: CString,
    c_path2: CString,
    /// the model's queries whose real hooks make up this operation (denied if any denies)
    queries: Vec<Query>,
    label: String,
    /// `prepare` made the file at `path` (cleanup removes it)
    made: bool,
}

#[repr(C)]
struct Shared {
    started: AtomicU32,
    cmd: AtomicU32,
    done: AtomicU32,
    result: AtomicI32,
    sub: AtomicI32,
}

const STOP: u32 = u32::MAX;

fn shared_page() -> &'static Shared {
    // SAFETY: a fresh zeroed shared anonymous mapping, never unmapped (one per test run).
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        &*(p as *const Shared)
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn nap() {
    let ts = libc::timespec { tv_sec: 0, tv_nsec: 20_000 };
    // SAFETY: nanosleep with a valid timespec.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// In a forked child: run `f`, store its errno-style result in `shared.sub`, exit. The caller
/// gets it back (0 = success), or 0 when `f` replaced the process (exec).
fn in_child(shared: &Shared, f: impl FnOnce() -> i32) -> i32 {
    shared.sub.store(-1, Ordering::SeqCst);
    // SAFETY: called in the single-threaded runner; the child only runs `f` (system calls) and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let r = f();
        shared.sub.store(r, Ordering::SeqCst);
        // SAFETY: leaving the forked child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {}
    match shared.sub.load(Ordering::SeqCst) {
        -1 => 0, // exec'd: the call succeeded
        r => r,
    }
}

fn sockaddr(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be() },
        sin_zero: [0; 8],
    }
}

/// One real operation, in the target (pid 1 of its namespaces): only system calls, no allocation.
/// Returns 0 or the errno.
fn perform(op: &LiveOp, shared: &Shared, listen_port: u16) -> i32 {
    let ok = |rc: libc::c_int| if rc < 0 { errno() } else { 0 };
    let p = op.c_path.as_ptr();
    // SAFETY: every call takes NUL-terminated paths built before fork, stack buffers that outlive
    // it, or descriptors it just opened; fork only in the single-threaded runner.
    unsafe {
        match op.action {
            Action::Exec => in_child(shared, || {
                let argv = [p, std::ptr::null()];
                let envp = [std::ptr::null()];
                libc::execve(p, argv.as_ptr(), envp.as_ptr());
                errno()
            }),
            Action::Open => {
                let fd = libc::open(p, libc::O_RDONLY);
                if fd >= 0 {
                    libc::close(fd);
                }
                ok(fd)
            }
            Action::Write => {
                let fd = libc::open(p, libc::O_WRONLY);
                if fd < 0 {
                    return errno();
                }
                let n = libc::write(fd, b"w".as_ptr().cast(), 1);
                let r = if n < 0 { errno() } else { 0 };
                libc::close(fd);
                r
            }
            Action::Unlink => ok(libc::unlink(p)),
            Action::Mkdir => ok(libc::mkdir(p, 0o777)),
            Action::Rmdir => ok(libc::rmdir(p)),
            Action::Rename => ok(libc::rename(p, op.c_path2.as_ptr())),
            Action::Chmod => ok(libc::chmod(p, 0o777)),
            Action::Truncate => ok(libc::truncate(p, 0)),
            Action::Socket(ty, proto) => {
                let fd = libc::socket(libc::AF_INET, ty, proto);
                if fd >= 0 {
                    libc::close(fd);
                }
                ok(fd)
            }
            Action::Connect => {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                if fd < 0 {
                    return errno();
                }
                let sa = sockaddr(listen_port);
                let rc = libc::connect(fd, (&sa as *const libc::sockaddr_in).cast(), std::mem::size_of_val(&sa) as u32);
                let r = ok(rc);
                libc::close(fd);
                r
            }
            Action::Chroot => ok(libc::chroot(c"/".as_ptr())),
            Action::Chown => ok(libc::chown(p, 1000, 1000)),
            Action::Setuid => in_child(shared, || if libc::setuid(1000) < 0 { errno() } else { 0 }),
            Action::BindLowPort => {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                if fd < 0 {
                    return errno();
                }
                let one: libc::c_int = 1;
                libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, (&one as *const libc::c_int).cast(), 4);
                let sa = sockaddr(80);
                let rc = libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), std::mem::size_of_val(&sa) as u32);
                let r = ok(rc);
                libc::close(fd);
                r
            }
            Action::Sethostname => ok(libc::sethostname(c"armorc-lab".as_ptr(), 10)),
        }
    }
}

/// Pid 1 of the target: performs the operation the driver names, one at a time.
/// With `change` (`changeprofile <name>`, built before fork), pid 1 first enters that AppArmor
/// profile (an unconfined task may change to any profile); if it cannot, it reports started=2.
fn runner(ops: &[LiveOp], shared: &Shared, listen_port: u16, change: Option<&CString>) -> i32 {
    // SAFETY: system calls only; the op data was built before fork.
    unsafe {
        libc::setsid(); // no controlling tty: the model's queries say tty=false
        libc::unshare(libc::CLONE_NEWUTS); // sethostname stays in here
        if let Some(value) = change {
            let bytes = value.as_bytes();
            let mut entered = false;
            for attr in [c"/proc/self/attr/apparmor/current", c"/proc/self/attr/current"] {
                let fd = libc::open(attr.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    continue;
                }
                let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
                libc::close(fd);
                if n == bytes.len() as isize {
                    entered = true;
                    break;
                }
            }
            if !entered {
                shared.result.store(errno(), Ordering::SeqCst);
                shared.started.store(2, Ordering::SeqCst);
                return 3;
            }
        }
        shared.started.store(1, Ordering::SeqCst);
        let mut last = 0;
        loop {
            let cmd = shared.cmd.load(Ordering::SeqCst);
            if cmd == last {
                nap();
                continue;
            }
            if cmd == STOP {
                return 0;
            }
            last = cmd;
            let r = perform(&ops[cmd as usize - 1], shared, listen_port);
            shared.result.store(r, Ordering::SeqCst);
            shared.done.store(cmd, Ordering::SeqCst);
        }
    }
}

/// Where the kernel lab keeps the files it makes, and the files themselves.
struct Fs {
    elf: Vec<u8>,
    exe: Vec<u8>,
    rng: Rng,
    /// the last `regular_file` created its file (no original was there)
    made: bool,
    /// the port of the test's TCP listener (what a connect reaches)
    port: u16,
}

const SKIP_PREFIXES: [&str; 4] = ["/proc", "/sys", "/dev", "/.armorc-lab"];

impl Fs {
    /// Make `dir` (and parents) exist as directories; false if something else is in the way.
    fn ensure_dir(dir: &Path) -> bool {
        std::fs::create_dir_all(dir).is_ok() && dir.is_dir()
    }

    fn chown(path: &Path, uid: u32) {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: lchown on a NUL-terminated path.
        unsafe { libc::lchown(c.as_ptr(), uid, uid) };
    }

    /// A regular file of ours at `path` (an original there is moved aside to `backup(path)` and
    /// restored by `cleanup`), owned by root or by uid 1000 (random), usable by anyone (no
    /// capability needed). None if something other than a regular file is in the way.
    fn regular_file(&mut self, path: &Path, exec: bool) -> Option<bool> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_file() => std::fs::rename(path, backup(path)).ok()?,
            Ok(_) => return None,
            Err(_) => {
                if !Fs::ensure_dir(path.parent()?) {
                    return None;
                }
                self.made = true;
            }
        }
        let data: &[u8] = if exec { &self.elf } else { b"armorc live\n" };
        std::fs::write(path, data).ok()?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).ok()?;
        let owner = self.rng.coin();
        Fs::chown(path, if owner { 0 } else { 1000 });
        Some(owner)
    }

    /// An empty directory at `path` (not a mount point), usable by anyone; its owner flag.
    fn empty_dir(&mut self, path: &Path) -> Option<bool> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                let parent = std::fs::metadata(path.parent()?).ok()?;
                if std::fs::read_dir(path).ok()?.next().is_some() || parent.dev() != m.dev() {
                    return None;
                }
            }
            Ok(_) => return None,
            Err(_) => {
                if !Fs::ensure_dir(path) {
                    return None;
                }
            }
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).ok()?;
        let owner = self.rng.coin();
        Fs::chown(path, if owner { 0 } else { 1000 });
        Some(owner)
    }
}

/// Where an original file waits while an op uses its path.
fn backup(p: &Path) -> PathBuf {
    let mut b = p.as_os_str().to_owned();
    b.push(".armorc-orig");
    PathBuf::from(b)
}

/// The path the kernel's dentry walk reports for `p`: its parent resolved (symlinks, `..`),
/// the last component as given.
fn kernel_path(p: &Path) -> Option<PathBuf> {
    let parent = std::fs::canonicalize(p.parent()?).ok()?;
    Some(parent.join(p.file_name()?))
}

fn is_owner(p: &Path) -> bool {
    std::fs::symlink_metadata(p).map(|m| m.uid() == 0).unwrap_or(true)
}

/// Turn generated queries into real operations, preparing nothing yet (paths are checked and
/// canonicalised when each op is prepared, right before it runs).
fn plan(queries: &[Query], rng: &mut Rng) -> Vec<(Action, String, Query)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for q in queries {
        let path = String::from_utf8_lossy(&q.path).into_owned();
        let action = match q.op {
            Op::Exec => Action::Exec,
            Op::Open => Action::Open,
            Op::Write => Action::Write,
            Op::Unlink => Action::Unlink,
            Op::Mkdir => Action::Mkdir,
            Op::Rmdir => Action::Rmdir,
            Op::Rename => Action::Rename,
            Op::Chmod => Action::Chmod,
            Op::Truncate => Action::Truncate,
            Op::Socket => match (q.sock_type as i32, q.protocol as i32) {
                (libc::SOCK_STREAM, 0 | 6) if rng.coin() => Action::Connect,
                (t @ (libc::SOCK_STREAM | libc::SOCK_DGRAM), p @ (0 | 6 | 17)) => {
                    if (t == libc::SOCK_STREAM && p == 17) || (t == libc::SOCK_DGRAM && p == 6) {
                        continue; // EPROTONOSUPPORT before any hook decides
                    }
                    Action::Socket(t, p)
                }
                (libc::SOCK_RAW, p @ (1 | 6 | 17 | 255)) => Action::Socket(libc::SOCK_RAW, p),
                _ => continue,
            },
            Op::Capable => match cap_action(q.capability) {
                Some(a) => a,
                None => continue,
            },
            Op::Link | Op::Symlink | Op::Mknod => continue,
        };
        if q.op.has_path() {
            if !path.starts_with('/')
                || path.contains("//")
                || path.split('/').any(|c| c == "." || c == "..")
                || SKIP_PREFIXES.iter().any(|s| path == *s || path.starts_with(&format!("{s}/")))
            {
                continue;
            }
            // file ops need a file name; directory ops take the directory without its slash
            let dir_op = matches!(action, Action::Mkdir | Action::Rmdir);
            if path.ends_with('/') && !dir_op {
                continue;
            }
        }
        let path = if q.op.has_path() { path.trim_end_matches('/').to_string() } else { String::new() };
        if q.op.has_path() && path.is_empty() {
            continue;
        }
        if seen.insert(format!("{action:?} {path}")) {
            out.push((action, path, q.clone()));
        }
    }
    out
}

/// Facts of the prepared filesystem that decide which hooks a real operation passes.
struct Layout {
    /// the subject (file, directory) belongs to the caller (root)
    owner: bool,
    /// the parent directory belongs to the caller
    parent_owner: bool,
    /// the parent directory has the sticky bit (/tmp): removing or renaming an entry where neither
    /// it nor the directory is ours
    /// entry there is a CAP_FOWNER use
    sticky_parent: bool,
}

/// The model's queries for `action` on the prepared `kpath` (what the kernel sees): every hook
/// the real system call passes, including the capability checks the VFS makes on the way
/// (CAP_FOWNER to chmod someone else's file or to remove it from a sticky directory).
fn model_queries(action: &Action, kpath: &str, l: &Layout, q: &Query, source: &[u8], port: u16) -> Vec<Query> {
    let (owner, parent_owner) = (l.owner, l.parent_owner);
    let base = |op: Op| Query { source: source.to_vec(), ..Query::new(op) };
    let path_q = |op: Op, p: &str, owner: bool| Query { path: p.as_bytes().to_vec(), owner, ..base(op) };
    let sock = |t: u32, p: u32| Query { sock_type: t, protocol: p, ..base(Op::Socket) };
    let cap = |c: u32| Query { capability: c, ..base(Op::Capable) };
    let fowner = |mut v: Vec<Query>, needed: bool| {
        if needed {
            v.push(cap(3));
        }
        v
    };
    match action {
        Action::Exec | Action::Open | Action::Write | Action::Truncate => vec![path_q(q.op, kpath, owner)],
        Action::Chmod => fowner(vec![path_q(Op::Chmod, kpath, owner)], !owner),
        Action::Unlink => fowner(vec![path_q(Op::Unlink, kpath, owner)], l.sticky_parent && !owner && !parent_owner),
        Action::Rmdir => fowner(vec![path_q(Op::Rmdir, kpath, owner)], l.sticky_parent && !owner && !parent_owner),
        // mkdir: the new entry has no inode; its owner is the parent directory's
        Action::Mkdir => vec![path_q(Op::Mkdir, kpath, parent_owner)],
        // rename: the old entry (its owner), then the new one (the new directory's owner)
        Action::Rename => fowner(
            vec![path_q(Op::Rename, kpath, owner), path_q(Op::Rename, &format!("{kpath}.renamed"), parent_owner)],
            l.sticky_parent && !owner && !parent_owner,
        ),
        Action::Socket(t, p) if *t == libc::SOCK_RAW => vec![sock(*t as u32, *p as u32), cap(13)],
        Action::Socket(t, p) => vec![sock(*t as u32, *p as u32)],
        // BPF-LSM decides the socket's creation; Landlock its TCP connect or bind
        Action::Connect => vec![Query { call: Some(SocketCall::Connect(port)), ..sock(1, 0) }],
        Action::BindLowPort => vec![Query { call: Some(SocketCall::Bind(80)), ..sock(1, 0) }, cap(10)],
        Action::Chroot => vec![cap(18)],
        Action::Chown => vec![cap(0)],
        Action::Setuid => vec![cap(7)],
        Action::Sethostname => vec![cap(21)],
    }
}

#[derive(Default)]
struct Tally {
    total: usize,
    agree: usize,
    skipped_unpreparable: usize,
    mix: BTreeMap<String, usize>,
    failures: Vec<String>,
    errors: Vec<String>,
    /// every disagreement, for the AppArmor run's classification
    disagreements: Vec<Disagreement>,
}

impl Tally {
    /// The kernel's result `r` (0 or an errno) for `op`: an error unless it is a success or a
    /// denial, else counted in the mix; `Some(got_deny)` when it is to be compared.
    fn result(&mut self, name: &str, op: &LiveOp, r: i32) -> Option<bool> {
        let got_deny = match r {
            0 => false,
            libc::EACCES | libc::EPERM => true,
            e => {
                let text = std::io::Error::from_raw_os_error(e);
                self.errors.push(format!("{name}: {}: unexpected errno {e} ({text})", op.label));
                return None;
            }
        };
        self.total += 1;
        let kind = format!("{:?}", op.action).split('(').next().unwrap_or("").to_lowercase();
        *self.mix.entry(format!("{kind} {}", if got_deny { "deny" } else { "allow" })).or_default() += 1;
        Some(got_deny)
    }

    /// The summary line (`what` names the run), the decision mix, and the first disagreements
    /// and errors.
    fn print(&self, what: &str, started: Instant) {
        println!(
            "{what}: {} operations, {} agree, {} disagree, {} not laid out, {} errors, {:.1} s",
            self.total,
            self.agree,
            self.failures.len(),
            self.skipped_unpreparable,
            self.errors.len(),
            started.elapsed().as_secs_f64()
        );
        println!("{what} decision mix: {:?}", self.mix);
        for f in self.failures.iter().take(40) {
            println!("DISAGREE {f}");
        }
        for e in self.errors.iter().take(40) {
            println!("ERROR {e}");
        }
    }

    fn assert_all_agree(&self) {
        assert!(self.errors.is_empty(), "{} operations failed for other reasons", self.errors.len());
        assert!(self.failures.is_empty(), "{} of {} operations disagree", self.failures.len(), self.total);
    }
}

/// One operation where the enforcer and the model answer differently.
struct Disagreement {
    action: Action,
    /// the kernel paths of the op's path queries (rename: old and new)
    kpaths: Vec<String>,
    owner: bool,
    got_deny: bool,
    want_deny: bool,
    expected: Vec<(Query, Operation)>,
    text: String,
}

/// What enforces the target: a BPF-LSM map image (written for the target's key), or an AppArmor
/// profile pid 1 changes into (`changeprofile <name>`), with no map image applied.
enum Enforcer<'a> {
    Bpf(&'a MapImage, &'a std::sync::Mutex<Targets>),
    AppArmor(&'a CString),
}

/// Prepare the filesystem for `op` (outside the target) and fill in its model queries; false if
/// the path cannot be laid out (something of another type is in the way).
fn prepare(fs: &mut Fs, op: &mut LiveOp, q: &Query, chown_target: &Path) -> bool {
    let path = Path::new(&op.path);
    let dir = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    fs.made = false;
    let owner = match op.action {
        Action::Exec => fs.regular_file(path, true),
        Action::Open | Action::Write | Action::Unlink | Action::Chmod | Action::Truncate | Action::Rename => {
            fs.regular_file(path, false)
        }
        Action::Rmdir => fs.empty_dir(path),
        Action::Mkdir => {
            if std::fs::symlink_metadata(path).is_ok() && std::fs::remove_dir(path).is_err() {
                return false;
            }
            Fs::ensure_dir(&dir(path)).then_some(true)
        }
        Action::Chown => fs.regular_file(chown_target, false).map(|_| {
            Fs::chown(chown_target, 0);
            true
        }),
        _ => Some(true),
    };
    op.made = fs.made;
    let Some(owner) = owner else { return false };
    if matches!(op.action, Action::Rename) {
        let _ = std::fs::remove_file(format!("{}.renamed", op.path));
    }
    let source = fs.exe.clone();
    let kpath = if q.op.has_path() {
        match kernel_path(path) {
            Some(k) => k.to_string_lossy().into_owned(),
            None => return false,
        }
    } else {
        String::new()
    };
    let parent_owner = is_owner(&dir(path));
    let sticky_parent = std::fs::metadata(dir(path)).map(|m| m.mode() & 0o1000 != 0).unwrap_or(false);
    let owner = if matches!(op.action, Action::Mkdir) { parent_owner } else { owner };
    op.queries = model_queries(&op.action, &kpath, &Layout { owner, parent_owner, sticky_parent }, q, &source, fs.port);
    op.label = format!("{:?} {} (kernel path {kpath}, owner {owner})", op.action, op.path);
    true
}

/// Undo what the op and its preparation changed: our file goes, an original comes back.
fn cleanup(op: &LiveOp) {
    let path = Path::new(&op.path);
    match op.action {
        Action::Mkdir => {
            let _ = std::fs::remove_dir(path);
        }
        Action::Rename => {
            let _ = std::fs::remove_file(format!("{}.renamed", op.path));
        }
        _ => {}
    }
    let orig = backup(path);
    if orig.exists() {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::rename(&orig, path);
    } else if op.made {
        let _ = std::fs::remove_file(path);
    }
}

/// Run `plan` as real operations in a fresh target holding `kernel_image`; compare each result
/// with `model` (built from the image the target is supposed to hold).
#[allow(clippy::too_many_arguments)] // one test driver; a struct would only rename these
fn run_target(
    name: &str,
    enforcer: &Enforcer,
    model: &Model,
    planned: Vec<(Action, String, Query)>,
    fs: &mut Fs,
    listen_port: u16,
    tally: &mut Tally,
) {
    let chown_target = PathBuf::from("/var/lib/armorc-live/chown-target");
    let mut ops: Vec<(LiveOp, Query)> = planned
        .into_iter()
        .map(|(action, path, q)| {
            let syscall_path = if matches!(action, Action::Chown) {
                chown_target.to_string_lossy().into_owned()
            } else {
                path.clone()
            };
            let op = LiveOp {
                c_path: CString::new(syscall_path).unwrap_or_default(),
                c_path2: CString::new(format!("{path}.renamed")).unwrap_or_default(),
                action,
                path,
                queries: vec![],
                label: String::new(),
                made: false,
            };
            (op, q)
        })
        .collect();
    if ops.is_empty() {
        return;
    }
    // the runner's copy: the syscall arguments, built before fork
    let live_ops: Vec<LiveOp> = ops.iter().map(|(o, _)| o.clone()).collect();
    let shared = shared_page();
    shared.started.store(0, Ordering::SeqCst);
    shared.cmd.store(0, Ordering::SeqCst);
    shared.done.store(0, Ordering::SeqCst);
    let (status, results) = std::thread::scope(|s| {
        let driver = s.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(30);
            while shared.started.load(Ordering::SeqCst) == 0 {
                assert!(Instant::now() < deadline, "{name}: the target's runner did not start");
                std::thread::sleep(Duration::from_millis(1));
            }
            if shared.started.load(Ordering::SeqCst) == 2 {
                panic!(
                    "{name}: pid 1 could not change profile: {}",
                    std::io::Error::from_raw_os_error(shared.result.load(Ordering::SeqCst))
                );
            }
            let mut results = Vec::new();
            for (i, (op, q)) in ops.iter_mut().enumerate() {
                // prepared right before it runs, outside the target: earlier ops change the tree
                if !prepare(fs, op, q, &chown_target) {
                    cleanup(op);
                    results.push(None);
                    continue;
                }
                let cmd = i as u32 + 1;
                shared.cmd.store(cmd, Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(20);
                while shared.done.load(Ordering::SeqCst) != cmd {
                    assert!(Instant::now() < deadline, "{name}: op {} did not finish", op.label);
                    std::thread::yield_now();
                }
                results.push(Some(shared.result.load(Ordering::SeqCst)));
                cleanup(op);
            }
            shared.cmd.store(STOP, Ordering::SeqCst);
            results
        });
        let status = match enforcer {
            Enforcer::Bpf(kernel_image, targets) => run_isolated_with(
                || runner(&live_ops, shared, listen_port, None),
                |key| targets.lock().unwrap().apply(key, kernel_image),
                |key| {
                    let _ = targets.lock().unwrap().remove(key);
                },
            ),
            Enforcer::AppArmor(change) => {
                run_isolated_with(|| runner(&live_ops, shared, listen_port, Some(change)), |_| Ok(()), |_| {})
            }
        };
        (status, driver.join().expect("driver thread"))
    });
    assert_eq!(status.expect("running the target"), 0, "{name}: runner exit status");
    for ((op, _), r) in ops.iter().zip(results) {
        let Some(r) = r else {
            tally.skipped_unpreparable += 1;
            continue;
        };
        let expected: Vec<Operation> = op.queries.iter().map(|q| model.decide_operation(q)).collect();
        let want_deny = expected.iter().any(|o| o.decision.deny);
        let Some(got_deny) = tally.result(name, op, r) else { continue };
        if got_deny == want_deny {
            tally.agree += 1;
        } else {
            let hooks: Vec<String> = expected
                .iter()
                .flat_map(|o| {
                    o.hooks.iter().map(|(h, d)| format!("{}={}", h.name(), if d.deny { "deny" } else { "allow" }))
                })
                .collect();
            let text = format!(
                "{name}: {}: kernel {} (errno {r}), model {} [{}]",
                op.label,
                if got_deny { "deny" } else { "allow" },
                if want_deny { "deny" } else { "allow" },
                hooks.join(" ")
            );
            tally.disagreements.push(Disagreement {
                action: op.action.clone(),
                kpaths: op
                    .queries
                    .iter()
                    .filter(|q| q.op.has_path())
                    .map(|q| String::from_utf8_lossy(&q.path).into_owned())
                    .collect(),
                owner: op.queries.first().is_some_and(|q| q.owner),
                got_deny,
                want_deny,
                expected: op.queries.iter().cloned().zip(expected.iter().cloned()).collect(),
                text: text.clone(),
            });
            tally.failures.push(text);
        }
    }
}

fn sabotage_candidate(e: &armorc_compiler::image::Entry) -> bool {
    e.value.process & DENY != 0 && e.main_text().starts_with("/usr/bin/") && !e.main_text().ends_with('/')
}

struct Down(PathBuf);
impl Drop for Down {
    fn drop(&mut self) {
        let _ = agent::down(&self.0);
    }
}

/// Unloads the named AppArmor profiles when dropped: a loaded host profile attaches to every
/// shell exec'd later (`kubearmor.host`, /{usr/,}bin/*sh), so what runs after this test in the
/// same VM (the end to end, lab-caps) would run confined by the last case's host profile.
struct UnloadProfiles(std::collections::BTreeSet<String>);
impl Drop for UnloadProfiles {
    fn drop(&mut self) {
        for name in &self.0 {
            // ENOENT: a case whose profile was never loaded
            let _ = std::fs::write("/sys/kernel/security/apparmor/.remove", name);
        }
    }
}

/// Operations per image at most (keeps one image from dominating the run).
const OPS_PER_IMAGE: usize = 150;

/// Minimum operations compared (the floor).
const MIN_OPS: usize = 2000;

/// How much of a live differential runs: the full counts, or a reduced run where
/// `ARMORC_LIVE_OPS_PER_IMAGE` asks for one (the arm64 lab, an emulated machine: CI time), said
/// in the output: that many operations on every fourth image (or AppArmor case), the floor and
/// the AppArmor stop scaled with it.
struct OpCounts {
    per_image: usize,
    step: usize,
    floor: usize,
    /// the AppArmor run stops after this many operations (each profile load takes seconds)
    stop: usize,
}

fn op_counts(test: &str) -> OpCounts {
    match std::env::var("ARMORC_LIVE_OPS_PER_IMAGE").ok().and_then(|v| v.parse::<usize>().ok()) {
        Some(n) if n < OPS_PER_IMAGE => {
            let step = 4;
            let counts = OpCounts {
                per_image: n,
                step,
                floor: MIN_OPS * n / OPS_PER_IMAGE / step,
                stop: AA_OPS * n / OPS_PER_IMAGE,
            };
            println!(
                "{test}: REDUCED run (ARMORC_LIVE_OPS_PER_IMAGE={n}): at most {n} operations on every {step}th image, floor {}",
                counts.floor
            );
            counts
        }
        _ => OpCounts { per_image: OPS_PER_IMAGE, step: 1, floor: MIN_OPS, stop: AA_OPS },
    }
}

#[test]
fn live_bpf_agrees_with_model() {
    if !in_lab_or_skip("live_bpf_agrees_with_model") {
        return;
    }
    let pin = PathBuf::from(format!("/sys/fs/bpf/armorc-live-{}", std::process::id()));
    let _down = Down(pin.clone());
    agent::up(&pin, Throttle { max_per_sec: 0, throttle_sec: 0 }).expect("armor-loader up");
    let targets = std::sync::Mutex::new(Targets::pinned(Some(&pin)).unwrap());
    let (port, mut fs) = live_setup();
    let mut rng = Rng::new(0x5eed_11fe);
    let mut tally = Tally::default();
    let images = common::images();
    let OpCounts { per_image, step, floor, .. } = op_counts("live bpf");
    let started = Instant::now();
    for (i, (name, img)) in images.iter().enumerate().step_by(step) {
        let queries = mutate::queries(img, &mut rng, 6);
        let mut planned = plan(&queries, &mut rng);
        planned.truncate(per_image);
        let model = Model::new(img);
        run_target(&format!("{name}#{i}"), &Enforcer::Bpf(img, &targets), &model, planned, &mut fs, port, &mut tally);
    }
    tally.print(&format!("live bpf: {} of {} images", images.len().div_ceil(step), images.len()), started);
    tally.assert_all_agree();
    assert!(tally.total >= floor, "only {} operations compared (floor {floor})", tally.total);

    // Sabotage: one deny entry turned into an allow in the kernel's copy must be seen.
    let (name, img) = images
        .iter()
        .find(|(_, img)| img.entries.iter().any(sabotage_candidate))
        .expect("an image with a process deny of a file under /usr/bin");
    let idx = img.entries.iter().position(sabotage_candidate).unwrap();
    let mut sabotaged = img.clone();
    sabotaged.entries[idx].value.process &= !DENY;
    let victim = sabotaged.entries[idx].main_text().trim_end_matches('/').to_string();
    let q = Query { op: Op::Exec, path: victim.as_bytes().to_vec(), ..Query::new(Op::Exec) };
    let mut bad = Tally::default();
    run_target(
        &format!("sabotaged {name}"),
        &Enforcer::Bpf(&sabotaged, &targets),
        &Model::new(img),
        plan(&[q], &mut rng),
        &mut fs,
        port,
        &mut bad,
    );
    println!("sabotage ({victim}): {} of {} operations disagree", bad.failures.len(), bad.total);
    assert!(!bad.failures.is_empty(), "a flipped deny entry went unnoticed: {:?}", bad.errors);
}

/// One AppArmor case: the policies of one YAML source on one target under one posture, its map
/// image (for the model) and its AppArmor profile (for the kernel).
struct AaCase {
    name: String,
    image: MapImage,
    profile: armorc_compiler::lower::apparmor::Profile,
    rules: Vec<armorc_compiler::ir::Rule>,
}

/// The cases of `images()`, each lowered to both backends from the same target (the target
/// `mutate::image_for` builds).
fn aa_cases() -> Vec<AaCase> {
    use armorc_compiler::lower::{apparmor, bpf};
    let (files, fixtures) = common::policy_files();
    let postures = mutate::postures();
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.display().to_string();
        let checked = armorc_compiler::check_source(armorc_compiler::source::SourceFile::new(&name, &text));
        if checked.policies.is_empty() {
            continue;
        }
        let ps: Vec<_> = if i < fixtures { postures.to_vec() } else { vec![postures[i % 3]] };
        for posture in ps {
            let target = mutate::target_for(&checked.policies, posture);
            let refs: Vec<_> = checked.policies.iter().collect();
            let image = bpf::lower_target(&target, &refs);
            if image.entries.is_empty() {
                continue;
            }
            out.push(AaCase {
                name: name.clone(),
                image,
                profile: apparmor::lower_target(&target, &refs),
                rules: checked.policies.iter().flat_map(|p| p.rules.clone()).collect(),
            });
        }
    }
    out
}

/// Operations the AppArmor run stops after (the floor is MIN_OPS).
const AA_OPS: usize = 2400;

fn in_aa_lab_or_skip(test: &str) -> bool {
    if !lab_or_skip(test) {
        return false;
    }
    let lsms = armor_runtime::probe::active_lsms().expect("active LSMs");
    if let Err(e) = armor_runtime::apparmor::usable(&lsms) {
        panic!("{test}: AppArmor must be usable in the lab: {e}");
    }
    true
}

/// The deviations the AppArmor live differential may see (docs/runtime.md "AppArmor live
/// differential"; the first group are docs/semantics.md's named deviations).
fn classify_aa(d: &Disagreement, case: &AaCase) -> &'static str {
    use armorc_compiler::ir::{Action as A, RuleTarget as T};
    let exec = matches!(d.action, Action::Exec);
    let kpath = d.kpaths.first().map(String::as_str).unwrap_or("");
    let dir_covers = |dir: &str, recursive: bool, path: &str| {
        path.strip_prefix(dir).is_some_and(|rest| !rest.is_empty() && (recursive || !rest.contains('/')))
    };
    // global rules (the runner is no fromSource) that match `path` for this op's kind
    let matching_as = |path: &str, exec: bool| -> Vec<&armorc_compiler::ir::Rule> {
        case.rules
            .iter()
            .filter(|r| r.action != A::Audit && r.source.as_deref().is_none_or(str::is_empty))
            .filter(|r| match (&r.target, exec) {
                (T::ProcessPath { path: p, .. }, true) | (T::FilePath { path: p, .. }, _) => p == path,
                (T::ProcessExecname { name, .. }, true) => path.rsplit('/').next() == Some(name.as_str()),
                (T::ProcessDir { dir, recursive, .. }, true) | (T::FileDir { dir, recursive, .. }, _) => {
                    dir_covers(dir, *recursive, path)
                }
                (T::ProcessPattern { pattern, .. }, true) | (T::FilePattern { pattern, .. }, _) => {
                    armor_runtime::apparmor::glob_matches(pattern, path)
                }
                _ => false,
            })
            .collect()
    };
    let m: Vec<_> = d.kpaths.iter().flat_map(|p| matching_as(p, exec)).collect();
    // file and process rules alike (AppArmor writes both as file lines of one profile)
    let m_any: Vec<_> = d.kpaths.iter().flat_map(|p| [matching_as(p, false), matching_as(p, true)]).flatten().collect();
    let text = &case.profile.text;
    let host = case.profile.name == "kubearmor.host";
    match &d.action {
        Action::Chroot | Action::Chown | Action::Setuid | Action::Sethostname if host => return "host-capabilities",
        _ => {}
    }
    if kpath.starts_with("/proc/") || kpath.starts_with("/sys/") {
        return "aa-baseline-denies";
    }
    let is_pattern =
        |r: &&armorc_compiler::ir::Rule| matches!(r.target, T::ProcessPattern { .. } | T::FilePattern { .. });
    if d.got_deny && !d.want_deny && m.iter().any(is_pattern) {
        return "bpf-ignores-patterns";
    }
    let dir_itself = case.rules.iter().any(|r| match &r.target {
        T::FileDir { dir, .. } | T::ProcessDir { dir, .. } => d.kpaths.iter().any(|p| dir.trim_end_matches('/') == p),
        _ => false,
    });
    if dir_itself {
        return "dir-itself";
    }
    let block = m.iter().any(|r| r.action == A::Block);
    let allow = m.iter().any(|r| r.action == A::Allow);
    if d.got_deny && block && allow {
        return "deny-always-wins";
    }
    // an exec the model denies only at its file_open (a file rule denies reading the binary)
    let open_only = d.expected.iter().all(|(_, o)| o.hooks.iter().all(|(h, dec)| !dec.deny || h.name() == "file_open"));
    if exec && !d.got_deny && d.want_deny && open_only {
        return "aa-exec-is-x-only";
    }
    let dir_op = matches!(d.action, Action::Mkdir | Action::Rmdir);
    let modify = dir_op || matches!(d.action, Action::Unlink | Action::Rename | Action::Chmod | Action::Truncate);
    if dir_op
        && !d.got_deny
        && d.want_deny
        && m.iter().any(|r| !is_pattern(r))
        && m.iter().any(|r| matches!(r.target, T::FilePath { .. } | T::FileDir { recursive: false, .. }))
    {
        return "aa-dir-trailing-slash";
    }
    let qualified = |r: &&&armorc_compiler::ir::Rule| match r.target {
        T::FilePath { read_only, owner_only, .. }
        | T::FileDir { read_only, owner_only, .. }
        | T::FilePattern { read_only, owner_only, .. } => read_only || owner_only,
        T::ProcessPath { owner_only, .. }
        | T::ProcessExecname { owner_only, .. }
        | T::ProcessDir { owner_only, .. }
        | T::ProcessPattern { owner_only, .. } => owner_only,
        _ => false,
    };
    if modify && d.got_deny && !d.want_deny && m_any.iter().any(|r| qualified(&r)) {
        return "aa-modify-is-write";
    }
    // `pts: false` denies only from a tty in BPF-LSM (the runner has none); AppArmor cannot see a
    // tty and denies from any task
    let pts_false = |r: &&&armorc_compiler::ir::Rule| match r.target {
        T::ProcessPath { pts_false, .. }
        | T::ProcessExecname { pts_false, .. }
        | T::ProcessDir { pts_false, .. }
        | T::FilePath { pts_false, .. }
        | T::FileDir { pts_false, .. } => pts_false,
        _ => false,
    };
    if d.got_deny && !d.want_deny && m_any.iter().any(|r| r.action == A::Block && pts_false(&r)) {
        return "aa-ignores-pts";
    }
    let _ = (text, d.owner);
    "unexplained"
}

#[test]
fn live_apparmor_vs_model() {
    if !in_aa_lab_or_skip("live_apparmor_vs_model") {
        return;
    }
    let (port, mut fs) = live_setup();
    let mut rng = Rng::new(0x5eed_11fe);
    let dir = tempfile::tempdir().unwrap();
    let cases = aa_cases();
    let _unload = UnloadProfiles(cases.iter().map(|c| c.profile.name.clone()).collect());
    let counts = op_counts("live apparmor");
    let started = Instant::now();
    let mut total = Tally::default();
    let mut deviations: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut unexplained = Vec::new();
    let mut examples: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut load_failures = Vec::new();
    // the case where AppArmor denied most of what the model denies, and the generator state that
    // planned its operations (the sabotage check replays them)
    let mut denying_case: Option<(usize, usize, Rng)> = None;
    let mut cases_run = 0;
    for (i, case) in cases.iter().enumerate().step_by(counts.step) {
        if total.total >= counts.stop {
            break; // each profile load takes seconds under TCG: enough is enough
        }
        cases_run += 1;
        let name = format!("{}#{i}", case.name);
        let planned_by = rng.clone();
        let tally =
            match run_aa_case(case, &case.profile.text, &name, dir.path(), counts.per_image, &mut rng, &mut fs, port) {
                Ok(t) => t,
                Err(e) => {
                    load_failures.push(e);
                    continue;
                }
            };
        let mut case_unexplained = 0;
        for d in &tally.disagreements {
            let dev = classify_aa(d, case);
            *deviations.entry(dev).or_default() += 1;
            let ex = examples.entry(dev).or_default();
            if ex.len() < 3 {
                ex.push(d.text.clone());
            }
            if dev == "unexplained" {
                unexplained.push(d.text.clone());
                case_unexplained += 1;
            }
        }
        let agreed_denies = tally.mix.iter().filter(|(k, _)| k.ends_with(" deny")).map(|(_, n)| n).sum::<usize>()
            - tally.disagreements.iter().filter(|d| d.got_deny).count();
        if case_unexplained == 0 && agreed_denies > denying_case.as_ref().map_or(0, |d| d.1) {
            denying_case = Some((i, agreed_denies, planned_by));
        }
        total.total += tally.total;
        if i % 20 == 19 {
            eprintln!(
                "live apparmor: {} cases, {} operations, {:.0} s",
                i + 1,
                total.total,
                started.elapsed().as_secs_f64()
            );
        }
        total.agree += tally.agree;
        total.skipped_unpreparable += tally.skipped_unpreparable;
        total.errors.extend(tally.errors);
        for (k, v) in tally.mix {
            *total.mix.entry(k).or_default() += v;
        }
    }
    println!(
        "live apparmor: {cases_run} of {} cases, {} operations, {} agree, {} disagree ({} unexplained), {} not laid out, {} errors, {} profiles refused, {:.1} s",
        cases.len(),
        total.total,
        total.agree,
        total.total - total.agree,
        unexplained.len(),
        total.skipped_unpreparable,
        total.errors.len(),
        load_failures.len(),
        started.elapsed().as_secs_f64()
    );
    println!("live apparmor decision mix: {:?}", total.mix);
    for (dev, n) in &deviations {
        println!("live apparmor deviation {dev}: {n}");
        for e in &examples[dev] {
            println!("    e.g. {e}");
        }
    }
    for u in unexplained.iter().take(400) {
        println!("UNEXPLAINED {u}");
    }
    for e in total.errors.iter().take(40) {
        println!("ERROR {e}");
    }
    for e in load_failures.iter().take(20) {
        println!("REFUSED {e}");
    }
    assert!(load_failures.is_empty(), "{} profiles did not load", load_failures.len());
    assert!(total.errors.is_empty(), "{} operations failed for other reasons", total.errors.len());
    assert!(unexplained.is_empty(), "{} of {} disagreements unexplained", unexplained.len(), total.total - total.agree);
    assert!(total.total >= counts.floor, "only {} operations compared (floor {})", total.total, counts.floor);

    // The classifier must not explain everything away: the case where AppArmor denied most of
    // what the model denies, run again (same operations) under a profile of the same name that
    // allows everything, has to show unexplained disagreements.
    let (i, _, mut replay) = denying_case.expect("no case where AppArmor denied what the model denies");
    let case = &cases[i];
    let sabotaged = format!(
        "profile {} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  network,\n  capability,\n  unix,\n  signal,\n  ptrace,\n}}\n",
        case.profile.name
    );
    let name = format!("sabotaged {}#{i}", case.name);
    let bad = run_aa_case(case, &sabotaged, &name, dir.path(), counts.per_image, &mut replay, &mut fs, port)
        .expect("sabotaged profile loads");
    let caught = bad.disagreements.iter().filter(|d| classify_aa(d, case) == "unexplained").count();
    println!(
        "apparmor sabotage ({name} under an allow-everything profile): {caught} of {} operations unexplained",
        bad.total
    );
    assert!(caught > 0, "a profile allowing everything went unnoticed");
}

/// Load `text` as the case's profile, run planned operations of the case's image in a target whose
/// pid 1 changes into it, and tally the results against the model; Err names a refused profile.
#[allow(clippy::too_many_arguments)] // one test driver, as run_target
fn run_aa_case(
    case: &AaCase,
    text: &str,
    name: &str,
    dir: &Path,
    per_case: usize,
    rng: &mut Rng,
    fs: &mut Fs,
    port: u16,
) -> Result<Tally, String> {
    let file = dir.join(&case.profile.file_name);
    std::fs::write(&file, text).unwrap();
    armor_runtime::apparmor::load_profile(&file).map_err(|e| format!("{name}: {e:#}"))?;
    let change = CString::new(format!("changeprofile {}", case.profile.name)).unwrap();
    let queries = mutate::queries(&case.image, rng, 6);
    let mut planned = plan(&queries, rng);
    planned.truncate(per_case);
    let model = Model::new(&case.image);
    let mut tally = Tally::default();
    run_target(name, &Enforcer::AppArmor(&change), &model, planned, fs, port, &mut tally);
    Ok(tally)
}

/// Runs the test body where changing files at policy paths is safe: in a fresh mount namespace
/// whose root is an overlay of the machine's root on a tmpfs (what the test writes never reaches
/// the machine). Spawns the test binary again, for `test` only, inside that sandbox, and returns
/// false (the spawned run did the work); inside the sandbox it returns true.
fn in_sandbox(test: &str) -> bool {
    if std::env::var_os("ARMORC_SANDBOXED").is_some() {
        return true;
    }
    if !common::root_or_skip() {
        return false;
    }
    use std::os::unix::process::CommandExt;
    let dir = std::env::temp_dir().join(format!("armorc-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = |p: &Path| CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let (top, upper, work, merged) = (c(&dir), c(&dir.join("u")), c(&dir.join("w")), c(&dir.join("m")));
    let options =
        CString::new(format!("lowerdir=/,upperdir={},workdir={}", dir.join("u").display(), dir.join("w").display()))
            .unwrap();
    let binds: Vec<(CString, CString)> =
        ["/proc", "/dev", "/sys"].iter().map(|m| (c(Path::new(m)), c(&dir.join("m").join(&m[1..])))).collect();
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]).env("ARMORC_SANDBOXED", "1");
    // SAFETY: between fork and exec the closure makes only system calls on strings built before.
    unsafe {
        cmd.pre_exec(move || {
            let check = |rc: libc::c_int| if rc < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) };
            let none = std::ptr::null::<libc::c_char>();
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()))?;
            check(libc::mount(c"armorc-sandbox".as_ptr(), top.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null()))?;
            for d in [&upper, &work, &merged] {
                check(libc::mkdir(d.as_ptr(), 0o755))?;
            }
            check(libc::mount(c"overlay".as_ptr(), merged.as_ptr(), c"overlay".as_ptr(), 0, options.as_ptr().cast()))?;
            for (from, to) in &binds {
                check(libc::mount(from.as_ptr(), to.as_ptr(), none, libc::MS_BIND | libc::MS_REC, std::ptr::null()))?;
            }
            check(libc::chroot(merged.as_ptr()))?;
            check(libc::chdir(c"/".as_ptr()))
        });
    }
    let status = cmd.status().expect("running the test in its sandbox");
    let _ = std::fs::remove_dir(&dir);
    assert!(status.success(), "{test} in its sandbox: {status}");
    false
}

/// One Landlock case: the policies of one YAML source on one target under one posture, its map
/// image (where the operations come from) and its Landlock plan (what the kernel enforces).
struct LlCase {
    name: String,
    image: MapImage,
    plan: armorc_compiler::landlock::Plan,
}

fn ll_case(name: &str, text: &str, posture: armorc_compiler::compose::Posture) -> Option<LlCase> {
    use armorc_compiler::lower::{bpf, landlock};
    let checked = armorc_compiler::check_source(armorc_compiler::source::SourceFile::new(name, text));
    if checked.policies.is_empty() {
        return None;
    }
    let target = mutate::target_for(&checked.policies, posture);
    let refs: Vec<_> = checked.policies.iter().collect();
    let image = bpf::lower_target(&target, &refs);
    let plan = landlock::lower_target(&target, &refs).ok()?.plan;
    let enforces = !plan.layers.is_empty() || !plan.drop_capabilities.is_empty() || plan.network.is_some();
    (enforces && !image.entries.is_empty()).then(|| LlCase { name: name.to_string(), image, plan })
}

/// The fixture and corpus files, as `aa_cases` takes them, lowered to Landlock plans.
fn ll_cases() -> Vec<LlCase> {
    let (files, fixtures) = common::policy_files();
    let postures = mutate::postures();
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let text = std::fs::read_to_string(f).unwrap();
        let ps: Vec<_> = if i < fixtures { postures.to_vec() } else { vec![postures[i % 3]] };
        out.extend(ps.into_iter().filter_map(|p| ll_case(&f.display().to_string(), &text, p)));
    }
    out
}

/// Policies no file of the repository holds: drawn at random (seed printed) from pools of
/// system paths, directories, capabilities, actions and flags.
fn held_out_cases(seed: u64, n: usize) -> Vec<LlCase> {
    let mut rng = Rng::new(seed);
    let files = ["/etc/hostname", "/etc/passwd", "/etc/ssl/openssl.cnf", "/usr/bin/id", "/usr/bin/env", "/tmp/held"];
    let dirs = ["/etc/", "/etc/ssl/", "/usr/bin/", "/usr/lib/", "/var/log/", "/tmp/"];
    let caps = ["sys_chroot", "chown", "setuid", "net_bind_service", "net_raw", "sys_admin"];
    let protocols = ["tcp", "udp", "icmp", "raw", "stream", "dgram", "all"];
    let mut out = Vec::new();
    for i in 0..n {
        let action = *rng.pick(&["Block", "Block", "Allow"]);
        let mut rules = String::new();
        let mut list = |key: &str, items: Vec<String>| {
            if !items.is_empty() {
                rules.push_str(&format!("  {key}:\n{}", items.concat()));
            }
        };
        let mut pick_some = |pool: &[&str], f: &dyn Fn(&str, &mut Rng) -> String| -> Vec<String> {
            let k = rng.below(3);
            (0..k)
                .map(|_| {
                    let p = *rng.pick(pool);
                    f(p, &mut rng)
                })
                .collect()
        };
        let process_paths = pick_some(&files[3..5], &|p, _| format!("      - path: {p}\n"));
        let process_dirs = pick_some(&dirs, &|d, r| format!("      - dir: {d}\n        recursive: {}\n", r.coin()));
        let file_paths = pick_some(&files, &|p, r| format!("      - path: {p}\n        readOnly: {}\n", r.coin()));
        let file_dirs = pick_some(&dirs, &|d, r| {
            format!("      - dir: {d}\n        recursive: {}\n        readOnly: {}\n", r.coin(), r.coin())
        });
        let capabilities = pick_some(&caps, &|c, _| format!("      - capability: {c}\n"));
        let protocols = pick_some(&protocols, &|p, _| format!("      - protocol: {p}\n"));
        let section = |paths: Vec<String>, dirs: Vec<String>| {
            let mut s = String::new();
            if !paths.is_empty() {
                s.push_str(&format!("    matchPaths:\n{}", paths.concat()));
            }
            if !dirs.is_empty() {
                s.push_str(&format!("    matchDirectories:\n{}", dirs.concat()));
            }
            s
        };
        let (process, file) = (section(process_paths, process_dirs), section(file_paths, file_dirs));
        list("process", if process.is_empty() { vec![] } else { vec![process] });
        list("file", if file.is_empty() { vec![] } else { vec![file] });
        if !capabilities.is_empty() {
            rules.push_str(&format!("  capabilities:\n    matchCapabilities:\n{}", capabilities.concat()));
        }
        if !protocols.is_empty() {
            rules.push_str(&format!("  network:\n    matchProtocols:\n{}", protocols.concat()));
        }
        if rules.is_empty() {
            continue;
        }
        let text = format!(
            "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: held-out-{i}\n  namespace: ns\nspec:\n  selector:\n    matchLabels:\n      app: w\n{rules}  action: {action}\n"
        );
        let posture = mutate::postures()[rng.below(3)];
        out.extend(ll_case(&format!("held-out-{seed}-{i}"), &text, posture));
    }
    out
}

/// Run `planned` one operation at a time: prepare its files, build the rulesets of `kernel_plan`
/// (the walk sees the prepared tree), then a fresh child restricts itself with them and performs
/// the operation; each result is compared with the Landlock model of `model_plan`. `privileged`:
/// the plan's socket program is attached too (as armor-loader does as root) and the child enters
/// its cgroup first; otherwise Landlock alone, against `Model::unprivileged`.
#[allow(clippy::too_many_arguments)]
fn run_landlock_case(
    name: &str,
    kernel_plan: &armorc_compiler::landlock::Plan,
    model_plan: &armorc_compiler::landlock::Plan,
    planned: Vec<(Action, String, Query)>,
    fs: &mut Fs,
    port: u16,
    privileged: bool,
    tally: &mut Tally,
) {
    use armorc_compiler::model::landlock::Model as Landlock;
    let model = if privileged { Landlock::new(model_plan) } else { Landlock::unprivileged(model_plan) };
    let sockets = match kernel_plan.network.as_ref().filter(|_| privileged) {
        Some(net) => match armor_runtime::sockets::SocketProgram::attach(net) {
            Ok(p) => Some(p),
            Err(e) => {
                tally.errors.push(format!("{name}: attaching the socket program: {e:#}"));
                return;
            }
        },
        None => None,
    };
    let chown_target = PathBuf::from("/var/lib/armorc-live/chown-target");
    let shared = shared_page();
    for (action, path, q) in planned {
        let syscall_path =
            if matches!(action, Action::Chown) { chown_target.display().to_string() } else { path.clone() };
        let mut op = LiveOp {
            c_path: CString::new(syscall_path).unwrap_or_default(),
            c_path2: CString::new(format!("{path}.renamed")).unwrap_or_default(),
            action,
            path,
            queries: vec![],
            label: String::new(),
            made: false,
        };
        if !prepare(fs, &mut op, &q, &chown_target) {
            cleanup(&op);
            tally.skipped_unpreparable += 1;
            continue;
        }
        let rulesets = match armor_runtime::landlock::build(kernel_plan) {
            Ok(r) => r,
            Err(e) => {
                tally.errors.push(format!("{name}: building the rulesets: {e:#}"));
                cleanup(&op);
                continue;
            }
        };
        let r = in_child(shared, || {
            // SAFETY: system calls only (no allocation) in the forked child.
            unsafe {
                libc::setsid(); // no controlling tty
                libc::unshare(libc::CLONE_NEWUTS); // sethostname stays in here
            }
            if let Some(Err(e)) = sockets.as_ref().map(|p| p.enter()) {
                return 10_000 + e;
            }
            match rulesets.restrict() {
                Ok(()) => perform(&op, shared, port),
                Err((_, e)) => 10_000 + e,
            }
        });
        drop(rulesets);
        cleanup(&op);
        let answers: Vec<_> = op.queries.iter().map(|q| model.decide(q)).collect();
        let want_deny = answers.iter().any(|a| a.deny);
        if r >= 10_000 {
            tally.errors.push(format!("{name}: {}: restricting failed: errno {}", op.label, r - 10_000));
            continue;
        }
        let Some(got_deny) = tally.result(name, &op, r) else { continue };
        if got_deny == want_deny {
            tally.agree += 1;
        } else {
            let why: Vec<String> = answers
                .iter()
                .filter(|a| a.deny)
                .map(|a| format!("{:?} on {} (layer {:?})", a.right, a.checked, a.layer))
                .collect();
            tally.failures.push(format!(
                "{name}: {}: kernel {}, model {} {why:?}",
                op.label,
                if got_deny { "deny" } else { "allow" },
                if want_deny { "deny" } else { "allow" }
            ));
        }
    }
}

/// Landlock, on our plain machines (no lab needed): real operations under each case's compiled
/// plan agree with `model::landlock` (what `armorc query --enforcer landlock` answers), over the
/// fixture and corpus policies and a held-out set drawn at random (seed printed; replay with
/// ARMORC_HELD_OUT_SEED).
#[test]
fn live_landlock_agrees_with_model() {
    const TEST: &str = "live_landlock_agrees_with_model";
    if std::env::var_os("ARMORC_LAB").is_some() {
        // Landlock needs no lab (and the lab's 6.1 has ABI 2): test.sh runs this on the machine.
        println!("{TEST}: runs on the machine itself (scripts/test.sh), not in the kernel lab");
        return;
    }
    match armor_runtime::enforcer::landlock_abi() {
        Ok(abi) if abi >= 3 => {}
        Ok(abi) => return common::skip_or_fail(format!("Landlock ABI {abi} (plans need 3)")),
        Err(e) => return common::skip_or_fail(format!("Landlock unavailable: {e}")),
    }
    if !in_sandbox(TEST) {
        return;
    }
    let (port, mut fs) = live_setup();
    let mut rng = Rng::new(0x1a4d_10c4);
    let seed = std::env::var("ARMORC_HELD_OUT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs());
    println!("live landlock: held-out seed {seed} (replay: ARMORC_HELD_OUT_SEED={seed})");
    let cases = ll_cases();
    let held_out = held_out_cases(seed, 60);
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut held = Tally::default();
    for (set, tally) in [(&cases, &mut tally), (&held_out, &mut held)] {
        for (i, case) in set.iter().enumerate() {
            let queries = mutate::queries(&case.image, &mut rng, 6);
            let mut planned = plan(&queries, &mut rng);
            planned.truncate(OPS_PER_IMAGE / 4);
            let name = format!("{}#{i}", case.name);
            // the held-out set alternates: with the socket program (root) and Landlock alone
            let privileged = std::ptr::eq(set, &cases) || i % 2 == 0;
            run_landlock_case(&name, &case.plan, &case.plan, planned, &mut fs, port, privileged, tally);
        }
    }
    tally.print(&format!("live landlock: {} cases", cases.len()), started);
    held.print(&format!("live landlock: {} held-out cases", held_out.len()), started);
    tally.assert_all_agree();
    held.assert_all_agree();
    assert!(tally.total + held.total >= MIN_OPS, "only {} operations compared", tally.total + held.total);
    assert!(held.mix.keys().any(|k| k.ends_with(" deny")), "the held-out set never denied: {:?}", held.mix);
    for op in ["socket deny", "socket allow", "connect deny", "connect allow"] {
        let n = tally.mix.get(op).unwrap_or(&0) + held.mix.get(op).unwrap_or(&0);
        assert!(n > 0, "no {op} compared: {:?} {:?}", tally.mix, held.mix);
    }

    // Sabotage: a plan missing one exclusion, enforced while the model reads the real plan.
    let (case, sabotaged) = cases
        .iter()
        .find_map(|c| {
            let mut plan = c.plan.clone();
            let layer = plan.layers.iter_mut().find(|l| l.name == "deny execute")?;
            let armorc_compiler::landlock::Grant::Except { excluded, .. } = layer.grants.last_mut()? else {
                return None;
            };
            let victim = excluded.iter().position(|x| !x.shallow && x.path.starts_with("/usr/bin/"))?;
            let victim = excluded.remove(victim).path;
            if excluded.is_empty() {
                layer.handled = vec![armorc_compiler::landlock::Right::Refer];
                layer.grants.truncate(1);
            }
            Some((c, (plan, victim)))
        })
        .expect("a case refusing to execute a file under /usr/bin");
    let (plan_without, victim) = sabotaged;
    let q = Query { op: Op::Exec, path: victim.as_bytes().to_vec(), ..Query::new(Op::Exec) };
    let mut bad = Tally::default();
    let name = format!("sabotaged {}", case.name);
    run_landlock_case(&name, &plan_without, &case.plan, plan(&[q], &mut rng), &mut fs, port, true, &mut bad);
    println!(
        "landlock sabotage ({victim} no longer excluded): {} of {} operations disagree",
        bad.failures.len(),
        bad.total
    );
    assert!(!bad.failures.is_empty(), "a dropped exclusion went unnoticed: {:?}", bad.errors);

    // Sabotage: a plan refusing TCP enforced without its network part, unprivileged and as root.
    let case = cases
        .iter()
        .chain(&held_out)
        .find(|c| c.plan.network.as_ref().is_some_and(|n| n.refuses_tcp()))
        .expect("a case refusing TCP");
    let without = armorc_compiler::landlock::Plan { network: None, ..case.plan.clone() };
    for privileged in [false, true] {
        let connect = vec![(Action::Connect, String::new(), Query { sock_type: 1, ..Query::new(Op::Socket) })];
        let mut bad = Tally::default();
        let name = format!("sabotaged network {}", case.name);
        run_landlock_case(&name, &without, &case.plan, connect, &mut fs, port, privileged, &mut bad);
        println!(
            "landlock network sabotage (privileged {privileged}): {} of {} disagree",
            bad.failures.len(),
            bad.total
        );
        assert_eq!((bad.failures.len(), bad.total), (1, 1), "a dropped network part went unnoticed: {:?}", bad.errors);
    }
}
