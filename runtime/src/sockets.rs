//! The socket part of a Landlock plan (docs/landlock-plan.md, "Network"): bpf/sock.bpf.c, a
//! cgroup/sock_create program, attached to a fresh cgroup v2 child of the loader's own cgroup.
//! The command's process moves itself into it right before its exec (`enter`), so the program
//! decides every socket it and its descendants create; the cgroup is removed when the command
//! ends (`Drop`: anything the command left running in it is killed first). Needs root (cgroup
//! creation, BPF program loading); the caller warns and goes on with Landlock alone otherwise.

use crate::objects;
use anyhow::{anyhow, bail, Context, Result};
use armorc_compiler::landlock::{Network, Plan, Verdict};
use aya::maps::HashMap;
use aya::programs::{CgroupAttachMode, CgroupSock};
use aya::{Ebpf, EbpfLoader};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// bpf/sock.bpf.c's map key kinds.
const KIND_TYPE: u32 = 1;
const KIND_PROTOCOL: u32 = 2;

/// The rules whose refusals only the socket program makes (the unprivileged loader's warning):
/// every refusing entry, and the allow-list's default.
pub fn refusing_rules(plan: &Plan) -> Vec<String> {
    let Some(net) = &plan.network else { return Vec::new() };
    let mut names: Vec<String> = Vec::new();
    for r in net.types.iter().chain(&net.protocols).filter(|r| r.verdict == Verdict::Deny) {
        let name = plan.rules.get(r.rule as usize).map_or("?".into(), |i| format!("{} {}", i.policy, i.at));
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if net.default == Verdict::Deny {
        names.push("the network allow-list (sockets it does not name)".into());
    }
    names
}

/// A cgroup directory we created, removed on drop.
struct Cgroup {
    dir: PathBuf,
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if let Err(e) = remove_cgroup(&self.dir) {
            eprintln!("armor-loader: removing the command's cgroup {}: {e:#}", self.dir.display());
        }
    }
}

/// rmdir; while the command left processes in it: cgroup.kill (they are the command's own
/// descendants), wait until it is unpopulated (at most 2 s), rmdir again.
fn remove_cgroup(dir: &Path) -> Result<()> {
    match std::fs::remove_dir(dir) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
        other => return other.map_err(Into::into),
    }
    std::fs::write(dir.join("cgroup.kill"), "1").context("cgroup.kill")?;
    let start = Instant::now();
    while std::fs::read_to_string(dir.join("cgroup.events"))?.lines().any(|l| l == "populated 1") {
        if start.elapsed() > Duration::from_secs(2) {
            bail!("processes left in it after cgroup.kill");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::remove_dir(dir).map_err(Into::into)
}

/// Where cgroup v2 is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid systems):
/// the first cgroup2 mount in /proc/self/mountinfo (mount points there escape ` `, `\t`, `\n`
/// and `\\` as octal `\NNN`).
fn cgroup2_mount() -> Result<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").context("/proc/self/mountinfo")?;
    for line in text.lines() {
        let Some((mount, fs)) = line.split_once(" - ") else { continue };
        if fs.split(' ').next() == Some("cgroup2") {
            let point = mount.split(' ').nth(4).ok_or_else(|| anyhow!("bad mountinfo line: {line}"))?;
            return Ok(PathBuf::from(unescape(point)));
        }
    }
    bail!("no cgroup v2 mount")
}

fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |a, c| a.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The loader's own cgroup v2 directory.
fn own_cgroup() -> Result<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").context("/proc/self/cgroup")?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::")).ok_or_else(|| anyhow!("not in a cgroup v2"))?;
    Ok(cgroup2_mount()?.join(path.trim_start_matches('/')))
}

/// The socket program attached to the command's cgroup (fields drop in order: the cgroup is
/// removed before the program is unloaded).
pub struct SocketProgram {
    /// The cgroup's `cgroup.procs`, open for writing (close-on-exec).
    procs: OwnedFd,
    cgroup: Cgroup,
    _obj: Ebpf,
}

impl SocketProgram {
    /// Loads bpf/sock.bpf.c with the plan's entries, creates the command's cgroup and attaches
    /// the program to it.
    pub fn attach(net: &Network) -> Result<SocketProgram> {
        let default = u32::from(net.default == Verdict::Deny);
        let mut obj = EbpfLoader::new()
            .override_global("armor_sock_default", &default, true)
            .load(objects::SOCK)
            .context("loading the socket program's object")?;
        let mut map: HashMap<_, u32, u32> =
            HashMap::try_from(obj.map_mut("armor_sock_rules").ok_or_else(|| anyhow!("no armor_sock_rules map"))?)?;
        for (kind, list) in [(KIND_TYPE, &net.types), (KIND_PROTOCOL, &net.protocols)] {
            for r in list {
                map.insert(kind << 16 | r.number, u32::from(r.verdict == Verdict::Deny), 0)?;
            }
        }
        let prog: &mut CgroupSock =
            obj.program_mut("armor_sock_create").ok_or_else(|| anyhow!("no armor_sock_create program"))?.try_into()?;
        prog.load().context("loading armor_sock_create (verifier)")?;
        let dir = own_cgroup()?.join(format!("armor-loader-{}", std::process::id()));
        std::fs::create_dir(&dir).with_context(|| format!("creating the cgroup {}", dir.display()))?;
        let cgroup = Cgroup { dir };
        let fd = std::fs::File::open(&cgroup.dir).with_context(|| format!("opening {}", cgroup.dir.display()))?;
        prog.attach(&fd, CgroupAttachMode::Single).context("attaching armor_sock_create")?;
        let procs = CString::new(cgroup.dir.join("cgroup.procs").into_os_string().into_encoded_bytes())?;
        // SAFETY: procs is NUL-terminated; open returns a new descriptor that only we own.
        let raw = unsafe { libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).context("opening cgroup.procs");
        }
        // SAFETY: raw was just returned by open and nothing else owns it.
        let procs = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(SocketProgram { procs, cgroup, _obj: obj })
    }

    /// The cgroup the command runs in.
    pub fn cgroup(&self) -> &Path {
        &self.cgroup.dir
    }

    /// Moves the calling process into the cgroup (`0` is the writer itself). A system call
    /// only: runs in the forked child right before its exec. The error is the errno.
    pub fn enter(&self) -> Result<(), i32> {
        // SAFETY: writes one byte of a static string to our live descriptor.
        if unsafe { libc::write(self.procs.as_raw_fd(), b"0".as_ptr().cast(), 1) } == 1 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescape_mount_points() {
        assert_eq!(super::unescape(r"/sys/fs/cgroup"), "/sys/fs/cgroup");
        assert_eq!(super::unescape(r"/a\040b\134c\9"), "/a b\\c\\9");
    }
}
