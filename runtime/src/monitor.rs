//! The visibility monitor: bpf/monitor.bpf.c's tracepoints (they load where LSM programs do not,
//! so observation works on every kernel we run on) record what watched targets do, and this
//! module turns the records into KubeArmor's telemetry JSON (`ContainerLog`, `HostLog`; its
//! getting-started/kubearmor-events.md field names), attributed to targets by the same key and
//! state files as alerts (`events`). `armorc summary` and `armorc discover` read that JSON.

use crate::agent::Throttle;
use crate::events::{self, Event, RingReader, TargetState};
use crate::objects;
use anyhow::{anyhow, bail, Context, Result};
use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray};
use aya::programs::TracePoint;
use aya::{Ebpf, EbpfLoader};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// What to observe (bpf/monitor.bpf.c VIS_* bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds(pub u32);

const KIND_NAMES: [(&str, u32); 4] = [("process", 1), ("file", 2), ("network", 4), ("capability", 8)];

impl Kinds {
    pub const NONE: Kinds = Kinds(0);
    /// What `--visibility` means when not given but on: KubeArmor's default visibility.
    pub const DEFAULT: Kinds = Kinds(1 | 2 | 4);

    /// `process,file,network,capability` (any subset), or `none`.
    pub fn parse(text: &str) -> Result<Kinds> {
        let mut bits = 0;
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word == "none" {
                continue;
            }
            match KIND_NAMES.iter().find(|(name, _)| *name == word) {
                Some((_, bit)) => bits |= bit,
                None => bail!("unknown visibility kind {word:?}: expected process, file, network, capability or none"),
            }
        }
        Ok(Kinds(bits))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn names(self) -> String {
        let names: Vec<&str> = KIND_NAMES.iter().filter(|(_, bit)| self.0 & bit != 0).map(|(n, _)| *n).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(",")
        }
    }
}

/// (kind bit, program, tracepoint category, tracepoint name). The exit program is one program
/// attached to the exit tracepoint of every system call whose enter tracepoint records it.
const TRACEPOINTS: [(u32, &str, &str, &str); 16] = [
    (1, "armor_mon_exec", "sched", "sched_process_exec"),
    (2, "armor_mon_openat", "syscalls", "sys_enter_openat"),
    (2, "armor_mon_exit", "syscalls", "sys_exit_openat"),
    (2, "armor_mon_openat2", "syscalls", "sys_enter_openat2"),
    (2, "armor_mon_exit", "syscalls", "sys_exit_openat2"),
    (2, "armor_mon_open", "syscalls", "sys_enter_open"),
    (2, "armor_mon_exit", "syscalls", "sys_exit_open"),
    (4, "armor_mon_connect", "syscalls", "sys_enter_connect"),
    (4, "armor_mon_exit", "syscalls", "sys_exit_connect"),
    (4, "armor_mon_bind", "syscalls", "sys_enter_bind"),
    (4, "armor_mon_exit", "syscalls", "sys_exit_bind"),
    (4, "armor_mon_accept", "syscalls", "sys_enter_accept"),
    (4, "armor_mon_exit", "syscalls", "sys_exit_accept"),
    (4, "armor_mon_accept4", "syscalls", "sys_enter_accept4"),
    (4, "armor_mon_exit", "syscalls", "sys_exit_accept4"),
    (8, "armor_mon_capable", "capability", "cap_capable"),
];

/// Tracepoints that only some kernels and architectures have (open(2) is not on aarch64,
/// cap_capable came with Linux 6.14): a missing one is reported, not an error.
fn optional(category: &str, name: &str) -> bool {
    matches!((category, name), ("syscalls", "sys_enter_open" | "sys_exit_open") | ("capability", "cap_capable"))
}

const TRACEFS: &str = "/sys/kernel/tracing";

fn tracepoint_exists(category: &str, name: &str) -> bool {
    Path::new(TRACEFS).join("events").join(category).join(name).exists()
}

/// The monitor's programs, attached while this value lives.
pub struct Monitor {
    obj: Ebpf,
    pub kinds: Kinds,
    /// Tracepoints this kernel lacks (optional ones only).
    pub missing: Vec<String>,
}

impl Monitor {
    /// Load and attach the tracepoints `kinds` needs; nothing is watched yet.
    pub fn start(kinds: Kinds, throttle: Throttle) -> Result<Monitor> {
        crate::ensure_mounted("tracefs", TRACEFS)?;
        let mut obj = EbpfLoader::new().load(objects::MONITOR).context("loading the monitor object")?;
        let mut missing = Vec::new();
        let mut loaded: Vec<&str> = Vec::new();
        for (bit, program, category, name) in TRACEPOINTS {
            if bit & kinds.0 == 0 {
                continue;
            }
            if !tracepoint_exists(category, name) {
                if optional(category, name) {
                    missing.push(format!("{category}/{name}"));
                    continue;
                }
                bail!("this kernel has no tracepoint {category}/{name} (under {TRACEFS}/events)");
            }
            let prog: &mut TracePoint = obj
                .program_mut(program)
                .ok_or_else(|| anyhow!("the monitor object has no program {program}"))?
                .try_into()?;
            if !loaded.contains(&program) {
                prog.load().with_context(|| format!("loading {program} (verifier)"))?;
                loaded.push(program);
            }
            prog.attach(category, name).with_context(|| format!("attaching {category}/{name}"))?;
        }
        let mut config: Array<&mut MapData, [u32; 2]> =
            Array::try_from(obj.map_mut("armor_log_config").ok_or_else(|| anyhow!("no armor_log_config"))?)?;
        config.set(0, [throttle.max_per_sec, throttle.throttle_sec], 0).context("writing armor_log_config")?;
        Ok(Monitor { obj, kinds, missing })
    }

    fn watch_map(&mut self) -> Result<BpfHashMap<&mut MapData, [u32; 2], u32>> {
        Ok(BpfHashMap::try_from(self.obj.map_mut("armor_watch").ok_or_else(|| anyhow!("no armor_watch"))?)?)
    }

    /// Observe the processes of target `key` ({pid ns, mnt ns}; the host is {0,0}).
    pub fn watch(&mut self, key: (u32, u32)) -> Result<()> {
        let kinds = self.kinds.0;
        self.watch_map()?.insert([key.0, key.1], kinds, 0).context("writing armor_watch")
    }

    pub fn unwatch(&mut self, key: (u32, u32)) -> Result<()> {
        match self.watch_map()?.remove(&[key.0, key.1]) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(e).context("removing from armor_watch"),
        }
    }

    /// The records' ring buffer (once).
    pub fn take_reader(&mut self) -> Result<RingReader> {
        RingReader::from_map(self.obj.take_map("armor_logs").ok_or_else(|| anyhow!("armor_logs taken already"))?)
    }

    /// Records lost so far: (ring buffer full, throttled), summed over CPUs.
    pub fn dropped(&self) -> Result<(u64, u64)> {
        let stats: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(self.obj.map("armor_log_stats").ok_or_else(|| anyhow!("no armor_log_stats"))?)?;
        let sum = |i: u32| -> Result<u64> { Ok(stats.get(&i, 0)?.iter().sum()) };
        Ok((sum(0)?, sum(1)?))
    }
}

/// Record layout (struct armor_log, bpf/monitor.bpf.c).
const PATH_AT: usize = 112;
const PATH_CAP: usize = 2 * 1024;
const SRC_AT: usize = PATH_AT + PATH_CAP;
const SRC_CAP: usize = 1024 + 256;
pub const LOG_SIZE: usize = SRC_AT + SRC_CAP;

const LOG_PROCESS: u32 = 1;
const LOG_FILE: u32 = 2;
const LOG_CONNECT: u32 = 3;
const LOG_ACCEPT: u32 = 4;
const LOG_BIND: u32 = 5;
const LOG_CAPABILITY: u32 = 6;
const LOG_THRESHOLD: u32 = 7;

/// One kernel record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawLog {
    pub boot_ns: u64,
    pub kind: u32,
    pub ret: i32,
    pub key: (u32, u32),
    pub host_pid: u32,
    pub host_ppid: u32,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub flags: u32,
    pub family: u32,
    pub sock_type: u32,
    pub protocol: u32,
    pub port: u32,
    pub syscall: u32,
    pub cap: u32,
    pub addr: [u8; 16],
    pub comm: String,
    /// Empty when the kernel could not resolve it.
    pub path: String,
    pub source: String,
}

impl RawLog {
    pub fn parse(b: &[u8]) -> Option<RawLog> {
        if b.len() < LOG_SIZE {
            return None;
        }
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let text = |at: usize, cap: usize, len: u32| {
            String::from_utf8_lossy(&b[at..at + (len as usize).min(cap)]).trim_end_matches('\0').to_string()
        };
        let comm = &b[96..112];
        let comm_len = comm.iter().position(|&c| c == 0).unwrap_or(16);
        Some(RawLog {
            boot_ns: u64::from_ne_bytes(b[0..8].try_into().expect("8 bytes")),
            kind: u32_at(8),
            ret: u32_at(12) as i32,
            key: (u32_at(16), u32_at(20)),
            host_pid: u32_at(24),
            host_ppid: u32_at(28),
            pid: u32_at(32),
            ppid: u32_at(36),
            uid: u32_at(40),
            flags: u32_at(44),
            family: u32_at(48),
            sock_type: u32_at(52),
            protocol: u32_at(56),
            port: u32_at(60),
            syscall: u32_at(72),
            cap: u32_at(76),
            addr: b[80..96].try_into().expect("16 bytes"),
            comm: String::from_utf8_lossy(&comm[..comm_len]).into_owned(),
            path: text(PATH_AT, PATH_CAP, u32_at(64)),
            source: text(SRC_AT, SRC_CAP, u32_at(68)),
        })
    }
}

fn syscall_name(sc: u32) -> &'static str {
    match sc {
        1 => "SYS_OPEN",
        2 => "SYS_OPENAT",
        3 => "SYS_OPENAT2",
        4 => "SYS_CONNECT",
        5 => "SYS_ACCEPT",
        6 => "SYS_ACCEPT4",
        7 => "SYS_BIND",
        _ => "UNKNOWN",
    }
}

/// open(2) flags as KubeArmor writes them: `O_RDONLY|O_CLOEXEC`.
pub fn open_flags(flags: u32) -> String {
    let flags = flags as libc::c_int;
    let mut names = vec![match flags & libc::O_ACCMODE {
        libc::O_WRONLY => "O_WRONLY",
        libc::O_RDWR => "O_RDWR",
        _ => "O_RDONLY",
    }];
    let bits = [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_PATH, "O_PATH"),
    ];
    for (bit, name) in bits {
        if flags & bit == bit {
            names.push(name);
        }
    }
    names.join("|")
}

fn protocol_name(sock_type: u32, protocol: u32) -> &'static str {
    match (protocol, sock_type) {
        (6, _) => "TCP",
        (17, _) => "UDP",
        (1, _) => "ICMP",
        (58, _) => "ICMPv6",
        (_, 1) => "TCP",
        (_, 2) => "UDP",
        _ => "RAW",
    }
}

fn family_name(family: u32) -> &'static str {
    match family {
        2 => "AF_INET",
        10 => "AF_INET6",
        _ => "AF_UNSPEC",
    }
}

fn address(family: u32, addr: &[u8; 16]) -> String {
    if family == 2 {
        Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string()
    } else {
        Ipv6Addr::from(*addr).to_string()
    }
}

const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// `path` without `.` and `..` components (the kernel names a failed open by the name it was
/// given, joined to its directory; a successful one is already canonical).
fn lexically_normal(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `Passed`, or the errno's text (`No such file or directory`), as KubeArmor's Result.
fn result_text(ret: i32) -> String {
    if ret >= 0 {
        return "Passed".into();
    }
    let text = std::io::Error::from_raw_os_error(-ret).to_string();
    text.split(" (os error").next().unwrap_or_default().to_string()
}

/// Turns records into telemetry JSON, with target state and parent names cached.
pub struct LogDecoder {
    state_dir: PathBuf,
    /// Read at most once a second per key: namespace inodes are reused by later containers,
    /// whose agent rewrites the state.
    states: HashMap<(u32, u32), (std::time::Instant, Option<TargetState>)>,
    parents: HashMap<u32, String>,
    host_name: String,
    pub cluster_name: String,
    /// Records whose path the kernel could not resolve (too deep or too long): not reported.
    pub unresolved: u64,
}

impl LogDecoder {
    pub fn new(state_dir: &Path) -> LogDecoder {
        LogDecoder {
            state_dir: state_dir.to_path_buf(),
            states: HashMap::new(),
            parents: HashMap::new(),
            host_name: events::host_name(),
            cluster_name: "default".into(),
            unresolved: 0,
        }
    }

    fn parent_name(&mut self, host_ppid: u32) -> String {
        if self.parents.len() > 4096 {
            self.parents.clear(); // pids are reused: keep the cache short-lived
        }
        self.parents
            .entry(host_ppid)
            .or_insert_with(|| {
                std::fs::read_link(format!("/proc/{host_ppid}/exe"))
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .clone()
    }

    /// The event of a record, or `None` for one without a resolved path.
    pub fn event(&mut self, raw: &RawLog) -> Option<Event> {
        let fresh = |(read, _): &(std::time::Instant, _)| read.elapsed() < std::time::Duration::from_secs(1);
        let st = match self.states.get(&raw.key).filter(|e| fresh(e)) {
            Some((_, st)) => st.clone(),
            None => {
                let st = events::read_state(&self.state_dir, raw.key);
                self.states.insert(raw.key, (std::time::Instant::now(), st.clone()));
                st
            }
        };
        let st = st.unwrap_or_default();
        let host = st.host || raw.key == (0, 0);
        let (secs, nanos) = events::wall_time(raw.boot_ns);
        let mut ev = Event {
            timestamp: secs,
            updated_time: events::rfc3339(secs, nanos),
            cluster_name: self.cluster_name.clone(),
            host_name: self.host_name.clone(),
            namespace_name: st.namespace.clone(),
            pod_name: st.pod.clone(),
            container_name: st.container.clone(),
            labels: st.labels.clone(),
            kind: if host { "HostLog" } else { "ContainerLog" }.into(),
            ..Event::default()
        };
        if raw.kind == LOG_THRESHOLD {
            ev.kind = "SystemEvent".into();
            ev.operation = "AlertThreshold".into();
            ev.message = format!(
                "visibility threshold reached ({} events/s): events of this target are dropped for {} s",
                raw.cap, raw.flags
            );
            ev.data = format!("MaxEventPerSec={} ThrottleSec={}", raw.cap, raw.flags);
            return Some(ev);
        }
        ev.host_pid = raw.host_pid;
        ev.host_ppid = raw.host_ppid;
        ev.pid = raw.pid;
        ev.ppid = raw.ppid;
        ev.uid = raw.uid;
        ev.result = result_text(raw.ret);
        let exe = if raw.source.is_empty() { raw.comm.clone() } else { raw.source.clone() };
        match raw.kind {
            LOG_PROCESS => {
                if raw.path.is_empty() {
                    self.unresolved += 1;
                    return None;
                }
                ev.operation = "Process".into();
                ev.process_name = raw.path.clone();
                ev.parent_process_name = exe.clone();
                ev.source = exe;
                ev.resource = raw.path.clone();
                ev.data = "syscall=SYS_EXECVE".into();
            }
            LOG_FILE => {
                if raw.path.is_empty() {
                    self.unresolved += 1;
                    return None;
                }
                ev.operation = "File".into();
                ev.parent_process_name = self.parent_name(raw.host_ppid);
                ev.process_name = exe.clone();
                ev.source = exe;
                ev.resource = if raw.ret < 0 { lexically_normal(&raw.path) } else { raw.path.clone() };
                ev.data = format!("syscall={} flags={}", syscall_name(raw.syscall), open_flags(raw.flags));
            }
            LOG_CONNECT | LOG_ACCEPT | LOG_BIND => {
                ev.operation = "Network".into();
                ev.parent_process_name = self.parent_name(raw.host_ppid);
                ev.process_name = exe.clone();
                ev.source = exe;
                let protocol = protocol_name(raw.sock_type, raw.protocol);
                let ip = address(raw.family, &raw.addr);
                ev.resource = if raw.kind == LOG_BIND {
                    format!(
                        "sa_family={} sin_port={} sin_addr={ip} protocol={protocol}",
                        family_name(raw.family),
                        raw.port
                    )
                } else {
                    format!("remoteip={ip} port={} protocol={protocol}", raw.port)
                };
                ev.data = format!("syscall={} domain={}", syscall_name(raw.syscall), family_name(raw.family));
            }
            LOG_CAPABILITY => {
                ev.operation = "Capabilities".into();
                ev.parent_process_name = self.parent_name(raw.host_ppid);
                ev.process_name = exe.clone();
                ev.source = exe;
                ev.resource =
                    CAPABILITIES.get(raw.cap as usize).map_or_else(|| format!("cap={}", raw.cap), |c| c.to_string());
                ev.data = format!("lsm=SECURITY_CAPABLE cap={}", raw.cap);
            }
            _ => return None,
        }
        Some(ev)
    }
}

/// Where a recorder writes its JSON lines.
pub enum Output {
    Stdout,
    Stderr,
    /// Written to a temporary sibling and renamed into place when the recording ends.
    File(PathBuf),
    /// Appended to as events come (the node agent's stream).
    Append(PathBuf),
}

/// A thread writing the monitor's records as JSON lines until `finish`.
pub struct Recorder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Result<Recorded>>,
    output: Output,
}

/// What a recording wrote.
#[derive(Clone, Copy, Debug, Default)]
pub struct Recorded {
    pub events: u64,
    pub unresolved: u64,
}

fn temp_of(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

impl Recorder {
    pub fn start(mut reader: RingReader, mut decoder: LogDecoder, output: Output) -> Result<Recorder> {
        use std::io::Write;
        let mut out: Box<dyn Write + Send> = match &output {
            Output::Stdout => Box::new(std::io::stdout()),
            Output::Stderr => Box::new(std::io::stderr()),
            Output::File(path) => {
                let tmp = temp_of(path);
                Box::new(std::io::BufWriter::new(
                    std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
                ))
            }
            Output::Append(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?,
            ),
        };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || -> Result<Recorded> {
            let mut recorded = Recorded::default();
            loop {
                // read the flag before draining: records of a finished command are all in the
                // ring by the time it is set, so this last drain gets them
                let last = stopped.load(std::sync::atomic::Ordering::Acquire);
                let mut failed = None;
                reader.drain(|bytes| {
                    let Some(ev) = RawLog::parse(bytes).and_then(|raw| decoder.event(&raw)) else { return };
                    let line = serde_json::to_string(&ev).expect("events serialize");
                    if let Err(e) = writeln!(out, "{line}") {
                        failed.get_or_insert(e);
                    }
                    recorded.events += 1;
                });
                if let Some(e) = failed {
                    return Err(e).context("writing events");
                }
                if last {
                    break;
                }
                reader.wait(100);
            }
            out.flush().context("writing events")?;
            recorded.unresolved = decoder.unresolved;
            Ok(recorded)
        });
        Ok(Recorder { stop, handle, output })
    }

    /// Stop after the records in the ring now; the events file is renamed into place.
    pub fn finish(self) -> Result<Recorded> {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        let result = self.handle.join().map_err(|_| anyhow!("the event recorder panicked")).and_then(|r| r);
        if let Output::File(path) = &self.output {
            let tmp = temp_of(path);
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp); // no partial output
            } else {
                std::fs::rename(&tmp, path)
                    .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_name() {
        assert_eq!(Kinds::parse("process,file,network").unwrap(), Kinds::DEFAULT);
        assert_eq!(Kinds::parse("none").unwrap(), Kinds::NONE);
        assert_eq!(Kinds::parse("capability, file").unwrap().names(), "file,capability");
        assert!(Kinds::parse("files").is_err());
    }

    #[test]
    fn open_flags_read_like_kubearmor() {
        assert_eq!(open_flags(libc::O_RDONLY as u32), "O_RDONLY");
        assert_eq!(
            open_flags((libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC) as u32),
            "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"
        );
    }

    #[test]
    fn results_and_addresses() {
        assert_eq!(result_text(3), "Passed");
        assert_eq!(result_text(-2), "No such file or directory");
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(address(2, &a), "127.0.0.1");
        assert_eq!(protocol_name(1, 0), "TCP");
        assert_eq!(protocol_name(2, 17), "UDP");
    }

    #[test]
    fn failed_open_names_are_made_canonical() {
        assert_eq!(lexically_normal("/etc/../tmp/./x"), "/tmp/x");
        assert_eq!(lexically_normal("/../.."), "/");
        assert_eq!(lexically_normal("/a//b/"), "/a/b");
    }

    #[test]
    fn short_records_are_ignored() {
        assert!(RawLog::parse(&[0u8; 200]).is_none());
    }
}
