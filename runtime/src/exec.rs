//! `armor-loader exec`: run a command as a compiled target. For a container target the command
//! runs in a new pid and mount namespace whose key ({pid ns, mnt ns}) gets the target's map image
//! before the command starts; the image is removed when it ends. The command may also be started
//! under an AppArmor profile (its exec attribute is set right before execve) or Landlock rulesets
//! (enforced right before execve): a `PreExec` step.
//!
//! The child is forked by hand (not `std::process::Command`): it must stop between creating the
//! namespaces and exec'ing, so that the parent can install the image for the new key first.

use crate::apparmor::ExecAttr;
use crate::landlock::Rulesets;
use crate::sockets::SocketProgram;
use anyhow::{bail, Context, Result};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;

/// Exit status of a command killed by signal N: 128 + N, as shells report it.
fn status_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// A command line ready for execvp, built before fork (the child must not allocate): the
/// NUL-terminated arguments and the NULL-terminated pointer array into them.
struct Argv {
    args: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl Argv {
    fn new(cmd: &[OsString]) -> Result<Argv> {
        if cmd.is_empty() {
            bail!("no command to run");
        }
        let args = cmd
            .iter()
            .map(|a| CString::new(a.as_bytes()).context("a command argument contains a NUL byte"))
            .collect::<Result<Vec<_>>>()?;
        // The pointers stay valid while `args` lives: each CString's buffer is its own heap block.
        let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(Argv { args, ptrs })
    }
}

fn pipe() -> Result<(libc::c_int, libc::c_int)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes exactly two descriptors into fds, a live array of two c_ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe2");
    }
    Ok((fds[0], fds[1]))
}

fn ns_inode(path: &std::ffi::CStr) -> u32 {
    // SAFETY: path is NUL-terminated (CStr); all-zero bytes are a valid libc::stat, and stat only
    // writes that live struct. stat is async-signal-safe (this runs in a forked child).
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(path.as_ptr(), &mut st) != 0 {
            return 0;
        }
        st.st_ino as u32
    }
}

/// What the child does right before execve, allocation-free: both are prepared before the fork.
#[derive(Clone, Copy)]
pub enum PreExec<'a> {
    /// Start the command under an AppArmor profile.
    AppArmor(&'a ExecAttr),
    /// Enter the socket program's cgroup if given (`SocketProgram::enter`), then enforce
    /// Landlock rulesets and drop capabilities (`Rulesets::restrict`).
    Landlock(&'a Rulesets, Option<&'a SocketProgram>),
}

/// `n` in decimal into `buf`, without allocating: the digits written.
pub(crate) fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// In a forked child: the `pre` step if given (AppArmor profile, Landlock rulesets); when it
/// fails, the reason goes to stderr and the child exits 126. Allocation-free.
pub fn enter(pre: Option<PreExec<'_>>) {
    // a load of a static set before any fork: no allocation, no lock
    let program = crate::program();
    // SAFETY: every write reads a live byte string of the length passed. Only async-signal-safe
    // calls, no allocation and no locks (the parent may have had other threads at fork); _exit
    // skips Rust destructors and atexit handlers.
    unsafe {
        match pre {
            Some(PreExec::AppArmor(a)) if !a.apply_in_child() => {
                let msg = b": could not set the AppArmor profile\n";
                libc::write(2, program.as_ptr().cast(), program.len());
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::_exit(126);
            }
            Some(PreExec::Landlock(r, sockets)) => {
                let entered =
                    sockets.map_or(Ok(()), |s| s.enter().map_err(|e| ("entering the socket program's cgroup", e)));
                if let Err((step, errno)) = entered.and_then(|()| r.restrict()) {
                    let mut buf = [0u8; 10];
                    let errno = decimal(errno as u32, &mut buf);
                    let parts: [&[u8]; 6] =
                        [program.as_bytes(), b": landlock: ", step.as_bytes(), b" failed: errno ", errno, b"\n"];
                    for p in parts {
                        libc::write(2, p.as_ptr().cast(), p.len());
                    }
                    libc::_exit(126);
                }
            }
            _ => {}
        }
    }
}

/// Exec `argv` (in the child; never returns) after the `pre` step if given. Exit 126 when the
/// pre-exec step fails or the kernel refuses the exec (as shells do), 127 when the command is not
/// found. Allocation-free: runs in a forked child.
fn exec_child(argv: &Argv, pre: Option<PreExec<'_>>) -> ! {
    enter(pre);
    // Argv::new refuses an empty command
    let name = &argv.args[0];
    // a load of a static set before any fork: no allocation, no lock
    let program = crate::program();
    // SAFETY: argv.ptrs is a NULL-terminated array of pointers to the NUL-terminated strings in
    // argv.args, borrowed (alive) for the call; every write reads a live byte string of the length
    // passed; errno is read through this thread's errno pointer. Only async-signal-safe calls.
    unsafe {
        libc::execvp(argv.ptrs[0], argv.ptrs.as_ptr());
        let err = *libc::__errno_location();
        let msg: &[u8] = if err == libc::ENOENT { b": command not found\n" } else { b": exec refused\n" };
        libc::write(2, program.as_ptr().cast(), program.len());
        libc::write(2, b": ".as_ptr().cast(), 2);
        libc::write(2, name.as_ptr().cast(), name.as_bytes().len());
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(if err == libc::ENOENT { 127 } else { 126 });
    }
}

/// Exec `cmd` in place of this process (its pid, its parent, its signals) after the `pre` step
/// if given: `armor-exec`. Returns only when `cmd` cannot be prepared; exits 126 when the step
/// fails or the kernel refuses the exec, 127 when the command is not found. The caller must be
/// single-threaded: Landlock restricts the calling thread.
pub fn exec_in_place(cmd: &[OsString], pre: Option<PreExec<'_>>) -> Result<std::convert::Infallible> {
    let argv = Argv::new(cmd)?;
    exec_child(&argv, pre)
}

/// Run `cmd` in new pid and mount namespaces. `setup` gets the namespaces' target key
/// ({pid ns for children, mnt ns}) while the child waits, before anything runs in them; its
/// error kills the child. `teardown` runs after the command ends (also when setup failed).
/// Returns the command's exit status. The caller must be single-threaded (fork).
pub fn run_isolated(
    cmd: &[OsString],
    pre: Option<PreExec<'_>>,
    setup: impl FnOnce((u32, u32)) -> Result<()>,
    teardown: impl FnOnce((u32, u32)),
) -> Result<i32> {
    let argv = Argv::new(cmd)?;
    run_isolated_with(|| exec_child(&argv, pre), setup, teardown)
}

/// `run_isolated` with `pid1` as the body of pid 1 in the new namespaces instead of an exec
/// (its return value is the exit status). `pid1` runs in a forked child: it must only make
/// async-signal-safe calls (no allocation, no locks) when the caller has other threads.
pub fn run_isolated_with(
    pid1: impl FnOnce() -> i32,
    setup: impl FnOnce((u32, u32)) -> Result<()>,
    teardown: impl FnOnce((u32, u32)),
) -> Result<i32> {
    let (ready_r, ready_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    // SAFETY: fork itself takes no arguments. The child runs only the block below (raw system
    // calls, then `pid1`, whose contract is async-signal-safety) and always ends in _exit, so it
    // never touches a lock or allocator state another thread of ours held at the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()).context("fork");
    }
    if pid == 0 {
        // SAFETY: child side: close/unshare/mount/fork/read/write/waitpid/_exit on descriptors this
        // function created, NUL-terminated literals and stack buffers at least as long as the
        // counts passed (`failed` and `key` are 8 bytes, `go` 1 byte); errno through this thread's
        // errno pointer. No allocation, no unwinding out of the child (every path ends in _exit).
        unsafe {
            libc::close(ready_r);
            libc::close(go_w);
            if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID) != 0 {
                let failed = [0u32, *libc::__errno_location() as u32]; // {0, errno}: no key
                libc::write(ready_w, failed.as_ptr().cast(), 8);
                libc::_exit(125);
            }
            // nothing mounted in the new namespace propagates back to the host
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            );
            let inner = libc::fork();
            if inner == 0 {
                // pid 1 of the new pid namespace: wait until the parent has set the target up
                libc::close(ready_w);
                let mut go = 0u8;
                if libc::read(go_r, (&mut go as *mut u8).cast(), 1) != 1 {
                    libc::_exit(125); // the parent gave up (setup failed)
                }
                libc::_exit(pid1());
            }
            if inner < 0 {
                libc::_exit(125);
            }
            libc::close(go_r);
            // pid_for_children resolves only once the namespace has a process (its pid 1)
            let key = [ns_inode(c"/proc/self/ns/pid_for_children"), ns_inode(c"/proc/self/ns/mnt")];
            libc::write(ready_w, key.as_ptr().cast(), 8);
            libc::close(ready_w);
            let mut status = 0;
            while libc::waitpid(inner, &mut status, 0) < 0 {}
            libc::_exit(status_code(status));
        }
    }
    // SAFETY: ready_w and go_r are descriptors pipe() returned to us, closed here once (the child
    // has its own copies); afterwards a read on ready_r sees EOF if the child dies.
    unsafe {
        libc::close(ready_w);
        libc::close(go_r);
    }
    let mut key = [0u32; 2];
    // SAFETY: key is 8 writable bytes (two u32), the count passed.
    let n = unsafe { libc::read(ready_r, key.as_mut_ptr().cast(), 8) };
    // SAFETY: ready_r is our read end of the pipe, closed once here and not used again.
    unsafe { libc::close(ready_r) };
    let wait = || {
        let mut status = 0;
        // SAFETY: status is a live c_int waitpid writes; pid is our own child.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {}
        status_code(status)
    };
    if n != 8 || key[0] == 0 || key[1] == 0 {
        // SAFETY: go_w is our write end, closed once on this path (we return below).
        unsafe { libc::close(go_w) };
        let code = wait();
        let why = if n == 8 && key[0] == 0 {
            std::io::Error::from_raw_os_error(key[1] as i32).to_string()
        } else {
            format!("no namespace inodes; child status {code}")
        };
        bail!("could not create the pid and mount namespaces (unshare needs CAP_SYS_ADMIN): {why}");
    }
    let key = (key[0], key[1]);
    if let Err(e) = setup(key) {
        // SAFETY: go_w is our write end, closed once on this path (we return below). The child
        // reads EOF and exits.
        unsafe { libc::close(go_w) };
        wait();
        teardown(key);
        return Err(e);
    }
    // SAFETY: writes one byte from a static string to go_w, our write end, then closes it (once).
    unsafe {
        libc::write(go_w, b"g".as_ptr().cast(), 1);
        libc::close(go_w);
    }
    let code = wait();
    teardown(key);
    Ok(code)
}

/// Run `cmd` in our own namespaces (host targets, AppArmor, Landlock, or no enforcement), after
/// the `pre` step if given. Returns its exit status.
pub fn run_plain(cmd: &[OsString], pre: Option<PreExec<'_>>) -> Result<i32> {
    let argv = Argv::new(cmd)?;
    run_plain_with(|| exec_child(&argv, pre))
}

/// `run_plain` with `body` run in the forked child instead of an exec (its return value is the
/// exit status). `body` must only make async-signal-safe calls (no allocation, no locks).
/// While the parent waits, the signals in `FORWARDED` that a process sends it (a container
/// runtime stopping the container, `kill`) are passed on to the command. Without that, a parent
/// that is a container's pid 1 (armor-exec) would ignore the runtime's SIGTERM (pid 1 ignores
/// signals it has no handler for), and the command would only end with the SIGKILL after the
/// grace period. As pid 1 it also reaps the orphans the kernel re-parents to it.
pub fn run_plain_with(body: impl FnOnce() -> i32) -> Result<i32> {
    // Blocked across fork: a signal sent before the handlers are in place waits for them.
    let mask = forward::block();
    // SAFETY: fork itself takes no arguments. The child only runs `body` (whose contract is
    // async-signal-safety) and ends in _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        forward::restore(&mask);
        // SAFETY: leaving the forked child without running the parent's destructors.
        unsafe { libc::_exit(body()) };
    }
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        forward::restore(&mask);
        return Err(e).context("fork");
    }
    let handlers = forward::install(pid);
    forward::restore(&mask);
    let status = wait_for(pid);
    forward::uninstall(handlers);
    Ok(status_code(status?))
}

/// Waits for `pid` (and, as pid 1, for any child, so that orphans do not stay zombies).
fn wait_for(pid: libc::pid_t) -> Result<libc::c_int> {
    // SAFETY: getpid has no arguments and cannot fail.
    let any = if unsafe { libc::getpid() } == 1 { -1 } else { pid };
    let mut status = 0;
    loop {
        // SAFETY: status is a live c_int waitpid writes.
        let r = unsafe { libc::waitpid(any, &mut status, 0) };
        if r == pid {
            return Ok(status);
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).context("waitpid");
            }
        }
    }
}

/// Passing signals on to the command `run_plain_with` waits for.
mod forward {
    use std::sync::atomic::{AtomicI32, Ordering};

    /// What a container runtime, an orchestrator or a user's `kill` may send to stop, reload or
    /// resize the command.
    const FORWARDED: [libc::c_int; 7] =
        [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH];

    /// The command's pid (0: none; the handler then does nothing).
    static CHILD: AtomicI32 = AtomicI32::new(0);

    extern "C" fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
        // SAFETY: the kernel hands an SA_SIGINFO handler a valid siginfo_t.
        let code = unsafe { (*info).si_code };
        let pid = CHILD.load(Ordering::Relaxed);
        // Sent by a process (SI_USER, SI_QUEUE, SI_TKILL: codes <= 0), not by the terminal
        // (SI_KERNEL), which signals the command's whole process group itself.
        if code <= 0 && pid > 0 {
            // SAFETY: kill is async-signal-safe; pid is our child.
            unsafe { libc::kill(pid, sig) };
        }
    }

    fn set_of(signals: &[libc::c_int]) -> libc::sigset_t {
        // SAFETY: sigemptyset initialises the set; sigaddset takes valid signal numbers.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            set
        }
    }

    /// Blocks the forwarded signals; returns the mask to restore.
    pub(super) fn block() -> libc::sigset_t {
        let set = set_of(&FORWARDED);
        // SAFETY: both sets are live; sigprocmask is async-signal-safe.
        unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
            old
        }
    }

    /// Restores a mask `block` returned (async-signal-safe: the forked child calls it).
    pub(super) fn restore(mask: &libc::sigset_t) {
        // SAFETY: mask is a live sigset_t.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
    }

    /// Passes the forwarded signals on to `pid`; returns the previous handlers.
    pub(super) fn install(pid: libc::pid_t) -> Vec<(libc::c_int, libc::sigaction)> {
        let previous = FORWARDED
            .iter()
            .map(|&sig| {
                // SAFETY: `action` is fully initialised (zeroed, then the handler, flags and an
                // empty mask); `old` is written by sigaction.
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = pass_on as *const () as libc::sighandler_t;
                    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
                    libc::sigemptyset(&mut action.sa_mask);
                    let mut old: libc::sigaction = std::mem::zeroed();
                    libc::sigaction(sig, &action, &mut old);
                    (sig, old)
                }
            })
            .collect();
        // After the handlers: a thread seeing the pid knows they are in place.
        CHILD.store(pid, Ordering::Relaxed);
        previous
    }

    /// Puts the handlers `install` replaced back.
    pub(super) fn uninstall(previous: Vec<(libc::c_int, libc::sigaction)>) {
        for (sig, old) in previous {
            // SAFETY: `old` came from sigaction.
            unsafe { libc::sigaction(sig, &old, std::ptr::null_mut()) };
        }
        CHILD.store(0, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(super) fn child() -> libc::pid_t {
        CHILD.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SIGTERM sent to the waiting parent reaches the command: it ends by that signal (143),
    /// not by the alarm that stops it after 10 s when nothing reaches it (142).
    #[test]
    fn a_signal_sent_to_the_parent_reaches_the_command() {
        let sender = std::thread::spawn(|| {
            while forward::child() == 0 {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            // SAFETY: kill to our own pid; the handler is installed (the child pid is set after it).
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        });
        let status = run_plain_with(|| {
            // SAFETY: alarm and pause are async-signal-safe.
            unsafe {
                libc::alarm(10);
                libc::pause();
            }
            0
        })
        .unwrap();
        sender.join().unwrap();
        assert_eq!(status, 128 + libc::SIGTERM, "the command did not get the parent's SIGTERM");
    }
}
