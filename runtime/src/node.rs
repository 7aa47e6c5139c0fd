//! `armor-loader run`: the node agent. It follows containerd's tasks, finds each container's
//! compiled target in a bundle (OUT/index.json) by its Kubernetes identity, and enforces it with
//! the chosen enforcer; it follows the bundle too (a new compile replaces OUT with one rename) and
//! re-applies every container's target then. What it did is kept in `STATE/agent.json`, which
//! `armor-loader status` prints and a restarted agent adopts.
//!
//! Identity: the CRI plugin labels every container with its pod's namespace, name and uid and its
//! own name (`io.kubernetes.*`); the pod's labels are on the pod's sandbox container (found by the
//! pod uid), or, for a container without one, the container's other labels. A target matches when
//! its namespace and container name are the container's and its labels (the pod template's,
//! recorded by `armorc compile`) are a subset of the pod's.

use crate::bundle::{Bundle, TargetEntry};
use crate::containerd::{Change, Containerd};
use crate::enforcer::Enforcer;
use crate::events::{self, RuleMeta, TargetState};
use crate::kernel::{Targets, HOST};
use crate::monitor::{Kinds, LogDecoder, Monitor, Output, Recorder};
use crate::{apparmor, read_image};
use anyhow::{bail, Context, Result};
use armorc_compiler::image::MapImage;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const LABEL_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_POD: &str = "io.kubernetes.pod.name";
pub const LABEL_CONTAINER: &str = "io.kubernetes.container.name";
/// Label prefixes of the runtime's own, never a pod label.
const RUNTIME_LABELS: [&str; 2] = ["io.kubernetes.", "io.cri-containerd."];

/// How often the running tasks are listed again (a safety net for missed events).
const RESYNC: std::time::Duration = std::time::Duration::from_secs(10);

/// The agent's record, `STATE/agent.json`.
pub const STATUS_FILE: &str = "agent.json";

/// A container's Kubernetes identity, read from its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub pod_labels: BTreeMap<String, String>,
}

impl Identity {
    /// `None` for a container the kubelet did not start (no CRI labels). The pod's labels are its
    /// sandbox's when there is one (the CRI plugin), else the container's own other labels.
    pub fn from_labels(
        labels: &BTreeMap<String, String>,
        sandbox: Option<&BTreeMap<String, String>>,
    ) -> Option<Identity> {
        Some(Identity {
            namespace: labels.get(LABEL_NAMESPACE)?.clone(),
            pod: labels.get(LABEL_POD).cloned().unwrap_or_default(),
            container: labels.get(LABEL_CONTAINER)?.clone(),
            pod_labels: sandbox
                .unwrap_or(labels)
                .iter()
                .filter(|(k, _)| !RUNTIME_LABELS.iter().any(|p| k.starts_with(p)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

/// The container targets of `bundle` that `who` matches (more than one: the workloads overlap).
pub fn matching_targets<'b>(bundle: &'b Bundle, who: &Identity) -> Vec<&'b TargetEntry> {
    bundle
        .targets()
        .iter()
        .filter(|t| {
            !t.host
                && t.namespace.as_deref() == Some(who.namespace.as_str())
                && t.container.as_deref() == Some(who.container.as_str())
                && t.labels.as_ref().is_some_and(|l| l.iter().all(|(k, v)| who.pod_labels.get(k) == Some(v)))
        })
        .collect()
}

/// What the agent did for one container (or the host), as `status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// containerd's container id; `host` for the host target.
    pub id: String,
    pub pid: u32,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The bundle target applied (`NS/WORKLOAD/CONTAINER` or `host`); `None`: unmanaged.
    pub target: Option<String>,
    /// Map-image entries (bpf).
    pub entries: Option<usize>,
    /// The BPF key `(pid_ns, mnt_ns)`.
    pub key: Option<(u32, u32)>,
    /// When it was applied (RFC 3339), and how it relates to the container's first exec.
    pub applied: Option<String>,
    pub when: Option<String>,
    /// Why the container is not (fully) enforced.
    pub problem: Option<String>,
    /// AppArmor: the profile is attached when runc execs the command; checked at the start.
    #[serde(default)]
    pub check_at_start: bool,
    /// The key the visibility monitor watches for this container (`--visibility`).
    #[serde(default)]
    pub watched: Option<(u32, u32)>,
}

/// `STATE/agent.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AgentStatus {
    pub version: u32,
    pub agent_pid: u32,
    pub bundle: PathBuf,
    /// The bundle directory's inode: a new compile output is a new directory.
    pub bundle_inode: u64,
    pub enforcer: String,
    pub updated: String,
    pub containers: Vec<ContainerStatus>,
}

pub fn read_status(state_dir: &Path) -> Result<AgentStatus> {
    let path = state_dir.join(STATUS_FILE);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("{}: no agent state (is `armor-loader run` running?)", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not an agent state file", path.display()))
}

fn now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    events::rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// The namespaces key of a process, as our BPF programs compute it for its tasks.
pub fn ns_key(pid: u32) -> Result<(u32, u32)> {
    let inode = |ns: &str| -> Result<u32> {
        let path = format!("/proc/{pid}/ns/{ns}");
        let ino = std::fs::metadata(&path).with_context(|| format!("reading {path}"))?.ino();
        Ok(ino as u32)
    };
    Ok((inode("pid")?, inode("mnt")?))
}

/// runc's init process waits, under this name, for the start that execs the container's command.
fn waiting_for_start(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("runc:[2:INIT]"))
}

pub struct Options {
    pub bundle: PathBuf,
    pub enforcer: Enforcer,
    pub pin_dir: PathBuf,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    pub namespace: String,
    pub node_labels: Option<BTreeMap<String, String>>,
    /// What the visibility monitor records of every container with a Kubernetes identity,
    /// managed or not (none: the monitor is not loaded).
    pub visibility: Kinds,
    pub visibility_throttle: crate::agent::Throttle,
    /// Where telemetry goes.
    pub events: Output,
}

struct Agent {
    opts: Options,
    bundle: Bundle,
    bundle_inode: u64,
    targets: Option<Targets>,
    containers: BTreeMap<String, ContainerStatus>,
    identities: HashMap<String, Identity>,
    monitor: Option<Monitor>,
    recorder: Option<Recorder>,
    /// bpf images held back while a batch is collected (agent start, bundle replacement) and
    /// applied together by `apply_batch`: each swap waits for an RCU grace period (about 13 ms),
    /// and concurrent swaps wait for theirs together.
    batch: Option<Vec<Queued>>,
}

/// A container's image waiting in the batch.
struct Queued {
    id: String,
    key: (u32, u32),
    image: MapImage,
}

/// Said after a container's image is swapped in: still waiting then, nothing of it ran unenforced.
fn applied_when(pid: u32) -> &'static str {
    if waiting_for_start(pid) {
        "before the first exec"
    } else {
        "after the start"
    }
}

fn inode_of(dir: &Path) -> Result<u64> {
    Ok(std::fs::metadata(dir).with_context(|| format!("{}", dir.display()))?.ino())
}

impl Agent {
    fn open(mut opts: Options) -> Result<Agent> {
        let bundle = Bundle::open(&opts.bundle)?;
        let bundle_inode = inode_of(&opts.bundle)?;
        let targets = match opts.enforcer {
            Enforcer::Bpf => {
                if !crate::agent::is_up(&opts.pin_dir) {
                    bail!(
                        "the BPF-LSM programs are not attached under {}: run `armor-loader up` first",
                        opts.pin_dir.display()
                    );
                }
                Some(Targets::pinned(Some(&opts.pin_dir))?)
            }
            _ => None,
        };
        let (mut monitor, mut recorder) = (None, None);
        if !opts.visibility.is_empty() {
            let mut m = Monitor::start(opts.visibility, opts.visibility_throttle)?;
            for missing in &m.missing {
                println!("run: visibility: this kernel has no tracepoint {missing}: not observed");
            }
            let output = std::mem::replace(&mut opts.events, Output::Stdout);
            recorder = Some(Recorder::start(m.take_reader()?, LogDecoder::new(&opts.state_dir), output)?);
            monitor = Some(m);
        }
        let agent = Agent {
            opts,
            bundle,
            bundle_inode,
            targets,
            containers: BTreeMap::new(),
            identities: HashMap::new(),
            monitor,
            recorder,
            batch: None,
        };
        agent.load_profiles()?;
        Ok(agent)
    }

    /// AppArmor: every profile of the bundle is loaded (replaced atomically by the kernel), so
    /// that containers the runtime starts under them find them.
    fn load_profiles(&self) -> Result<()> {
        if self.opts.enforcer != Enforcer::Apparmor {
            return Ok(());
        }
        for t in self.bundle.targets() {
            if let Some(rel) = &t.apparmor {
                apparmor::load_profile(&self.bundle.dir.join(rel))?;
            }
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let status = AgentStatus {
            version: 1,
            agent_pid: std::process::id(),
            bundle: self.opts.bundle.clone(),
            bundle_inode: self.bundle_inode,
            enforcer: self.opts.enforcer.name().to_string(),
            updated: now(),
            containers: self.containers.values().cloned().collect(),
        };
        let path = self.opts.state_dir.join(STATUS_FILE);
        std::fs::create_dir_all(&self.opts.state_dir)
            .with_context(|| format!("creating {}", self.opts.state_dir.display()))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&status)?).with_context(|| format!("{}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("{}", path.display()))?;
        Ok(())
    }

    /// A container seen running or created: its target found and enforced, or why not.
    fn manage(&mut self, id: &str, pid: u32, who: Option<Identity>) -> ContainerStatus {
        let mut st = ContainerStatus { id: id.to_string(), pid, ..Default::default() };
        let Some(who) = who else {
            st.problem = Some("no Kubernetes identity (no io.kubernetes.* labels)".into());
            return st;
        };
        st.namespace = who.namespace.clone();
        st.pod = who.pod.clone();
        st.container = who.container.clone();
        let found = matching_targets(&self.bundle, &who);
        let Some(target) = found.first().map(|t| (*t).clone()) else {
            st.problem = Some(format!(
                "no target in {} for {}/{} (container {}, pod labels {:?})",
                self.opts.bundle.display(),
                who.namespace,
                who.pod,
                who.container,
                who.pod_labels
            ));
            self.observe(&who, &mut st);
            self.identities.insert(id.to_string(), who);
            return st;
        };
        if found.len() > 1 {
            let names: Vec<String> = found.iter().map(|t| t.name()).collect();
            st.problem = Some(format!("several targets match ({}); the first applies", names.join(", ")));
        }
        st.target = Some(target.name());
        if let Err(e) = self.enforce(&target, &who, &mut st) {
            st.problem = Some(format!("{e:#}"));
        }
        self.observe(&who, &mut st);
        self.identities.insert(id.to_string(), who);
        st
    }

    /// Visibility: the container's key watched, its identity recorded for its events (bpf wrote
    /// it already with the rules when it applied the image).
    fn observe(&mut self, who: &Identity, st: &mut ContainerStatus) {
        let Some(monitor) = self.monitor.as_mut() else { return };
        let watched = ns_key(st.pid).and_then(|key| {
            if st.key != Some(key) {
                let state = TargetState {
                    target: st.target.clone().unwrap_or_default(),
                    namespace: who.namespace.clone(),
                    pod: who.pod.clone(),
                    container: who.container.clone(),
                    labels: events::labels_text(&who.pod_labels),
                    enforcer: self.opts.enforcer.name().into(),
                    ..TargetState::default()
                };
                events::write_state(&self.opts.state_dir, key, &state)?;
            }
            monitor.watch(key)?;
            Ok(key)
        });
        match watched {
            Ok(key) => st.watched = Some(key),
            Err(e) => {
                let problem = format!("not observed: {e:#}");
                st.problem = Some(st.problem.take().map_or(problem.clone(), |p| format!("{p}; {problem}")));
            }
        }
    }

    fn enforce(&mut self, target: &TargetEntry, who: &Identity, st: &mut ContainerStatus) -> Result<()> {
        match self.opts.enforcer {
            Enforcer::Bpf => {
                let key = ns_key(st.pid)?;
                let state = TargetState {
                    namespace: who.namespace.clone(),
                    pod: who.pod.clone(),
                    container: who.container.clone(),
                    labels: events::labels_text(&who.pod_labels),
                    ..TargetState::for_target(target)
                };
                st.entries = Some(self.apply_image(&st.id, target, key, state)?);
                st.key = Some(key);
                if self.is_queued(&st.id) {
                    st.when = Some("queued".into());
                } else {
                    st.applied = Some(now());
                    st.when = Some(applied_when(st.pid).into());
                }
            }
            Enforcer::Apparmor => {
                let name = target.apparmor_profile.as_deref().context("the target names no AppArmor profile")?;
                if waiting_for_start(st.pid) {
                    // runc writes the profile to attr/exec just before it execs the command
                    st.when = Some(format!("profile {name} expected at the start"));
                    st.check_at_start = true;
                    return Ok(());
                }
                let current = std::fs::read_to_string(format!("/proc/{}/attr/current", st.pid))
                    .with_context(|| format!("reading /proc/{}/attr/current", st.pid))?;
                let current = current.trim_end_matches('\0').trim();
                let attached = current.split(" (").next().unwrap_or_default();
                st.applied = Some(now());
                if attached == name {
                    st.when = Some(format!("profile {name} attached by the runtime ({current})"));
                } else {
                    bail!(
                        "runs under {current:?}, not {name}: start it with that profile (CRI: the pod's \
                         container.apparmor.security.beta.kubernetes.io annotation; ctr: --apparmor-profile)"
                    );
                }
            }
            Enforcer::None => st.when = Some("not enforced (enforcer none)".into()),
            Enforcer::Landlock => bail!(
                "{}: a running container cannot be restricted from outside (Landlock restricts a process \
                 itself: the container's command must start through `armor-loader exec --lsm landlock`)",
                self.opts.enforcer
            ),
        }
        Ok(())
    }

    /// A container to manage now: enforced, reported and recorded.
    fn start(&mut self, id: &str, pid: u32, who: Option<Identity>) {
        let st = self.manage(id, pid, who);
        if !self.is_queued(id) {
            self.report(&st);
        }
        self.containers.insert(id.to_string(), st);
    }

    fn is_queued(&self, id: &str) -> bool {
        self.batch.as_ref().is_some_and(|b| b.iter().any(|q| q.id == id))
    }

    /// The images queued since `batch` was set, applied from several threads; each container's
    /// status then says when (or why not).
    fn apply_batch(&mut self) {
        let Some(queued) = self.batch.take() else { return };
        let Some(targets) = self.targets.as_mut() else { return };
        let items: Vec<((u32, u32), &MapImage)> = queued.iter().map(|q| (q.key, &q.image)).collect();
        let results: Vec<Result<()>> = match targets.apply_many(&items) {
            Ok(()) => queued.iter().map(|_| Ok(())).collect(),
            // which one failed is not known: each again on its own, so an error names its container
            Err(_) => queued.iter().map(|q| targets.apply(q.key, &q.image)).collect(),
        };
        for (q, result) in queued.iter().zip(results) {
            let Some(st) = self.containers.get_mut(&q.id) else { continue };
            match result {
                Ok(()) => {
                    st.applied = Some(now());
                    st.when = Some(applied_when(st.pid).into());
                }
                Err(e) => {
                    (st.key, st.entries, st.when) = (None, None, None);
                    st.problem = Some(format!("{e:#}"));
                }
            }
            let st = st.clone();
            self.report(&st);
        }
    }

    /// bpf: `target`'s map image applied at `key`, recorded first for alerts (`state` gets the
    /// enforcer and the image's rules); returns its entry count.
    /// queued instead while a batch is collected.
    fn apply_image(
        &mut self,
        id: &str,
        target: &TargetEntry,
        key: (u32, u32),
        mut state: TargetState,
    ) -> Result<usize> {
        let rel = target.bpf.as_ref().context("the target has no map image (compile with --target bpf or all)")?;
        let image = read_image(&self.bundle.dir.join(rel))?;
        state.enforcer = "bpf".into();
        state.rules = RuleMeta::of_image(&image);
        events::write_state(&self.opts.state_dir, key, &state)?;
        let entries = image.entries.len();
        match self.batch.as_mut() {
            Some(batch) => batch.push(Queued { id: id.to_string(), key, image }),
            None => self.targets.as_mut().expect("bpf has the targets map").apply(key, &image)?,
        }
        Ok(entries)
    }

    fn forget(&mut self, id: &str) {
        self.identities.remove(id);
        let Some(st) = self.containers.remove(id) else { return };
        if let (Some(key), Some(monitor)) = (st.watched, self.monitor.as_mut()) {
            if let Err(e) = monitor.unwatch(key) {
                eprintln!("armor-loader run: {id}: no longer observing it: {e:#}");
            }
            events::remove_state(&self.opts.state_dir, key);
        }
        if let (Some(key), Some(targets)) = (st.key, self.targets.as_mut()) {
            if let Err(e) = targets.remove(key) {
                eprintln!("armor-loader run: {id}: removing its rule map: {e:#}");
            }
            events::remove_state(&self.opts.state_dir, key);
        }
        println!("run: {id}: stopped, its state removed");
    }

    fn report(&self, st: &ContainerStatus) {
        match (&st.target, &st.problem) {
            (Some(t), None) => println!(
                "run: {} ({}/{}/{}): {t} applied with {}, {}{}",
                st.id,
                st.namespace,
                st.pod,
                st.container,
                self.opts.enforcer,
                st.when.as_deref().unwrap_or("-"),
                st.entries.map(|n| format!(", {n} entries")).unwrap_or_default()
            ),
            (_, Some(p)) => println!("run: {}: {p}", st.id),
            (None, None) => {}
        }
    }

    /// The host target, when the bundle has one and `--node-labels` include its labels.
    fn manage_host(&mut self) {
        let Some(node) = &self.opts.node_labels else { return };
        let Some(host) = self.bundle.targets().iter().find(|t| t.host).cloned() else {
            println!("run: host: the bundle has no host target");
            return;
        };
        let wanted = host.labels.clone().unwrap_or_default();
        if !wanted.iter().all(|(k, v)| node.get(k) == Some(v)) {
            println!("run: host: the bundle's host target is for node labels {wanted:?}: not applied");
            return;
        }
        let mut st = ContainerStatus { id: "host".into(), target: Some("host".into()), ..Default::default() };
        let applied = match self.opts.enforcer {
            Enforcer::Bpf => {
                let state = TargetState { target: "host".into(), host: true, ..Default::default() };
                self.apply_image("host", &host, HOST, state)
            }
            e => Err(anyhow::anyhow!("{e}: the host target is enforced by bpf only in `run`")),
        };
        match applied {
            Ok(n) => {
                st.key = Some(HOST);
                st.entries = Some(n);
                st.applied = Some(now());
                st.when = Some("at agent start".into());
            }
            Err(e) => st.problem = Some(format!("{e:#}")),
        }
        self.report(&st);
        self.containers.insert(st.id.clone(), st);
    }

    /// A new compile output replaced OUT: every container's target is looked up again and
    /// applied (each swap is atomic: the old rule map holds until the new one is in).
    fn reload(&mut self) -> Result<()> {
        let inode = inode_of(&self.opts.bundle)?;
        if inode == self.bundle_inode {
            return Ok(());
        }
        self.bundle = Bundle::open(&self.opts.bundle)?;
        self.bundle_inode = inode;
        self.load_profiles()?;
        let running: Vec<(String, u32)> =
            self.containers.values().filter(|c| c.id != "host").map(|c| (c.id.clone(), c.pid)).collect();
        self.batch = Some(Vec::new());
        for (id, pid) in &running {
            let who = self.identities.get(id).cloned();
            self.start(id, *pid, who);
        }
        self.apply_batch();
        self.manage_host();
        println!("run: bundle replaced: {} container(s) looked up again", running.len());
        self.save()
    }
}

/// Watches OUT's parent directory; sends when an entry named like OUT appears or moves (our
/// compile swaps OUT in with one rename). The inode check in `reload` drops other changes.
fn watch_bundle(bundle: &Path, tx: tokio::sync::mpsc::UnboundedSender<()>) -> Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let parent = bundle.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = bundle.file_name().context("--bundle has no directory name")?.to_owned();
    // SAFETY: plain syscall with flags only; the descriptor is owned below.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        bail!("inotify_init1: {}", std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by inotify_init1 and nothing else owns it.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let dir = CString::new(parent.as_os_str().as_bytes())?;
    let mask = libc::IN_MOVED_TO | libc::IN_CREATE | libc::IN_MOVED_FROM | libc::IN_DELETE;
    // SAFETY: fd is an inotify descriptor and dir a NUL-terminated path.
    if unsafe { libc::inotify_add_watch(std::os::fd::AsRawFd::as_raw_fd(&fd), dir.as_ptr(), mask) } < 0 {
        bail!("watching {}: {}", parent.display(), std::io::Error::last_os_error());
    }
    std::thread::spawn(move || {
        let mut file = std::fs::File::from(fd);
        let mut buf = [0u8; 4096];
        loop {
            let n = match std::io::Read::read(&mut file, &mut buf) {
                Ok(n) if n > 0 => n,
                _ => return,
            };
            let mut at = 0;
            let mut ours = false;
            // struct inotify_event: wd i32, mask u32, cookie u32, len u32, name[len]
            while at + 16 <= n {
                let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().expect("4 bytes")) as usize;
                let raw = &buf[at + 16..(at + 16 + len).min(n)];
                let entry = raw.split(|&b| b == 0).next().unwrap_or_default();
                ours |= entry == name.as_bytes();
                at += 16 + len;
            }
            if ours && tx.send(()).is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// A container's identity from containerd (its labels and its pod sandbox's); the outer `None`
/// for a pod sandbox itself, which runs no workload code (the pause process) and is not listed.
async fn identify(containerd: &Containerd, id: &str) -> Option<Option<Identity>> {
    let labels = containerd.labels(id).await.unwrap_or_default();
    if is_sandbox(&labels) {
        return None;
    }
    let sandbox = match labels.get(crate::containerd::POD_UID) {
        Some(uid) => containerd.sandbox_labels(uid).await.ok().flatten(),
        None => None,
    };
    Some(Identity::from_labels(&labels, sandbox.as_ref()))
}

fn is_sandbox(labels: &BTreeMap<String, String>) -> bool {
    labels.get(crate::containerd::KIND).map(String::as_str) == Some(crate::containerd::KIND_SANDBOX)
}

/// `identify` for many containers at once (agent start, resync): every container's labels listed
/// in one call, the sandboxes found among them by pod uid.
struct Listing {
    labels: HashMap<String, BTreeMap<String, String>>,
    /// pod uid -> its sandbox's container id
    sandboxes: HashMap<String, String>,
}

impl Listing {
    async fn new(containerd: &Containerd) -> Result<Listing> {
        let labels = containerd.all_labels().await?;
        let sandboxes = labels
            .iter()
            .filter(|(_, l)| is_sandbox(l))
            .filter_map(|(id, l)| Some((l.get(crate::containerd::POD_UID)?.clone(), id.clone())))
            .collect();
        Ok(Listing { labels, sandboxes })
    }

    /// As `identify`: `None` for a sandbox, no identity without CRI labels. A container created
    /// after the listing is asked for on its own.
    async fn identify(&self, containerd: &Containerd, id: &str) -> Option<Option<Identity>> {
        let Some(labels) = self.labels.get(id) else { return identify(containerd, id).await };
        if is_sandbox(labels) {
            return None;
        }
        let sandbox = labels
            .get(crate::containerd::POD_UID)
            .and_then(|uid| self.sandboxes.get(uid))
            .and_then(|sid| self.labels.get(sid));
        Some(Identity::from_labels(labels, sandbox))
    }
}

/// `armor-loader run`: until SIGINT/SIGTERM or containerd closes the event stream. Enforcement
/// stays when the agent stops (pinned maps); a restarted agent adopts what it finds.
pub fn run(opts: Options) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the event loop")?;
    rt.block_on(run_async(opts))
}

async fn run_async(opts: Options) -> Result<()> {
    let previous = read_status(&opts.state_dir).ok();
    let socket = opts.socket.clone();
    let namespace = opts.namespace.clone();
    let bundle_dir = opts.bundle.clone();
    let mut agent = Agent::open(opts)?;
    let containerd = Containerd::connect(&socket, &namespace).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // Events are read by their own task: containerd answers the subscription only with the first
    // event. A missed event (between the subscription and the listing below, or a dropped
    // stream) is caught by the resync, which lists the running tasks again.
    let (changes_tx, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let subscriber = containerd.clone();
    tokio::spawn(async move {
        let result = async {
            let mut events = subscriber.subscribe().await?;
            while let Some(change) = events.next().await? {
                if changes_tx.send(Ok(change)).is_err() {
                    break;
                }
            }
            anyhow::Ok(())
        }
        .await;
        let _ =
            changes_tx.send(Err(result.err().unwrap_or_else(|| anyhow::anyhow!("containerd closed the event stream"))));
    });
    let (tx, mut bundle_changed) = tokio::sync::mpsc::unbounded_channel();
    watch_bundle(&bundle_dir, tx)?;
    println!(
        "run: {} enforcing {} ({} target(s)) on containerd {} namespace {}",
        agent.opts.enforcer,
        bundle_dir.display(),
        agent.bundle.targets().len(),
        socket.display(),
        namespace
    );
    agent.manage_host();

    // Containers already running: adopted when the previous agent applied this same bundle to the
    // same process and its rule map is still in the kernel; applied otherwise.
    let pinned: Vec<(u32, u32)> = agent.targets.as_ref().map(|t| t.keys()).transpose()?.unwrap_or_default();
    let (mut adopted, mut applied) = (Vec::new(), Vec::new());
    agent.batch = Some(Vec::new());
    let running = containerd.running().await?;
    let listing = Listing::new(&containerd).await?;
    for (id, pid) in running {
        let kept = previous.as_ref().and_then(|p| {
            (p.bundle_inode == agent.bundle_inode && p.enforcer == agent.opts.enforcer.name())
                .then(|| p.containers.iter().find(|c| c.id == id && c.pid == pid && c.problem.is_none()))
                .flatten()
                .filter(|c| c.key.is_none_or(|k| pinned.contains(&k) && ns_key(pid).is_ok_and(|now| now == k)))
        });
        let Some(who) = listing.identify(&containerd, &id).await else { continue };
        match kept {
            Some(c) => {
                adopted.push(id.clone());
                let mut c = c.clone();
                c.watched = None; // the previous agent's monitor went with it
                if let Some(who) = who {
                    agent.observe(&who, &mut c);
                    agent.identities.insert(id.clone(), who);
                }
                agent.containers.insert(id, c);
            }
            None => {
                applied.push(id.clone());
                agent.start(&id, pid, who);
            }
        }
    }
    agent.apply_batch();
    println!(
        "run: {} running container(s) adopted from the previous agent [{}], {} looked up",
        adopted.len(),
        adopted.join(" "),
        applied.len()
    );
    agent.save()?;

    let mut resync = tokio::time::interval(RESYNC);
    resync.tick().await;
    loop {
        tokio::select! {
            change = changes.recv() => {
                match change.context("the event reader stopped")?? {
                    Change::Created { id, pid } | Change::Started { id, pid } => {
                        if agent.containers.get(&id).is_some_and(|c| c.pid == pid && !c.check_at_start) {
                            continue;
                        }
                        let Some(who) = identify(&containerd, &id).await else { continue };
                        agent.start(&id, pid, who);
                    }
                    Change::Stopped { id } => agent.forget(&id),
                }
                agent.save()?;
            }
            _ = resync.tick() => {
                let running = containerd.running().await?;
                let ids: std::collections::HashSet<&str> = running.iter().map(|(id, _)| id.as_str()).collect();
                let gone: Vec<String> = agent.containers.keys()
                    .filter(|id| *id != "host" && !ids.contains(id.as_str()))
                    .cloned()
                    .collect();
                for id in gone {
                    agent.forget(&id);
                }
                let new: Vec<(String, u32)> = running
                    .into_iter()
                    .filter(|(id, pid)| agent.containers.get(id).is_none_or(|c| c.pid != *pid))
                    .collect();
                if !new.is_empty() {
                    let listing = Listing::new(&containerd).await?;
                    for (id, pid) in new {
                        let Some(who) = listing.identify(&containerd, &id).await else { continue };
                        agent.start(&id, pid, who);
                    }
                }
                agent.save()?;
            }
            Some(()) = bundle_changed.recv() => {
                while bundle_changed.try_recv().is_ok() {}
                if let Err(e) = agent.reload() {
                    eprintln!("armor-loader run: bundle {}: {e:#}; the previous one stays applied", bundle_dir.display());
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    agent.save()?;
    if let (Some(recorder), Some(monitor)) = (agent.recorder.take(), agent.monitor.as_ref()) {
        let recorded = recorder.finish()?;
        let (full, throttled) = monitor.dropped()?;
        println!(
            "run: visibility ({}): {} event(s); dropped: {full} (ring buffer full), {throttled} (throttled), {} (path not resolved)",
            monitor.kinds.names(),
            recorded.events,
            recorded.unresolved
        );
    }
    println!("run: stopped; enforcement stays in place (pinned programs and maps)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn cri(ns: &str, container: &str, pod_labels: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut l = labels(pod_labels);
        l.extend(labels(&[
            (LABEL_NAMESPACE, ns),
            (LABEL_POD, "web-5d9f-x2x"),
            (LABEL_CONTAINER, container),
            ("io.cri-containerd.kind", "container"),
        ]));
        l
    }

    fn bundle(dir: &Path, targets: &str) -> Bundle {
        std::fs::write(dir.join("index.json"), format!("{{\"version\":1,\"targets\":[{targets}]}}")).unwrap();
        Bundle::open(dir).unwrap()
    }

    fn target(ns: &str, workload: &str, container: &str, labels: &str) -> String {
        format!(
            "{{\"namespace\":\"{ns}\",\"workload\":\"{workload}\",\"container\":\"{container}\",\"host\":false,\
             \"enforcement\":\"enabled\",\"bpf\":null,\"apparmor\":null,\"apparmor_map\":null,\
             \"apparmor_profile\":null{labels}}}"
        )
    }

    #[test]
    fn identity_comes_from_the_cri_labels_and_pod_labels_are_the_rest() {
        let who = Identity::from_labels(&cri("shop", "nginx", &[("app", "web")]), None).unwrap();
        assert_eq!(
            (who.namespace.as_str(), who.pod.as_str(), who.container.as_str()),
            ("shop", "web-5d9f-x2x", "nginx")
        );
        assert_eq!(who.pod_labels, labels(&[("app", "web")]));
        assert_eq!(Identity::from_labels(&labels(&[("app", "web")]), None), None);
    }

    #[test]
    fn pod_labels_come_from_the_sandbox_when_there_is_one() {
        // the CRI plugin: the container has only io.kubernetes.* (and its image's labels)
        let container = cri("shop", "nginx", &[("maintainer", "image label")]);
        let sandbox = labels(&[("app", "web"), ("pod-template-hash", "5d9f"), (LABEL_NAMESPACE, "shop")]);
        let who = Identity::from_labels(&container, Some(&sandbox)).unwrap();
        assert_eq!(who.container, "nginx");
        assert_eq!(who.pod_labels, labels(&[("app", "web"), ("pod-template-hash", "5d9f")]));
    }

    #[test]
    fn a_target_matches_by_namespace_container_and_a_subset_of_the_pod_labels() {
        let dir = tempfile::tempdir().unwrap();
        let b = bundle(
            dir.path(),
            &[
                target("shop", "web", "nginx", ",\"labels\":{\"app\":\"web\"}"),
                target("shop", "api", "nginx", ",\"labels\":{\"app\":\"api\",\"tier\":\"back\"}"),
                target("shop", "old", "nginx", ""),
            ]
            .join(","),
        );
        let names = |l: &BTreeMap<String, String>| -> Vec<String> {
            matching_targets(&b, &Identity::from_labels(l, None).unwrap()).iter().map(|t| t.name()).collect()
        };
        assert_eq!(names(&cri("shop", "nginx", &[("app", "web"), ("pod-template-hash", "5d9f")])), ["shop/web/nginx"]);
        // every template label must be on the pod; a bundle without labels matches nothing
        assert!(names(&cri("shop", "nginx", &[("app", "api")])).is_empty());
        assert_eq!(names(&cri("shop", "nginx", &[("app", "api"), ("tier", "back")])), ["shop/api/nginx"]);
        assert!(names(&cri("shop", "sidecar", &[("app", "web")])).is_empty());
        assert!(names(&cri("other", "nginx", &[("app", "web")])).is_empty());
    }
}
