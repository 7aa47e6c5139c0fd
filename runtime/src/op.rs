//! `armor-loader exec --op OP ARG`: one real operation performed by the target's own process
//! once its enforcement is in place (the BPF-LSM key's map applied, the AppArmor profile entered
//! with `changeprofile`, the Landlock rulesets enforced), without exec'ing a helper program (a
//! helper would itself be subject to the target's process rules). `armorc test --kernel` runs
//! its cases through it (docs/testing.md).
//!
//! The exit status says what the kernel decided: `ALLOWED` (0), `DENIED` (13: EACCES or EPERM),
//! `FAILED` (3: another errno, named on stderr, e.g. ENOENT), `UNSUPPORTED` (4: nothing run). The operations never truncate or
//! create a file: `write` is an `open(O_WRONLY)` that writes nothing; `exec` stops the new
//! program before its first instruction (it runs traced, and the tracer kills it at the stop).

use anyhow::{bail, Context, Result};
use std::ffi::CString;

/// Exit status: the operation succeeded.
pub const ALLOWED: i32 = 0;
/// Exit status: the kernel refused the operation (EACCES or EPERM).
pub const DENIED: i32 = 13;
/// Exit status: the operation failed for another reason (the errno is on stderr).
pub const FAILED: i32 = 3;

/// Exit status: not an operation `--op` can perform (unknown, or a capability no harmless call
/// exercises): nothing was run.
pub const UNSUPPORTED: i32 = 4;

/// The names `--op` takes.
pub const NAMES: [&str; 8] = ["open", "write", "exec", "unlink", "mkdir", "rmdir", "socket", "capable"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Open,
    Write,
    Exec,
    Unlink,
    Mkdir,
    Rmdir,
    /// socket(domain, type, protocol)
    Socket(i32, i32, i32),
    /// The harmless system call that needs the capability (`capable_call`).
    Capable(u32),
}

/// One operation, its arguments prepared before fork (performing it does not allocate).
#[derive(Debug)]
pub struct Operation {
    kind: Kind,
    /// The path of file and process operations (empty otherwise).
    path: CString,
    /// `OP ARG` as given, for messages.
    label: Vec<u8>,
}

/// The capabilities `capable` can exercise, by number: each with a system call that needs it
/// and changes nothing outside the operation's own process.
pub const CAPABILITIES: [(u32, &str); 6] = [
    (6, "setgid(65534)"),
    (7, "setuid(65534)"),
    (10, "bind(127.0.0.1:1)"),
    (13, "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)"),
    (18, "chroot(\"/\")"),
    (21, "unshare(CLONE_NEWUTS)"),
];

impl Operation {
    /// `OP ARG`: a path for open, write, exec, unlink, mkdir and rmdir; `TYPE,PROTOCOL` (numbers,
    /// an IPv6 socket for protocol 58, ICMPv6) for socket; a capability name or number (one of
    /// `CAPABILITIES`) for capable.
    pub fn parse(op: &str, arg: &str) -> Result<Operation> {
        let kind = match op {
            "open" => Kind::Open,
            "write" => Kind::Write,
            "exec" => Kind::Exec,
            "unlink" => Kind::Unlink,
            "mkdir" => Kind::Mkdir,
            "rmdir" => Kind::Rmdir,
            "socket" => {
                let parse = |s: Option<&str>| s.and_then(|s| s.trim().parse::<i32>().ok());
                let mut parts = arg.split(',');
                let (Some(ty), Some(proto), None) = (parse(parts.next()), parse(parts.next()), parts.next()) else {
                    bail!("--op socket {arg:?}: expected TYPE,PROTOCOL as numbers (1,6: a TCP stream socket)");
                };
                let domain = if proto == libc::IPPROTO_ICMPV6 { libc::AF_INET6 } else { libc::AF_INET };
                Kind::Socket(domain, ty, proto)
            }
            "capable" => {
                let lower = arg.to_ascii_lowercase();
                let name = lower.strip_prefix("cap_").unwrap_or(&lower);
                let cap = match name.parse::<u32>() {
                    Ok(n) => Some(n),
                    Err(_) => armorc_compiler::ir::capability_number(name).map(u32::from),
                }
                .with_context(|| format!("--op capable {arg:?}: unknown capability"))?;
                if !CAPABILITIES.iter().any(|(c, _)| *c == cap) {
                    bail!(
                        "--op capable {arg:?}: no harmless system call exercises it here (we can: {})",
                        capability_list()
                    );
                }
                Kind::Capable(cap)
            }
            _ => bail!("--op {op:?}: unknown operation (expected one of {})", NAMES.join(", ")),
        };
        let path = match kind {
            Kind::Socket(..) | Kind::Capable(_) => CString::default(),
            _ if !arg.starts_with('/') => bail!("--op {op} {arg:?}: expected an absolute path"),
            _ => CString::new(arg).context("the path contains a NUL byte")?,
        };
        Ok(Operation { kind, path, label: format!("{op} {arg}").into_bytes() })
    }

    /// Perform the operation in this process and return the exit status (`ALLOWED`, `DENIED`,
    /// `FAILED` with the errno on stderr). Runs in a forked child: system calls only, no
    /// allocation. The process leaves its session first (no controlling terminal, as the test
    /// cases' `tty: false` says).
    ///
    /// `enter` puts the process under the enforcer (AppArmor profile, Landlock rulesets; nothing
    /// for BPF-LSM, whose key is the namespaces'). For `exec` it runs in the traced child after
    /// PTRACE_TRACEME, so that the tracer is still unconfined when the child asks to be traced
    /// (a profile without ptrace rules refuses a confined tracer).
    pub fn run(&self, enter: impl Fn()) -> i32 {
        // SAFETY: setsid takes no arguments.
        unsafe { libc::setsid() };
        if self.kind != Kind::Exec {
            enter();
        }
        match self.perform(enter) {
            0 => ALLOWED,
            libc::EACCES | libc::EPERM => DENIED,
            errno => {
                let mut buf = [0u8; 10];
                let digits = crate::exec::decimal(errno as u32, &mut buf);
                let parts: [&[u8]; 5] = [b"armor-loader: ", &self.label, b": failed: errno ", digits, b"\n"];
                for p in parts {
                    // SAFETY: writes a live byte string of the length passed to stderr.
                    unsafe { libc::write(2, p.as_ptr().cast(), p.len()) };
                }
                FAILED
            }
        }
    }

    /// 0 or the errno.
    fn perform(&self, enter: impl Fn()) -> i32 {
        let ok = |rc: libc::c_int| if rc < 0 { errno() } else { 0 };
        let p = self.path.as_ptr();
        // O_NONBLOCK: never wait on a FIFO; no O_CREAT, no O_TRUNC: opening changes nothing
        let flags = libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
        // SAFETY: every call takes the NUL-terminated path prepared before fork.
        unsafe {
            match self.kind {
                Kind::Open => opened(libc::open(p, libc::O_RDONLY | flags)),
                Kind::Write => opened(libc::open(p, libc::O_WRONLY | flags)),
                Kind::Exec => exec_stopped(p, enter),
                Kind::Unlink => ok(libc::unlink(p)),
                Kind::Mkdir => ok(libc::mkdir(p, 0o755)),
                Kind::Rmdir => ok(libc::rmdir(p)),
                Kind::Socket(domain, ty, proto) => opened(libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto)),
                Kind::Capable(cap) => capable_call(cap),
            }
        }
    }
}

fn capability_list() -> String {
    CAPABILITIES.iter().map(|(c, call)| format!("{c} ({call})")).collect::<Vec<_>>().join(", ")
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `open`/`socket`'s result: the errno, or 0 for a descriptor (closed here).
fn opened(fd: libc::c_int) -> i32 {
    if fd < 0 {
        return errno();
    }
    // SAFETY: fd is the descriptor just opened, closed once.
    unsafe { libc::close(fd) };
    0
}

/// execve(path) in a child that asked to be traced (PTRACE_TRACEME): a successful execve stops
/// it with SIGTRAP before the new program runs an instruction, and we kill it there. 0 when
/// the exec succeeded, else the errno execve (or PTRACE_TRACEME, as FAILED's EPERM would
/// mislead: reported as ECHILD) failed with.
fn exec_stopped(path: *const libc::c_char, enter: impl Fn()) -> i32 {
    // SAFETY: fork in the single-threaded operation process; the child makes system calls only
    // and ends in execve or _exit; argv and envp are NULL-terminated arrays on its stack, path
    // the caller's NUL-terminated string.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return errno();
        }
        if pid == 0 {
            if libc::ptrace(
                libc::PTRACE_TRACEME,
                0,
                std::ptr::null_mut::<libc::c_void>(),
                std::ptr::null_mut::<libc::c_void>(),
            ) != 0
            {
                libc::_exit(255);
            }
            enter();
            let argv = [path, std::ptr::null()];
            let envp: [*const libc::c_char; 1] = [std::ptr::null()];
            libc::execve(path, argv.as_ptr(), envp.as_ptr());
            libc::_exit(errno().clamp(1, 254));
        }
        let mut status = 0;
        while libc::waitpid(pid, &mut status, 0) < 0 {}
        if libc::WIFSTOPPED(status) {
            libc::kill(pid, libc::SIGKILL);
            while libc::waitpid(pid, &mut status, 0) < 0 {}
            return 0;
        }
        match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
            Some(255) => libc::ECHILD,
            Some(code) => code,
            None => libc::ECHILD,
        }
    }
}

/// The system call behind `CAPABILITIES`' entry for `cap`: 0 or its errno. Each changes only
/// this process (which exits right after) or nothing.
fn capable_call(cap: u32) -> i32 {
    let ok = |rc: libc::c_int| if rc < 0 { errno() } else { 0 };
    // SAFETY: system calls on integers, a static NUL-terminated string, and a stack sockaddr
    // that outlives the call; the socket is closed once.
    unsafe {
        match cap {
            6 => ok(libc::setgid(65534)),
            7 => ok(libc::setuid(65534)),
            10 => {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                if fd < 0 {
                    return errno();
                }
                let sa = libc::sockaddr_in {
                    sin_family: libc::AF_INET as u16,
                    sin_port: 1u16.to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be() },
                    sin_zero: [0; 8],
                };
                let r = ok(libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), std::mem::size_of_val(&sa) as u32));
                libc::close(fd);
                r
            }
            13 => opened(libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMP)),
            18 => ok(libc::chroot(c"/".as_ptr())),
            21 => ok(libc::unshare(libc::CLONE_NEWUTS)),
            _ => libc::EINVAL, // parse admits only CAPABILITIES
        }
    }
}
