//! Alerts: the LSM programs' `armor_events` ring buffer (bpf/events.h) turned into KubeArmor's
//! alert JSON (its getting-started/kubearmor-events.md field names), one object per line.
//! The kernel record carries the target key and the result word (rule index); what the alert
//! names (target, policy, severity, tags, message) comes from the target's state file, written
//! by `exec` when it applied the image.

use crate::agent;
use anyhow::{Context, Result};
use armorc_compiler::model::Decision;
use aya::maps::{Map, MapData, RingBuf};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Default directory of target state files.
pub const STATE_DIR: &str = "/run/armorc";

/// One rule of a target, as alerts name it (from the map image's provenance).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RuleMeta {
    /// metadata.name of the policy
    pub policy: String,
    /// `KubeArmorPolicy`, `KubeArmorHostPolicy`, `KubeArmorClusterPolicy`
    pub kind: String,
    pub severity: u8,
    pub tags: Vec<String>,
    pub message: String,
    pub action: String,
}

impl RuleMeta {
    /// The alert names of an image's rules (provenance: `Kind/ns/name`, severity, tags, message).
    pub fn of_image(image: &armorc_compiler::image::MapImage) -> Vec<RuleMeta> {
        image
            .rules
            .iter()
            .map(|r| {
                let mut parts = r.policy.splitn(3, '/');
                let kind = parts.next().unwrap_or_default().to_string();
                let name = parts.nth(1).unwrap_or_default().to_string();
                RuleMeta {
                    policy: name,
                    kind,
                    severity: r.severity,
                    tags: r.tags.clone(),
                    message: r.message.clone(),
                    action: r.action.clone(),
                }
            })
            .collect()
    }
}

/// What `exec` records about a target while it is (or was) applied.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TargetState {
    pub target: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub host: bool,
    /// The labels the target was compiled for, or its pod's (`k=v,k=v`), as events carry them.
    #[serde(default)]
    pub labels: String,
    pub enforcer: String,
    /// Indexed by the rule index of a result word.
    pub rules: Vec<RuleMeta>,
}

impl TargetState {
    /// What a bundle's target says about itself (the pod name is the workload's until an agent
    /// knows the real pod).
    pub fn for_target(target: &crate::bundle::TargetEntry) -> TargetState {
        let labels = target.labels.as_ref().map(labels_text).unwrap_or_default();
        TargetState {
            target: target.name(),
            namespace: target.namespace.clone().unwrap_or_default(),
            pod: target.workload.clone().unwrap_or_default(),
            container: target.container.clone().unwrap_or_default(),
            host: target.host,
            labels,
            ..TargetState::default()
        }
    }
}

/// Labels as KubeArmor's events write them: `k=v,k=v`.
pub fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn state_path(dir: &Path, key: (u32, u32)) -> PathBuf {
    dir.join("targets").join(format!("{}-{}.json", key.0, key.1))
}

/// Record (atomically) what the target applied at `key` is.
pub fn write_state(dir: &Path, key: (u32, u32), state: &TargetState) -> Result<()> {
    let path = state_path(dir, key);
    let parent = path.parent().expect("state path has a parent");
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(state)?).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// Forget what was applied at `key` (its target ended); a missing record is not an error.
pub fn remove_state(dir: &Path, key: (u32, u32)) {
    let _ = std::fs::remove_file(state_path(dir, key));
}

pub(crate) fn read_state(dir: &Path, key: (u32, u32)) -> Option<TargetState> {
    let bytes = std::fs::read(state_path(dir, key)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Kernel record layout (struct armor_event, bpf/events.h).
const EVENT_SIZE: usize = 88 + 2 * 1024;
const EV_DECISION: u32 = 1;
const EV_THRESHOLD: u32 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEvent {
    pub boot_ns: u64,
    pub kind: u32,
    pub word: u32,
    pub key: (u32, u32),
    pub host_pid: u32,
    pub host_ppid: u32,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub op: u32,
    pub sock_type: u32,
    pub sock_proto: u32,
    pub cap: u32,
    pub comm: String,
    pub path: String,
    pub source: String,
}

impl RawEvent {
    pub fn parse(b: &[u8]) -> Option<RawEvent> {
        if b.len() < EVENT_SIZE {
            return None;
        }
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let text = |o: usize, len: usize| String::from_utf8_lossy(&b[o..o + len.min(1024)]).into_owned();
        if !matches!(u32_at(8), EV_DECISION | EV_THRESHOLD) {
            return None;
        }
        let comm = &b[72..88];
        let comm_len = comm.iter().position(|&c| c == 0).unwrap_or(16);
        Some(RawEvent {
            boot_ns: u64::from_ne_bytes(b[0..8].try_into().expect("8 bytes")),
            kind: u32_at(8),
            word: u32_at(12),
            key: (u32_at(16), u32_at(20)),
            host_pid: u32_at(24),
            host_ppid: u32_at(28),
            pid: u32_at(32),
            ppid: u32_at(36),
            uid: u32_at(40),
            op: u32_at(44),
            sock_type: u32_at(48),
            sock_proto: u32_at(52),
            cap: u32_at(56),
            comm: String::from_utf8_lossy(&comm[..comm_len]).into_owned(),
            path: text(88, u32_at(60) as usize),
            source: text(88 + 1024, u32_at(64) as usize),
        })
    }
}

/// KubeArmor's event JSON: alerts (`MatchedPolicy`, ...), telemetry of the visibility monitor
/// (`ContainerLog`, `HostLog`) and, for throttling, system events. Like KubeArmor, fields a kind
/// of event does not have are left out.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    pub timestamp: i64,
    pub updated_time: String,
    pub cluster_name: String,
    pub host_name: String,
    pub namespace_name: String,
    pub pod_name: String,
    pub container_name: String,
    pub labels: String,
    #[serde(rename = "HostPID")]
    pub host_pid: u32,
    #[serde(rename = "HostPPID")]
    pub host_ppid: u32,
    #[serde(rename = "PID")]
    pub pid: u32,
    #[serde(rename = "PPID")]
    pub ppid: u32,
    #[serde(rename = "UID")]
    pub uid: u32,
    pub process_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent_process_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tags: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub operation: String,
    pub resource: String,
    pub data: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub enforcer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    pub result: String,
}

/// Op codes (bpf/armor.h): (Operation, LSM hook name for Data).
fn op_names(op: u32) -> (&'static str, &'static str) {
    match op {
        1 => ("Process", "SECURITY_BPRM_CHECK"),
        2 => ("File", "SECURITY_FILE_OPEN"),
        3 | 15 => ("File", "SECURITY_FILE_PERMISSION"),
        4 => ("File", "SECURITY_PATH_UNLINK"),
        5 => ("File", "SECURITY_PATH_MKDIR"),
        6 => ("File", "SECURITY_PATH_RMDIR"),
        7 => ("File", "SECURITY_PATH_RENAME"),
        8 => ("File", "SECURITY_PATH_CHMOD"),
        9 => ("File", "SECURITY_PATH_TRUNCATE"),
        10 => ("File", "SECURITY_PATH_LINK"),
        11 => ("File", "SECURITY_PATH_SYMLINK"),
        12 => ("File", "SECURITY_PATH_MKNOD"),
        13 => ("Network", "SECURITY_SOCKET"),
        14 => ("Capabilities", "SECURITY_CAPABLE"),
        _ => ("Unknown", "UNKNOWN"),
    }
}

fn sock_type_name(t: u32) -> String {
    match t {
        1 => "SOCK_STREAM".into(),
        2 => "SOCK_DGRAM".into(),
        3 => "SOCK_RAW".into(),
        5 => "SOCK_SEQPACKET".into(),
        n => format!("{n}"),
    }
}

/// Wall-clock seconds and nanoseconds of a CLOCK_BOOTTIME instant.
pub(crate) fn wall_time(boot_ns: u64) -> (i64, u32) {
    let now = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a live, writable timespec; clock_gettime only writes it.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
    };
    let offset = now(libc::CLOCK_REALTIME) - now(libc::CLOCK_BOOTTIME);
    let ns = offset + boot_ns as i128;
    ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
}

/// RFC 3339 in UTC with microseconds, as KubeArmor's UpdatedTime.
pub(crate) fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z", rem / 3600, rem % 3600 / 60, rem % 60, nanos / 1000)
}

pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Turns kernel records into alerts, with target state cached per key.
pub struct Decoder {
    state_dir: PathBuf,
    cache: HashMap<(u32, u32), Option<TargetState>>,
    host_name: String,
    pub cluster_name: String,
}

impl Decoder {
    pub fn new(state_dir: &Path) -> Decoder {
        Decoder {
            state_dir: state_dir.to_path_buf(),
            cache: HashMap::new(),
            host_name: host_name(),
            cluster_name: "default".into(),
        }
    }

    fn state(&mut self, key: (u32, u32)) -> Option<TargetState> {
        let dir = &self.state_dir;
        self.cache.entry(key).or_insert_with(|| read_state(dir, key)).clone()
    }

    pub fn alert(&mut self, ev: &RawEvent) -> Event {
        let st = self.state(ev.key).unwrap_or_default();
        let (secs, nanos) = wall_time(ev.boot_ns);
        let mut a = Event {
            timestamp: secs,
            updated_time: rfc3339(secs, nanos),
            cluster_name: self.cluster_name.clone(),
            host_name: self.host_name.clone(),
            namespace_name: st.namespace.clone(),
            pod_name: st.pod.clone(),
            container_name: st.container.clone(),
            labels: st.labels.clone(),
            enforcer: "BPFLSM".into(),
            ..Event::default()
        };
        if ev.kind == EV_THRESHOLD {
            a.kind = "SystemEvent".into();
            a.operation = "AlertThreshold".into();
            a.message = format!(
                "alert threshold reached ({} alerts/s): alerts of this container are dropped for {} s",
                ev.cap, ev.sock_type
            );
            a.data = format!("MaxAlertPerSec={} ThrottleSec={}", ev.cap, ev.sock_type);
            return a;
        }
        let d = Decision::from_word(ev.word);
        let deny = ev.word & 1 != 0;
        let (operation, hook) = op_names(ev.op);
        a.host_pid = ev.host_pid;
        a.host_ppid = ev.host_ppid;
        a.pid = ev.pid;
        a.ppid = ev.ppid;
        a.uid = ev.uid;
        a.process_name = if ev.source.is_empty() { ev.comm.clone() } else { ev.source.clone() };
        a.parent_process_name = std::fs::read_link(format!("/proc/{}/exe", ev.host_ppid))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        a.source = a.process_name.clone();
        a.operation = operation.into();
        a.resource = match operation {
            "Network" => format!("type={} protocol={}", sock_type_name(ev.sock_type), ev.sock_proto),
            "Capabilities" => format!("cap={}", ev.cap),
            _ => ev.path.clone(),
        };
        a.data = format!("lsm={hook}");
        a.kind = if st.host { "MatchedHostPolicy".into() } else { "MatchedPolicy".into() };
        a.result = if deny { "Permission denied".into() } else { "Passed".into() };
        let rule = d.and_then(|d| d.rule).and_then(|i| st.rules.get(i as usize));
        match rule {
            Some(r) => {
                a.policy_name = r.policy.clone();
                a.severity = r.severity.to_string();
                a.tags = r.tags.join(",");
                a.message = r.message.clone();
                a.action =
                    if r.action.is_empty() { if deny { "Block" } else { "Audit" }.into() } else { r.action.clone() };
            }
            None => {
                a.policy_name = "DefaultPosture".into();
                a.action = if deny { "Block".into() } else { "Audit".into() };
            }
        }
        a
    }
}

/// A BPF ring buffer read from user space: the alerts' (pinned) or the visibility monitor's.
pub struct RingReader {
    ring: RingBuf<MapData>,
}

impl RingReader {
    /// The pinned alert ring buffer (`armor_events`).
    pub fn open_alerts(pin_dir: &Path) -> Result<RingReader> {
        let path = pin_dir.join("armor_events");
        let data = MapData::from_pin(&path)
            .with_context(|| format!("opening {} (is the agent up? run `armor-loader up`)", path.display()))?;
        RingReader::from_map(Map::from_map_data(data)?)
    }

    pub fn from_map(map: Map) -> Result<RingReader> {
        Ok(RingReader { ring: map.try_into().context("not a ring buffer")? })
    }

    /// Everything in the buffer now, one record at a time.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) {
        while let Some(item) = self.ring.next() {
            f(&item);
        }
    }

    /// Wait up to `timeout_ms` for more records.
    pub fn wait(&self, timeout_ms: i32) {
        let mut pfd = libc::pollfd { fd: self.ring.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: pfd is one live pollfd (nfds = 1) whose fd, the ring buffer's, stays open while
        // self is borrowed; poll only writes its revents.
        unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    }
}

/// Lost records so far, for the summary line.
pub fn dropped_summary(pin_dir: &Path) -> String {
    match agent::dropped(pin_dir) {
        Ok((full, throttled)) => format!("dropped: {full} (ring buffer full), {throttled} (throttled)"),
        Err(e) => format!("dropped: unknown ({e:#})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_700_000_000, 123_456_789), "2023-11-14T22:13:20.123456Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn short_records_are_ignored() {
        assert!(RawEvent::parse(&[0u8; 100]).is_none());
    }
}
