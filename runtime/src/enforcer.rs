//! Which enforcer this node can use: BPF-LSM, AppArmor, Landlock or none, each probed for real
//! (a test load of an LSM program, a test profile through `apparmor_parser`, the Landlock ABI:
//! 3 or later, the first with `truncate`, which plans handle),
//! and the `--lsm` order that picks the first usable one. Never a silent downgrade: the choice
//! and every skipped enforcer's reason are reported.

use crate::{apparmor, probe};
use anyhow::{bail, Result};
use serde::Serialize;
use std::fmt;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcer {
    Bpf,
    Apparmor,
    Landlock,
    None,
}

impl Enforcer {
    pub const ALL: [Enforcer; 4] = [Enforcer::Bpf, Enforcer::Apparmor, Enforcer::Landlock, Enforcer::None];

    pub fn name(self) -> &'static str {
        match self {
            Enforcer::Bpf => "bpf",
            Enforcer::Apparmor => "apparmor",
            Enforcer::Landlock => "landlock",
            Enforcer::None => "none",
        }
    }

    /// KubeArmor's `Enforcer` field of an alert.
    pub fn alert_name(self) -> &'static str {
        match self {
            Enforcer::Bpf => "BPFLSM",
            Enforcer::Apparmor => "AppArmor",
            Enforcer::Landlock => "Landlock",
            Enforcer::None => "none",
        }
    }
}

impl fmt::Display for Enforcer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--lsm bpf,apparmor,landlock,none`: an ordered list without repeats.
pub fn parse_order(s: &str) -> Result<Vec<Enforcer>> {
    let mut order = Vec::new();
    for word in s.split(',').map(str::trim) {
        let Some(e) = Enforcer::ALL.into_iter().find(|e| e.name() == word) else {
            bail!(
                "--lsm: unknown enforcer `{word}` (expected a comma-separated list of bpf, apparmor, landlock, none)"
            );
        };
        if order.contains(&e) {
            bail!("--lsm: `{word}` is listed twice");
        }
        order.push(e);
    }
    Ok(order)
}

/// The default order: KubeArmor's preference, then Landlock, then nothing.
pub const DEFAULT_ORDER: &str = "bpf,apparmor,landlock,none";

#[derive(Clone, Debug, Serialize)]
pub struct Usability {
    pub usable: bool,
    pub reason: String,
}

impl Usability {
    fn yes(reason: impl Into<String>) -> Usability {
        Usability { usable: true, reason: reason.into() }
    }
    fn no(reason: impl Into<String>) -> Usability {
        Usability { usable: false, reason: reason.into() }
    }
}

/// Probe one enforcer on this kernel, for real. `pin_dir`: where `up` pins our programs (attached
/// programs answer for bpf without a new test load).
pub fn probe(e: Enforcer, lsms: &[String], pin_dir: &Path) -> Usability {
    match e {
        Enforcer::Bpf => probe_bpf(lsms, pin_dir),
        Enforcer::Apparmor => match apparmor::usable(lsms) {
            Ok(why) => Usability::yes(why),
            Err(why) => Usability::no(why),
        },
        Enforcer::Landlock => probe_landlock(),
        Enforcer::None => Usability::yes("no enforcement: decisions are not applied"),
    }
}

fn probe_bpf(lsms: &[String], pin_dir: &Path) -> Usability {
    if !lsms.iter().any(|l| l == "bpf") {
        return Usability::no(format!("`bpf` is not an active LSM ({}); boot with lsm=...,bpf", lsms.join(",")));
    }
    if crate::agent::is_up(pin_dir) {
        return Usability::yes(format!("our LSM programs are attached (pinned under {})", pin_dir.display()));
    }
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Usability::no("no kernel BTF (/sys/kernel/btf/vmlinux): CO-RE programs cannot be relocated");
    }
    if let Err(e) = crate::ensure_bpffs() {
        return Usability::no(format!("{e:#}"));
    }
    match probe::test_load() {
        Ok(()) => Usability::yes("the LSM programs load (test load of all of them)"),
        Err(e) => Usability::no(e),
    }
}

const LANDLOCK_CREATE_RULESET_VERSION: libc::c_ulong = 1;

/// Landlock ABI version, or the errno text.
pub fn landlock_abi() -> Result<i64, String> {
    // SAFETY: landlock_create_ruleset(NULL, 0, VERSION) only returns the ABI version.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error().to_string())
    } else {
        Ok(rc)
    }
}

/// The lowest Landlock ABI `exec --lsm landlock` accepts: plans handle `truncate` (ABI 3).
pub const LANDLOCK_MIN_ABI: i64 = 3;

/// Landlock is usable when the kernel has it (active LSM: the syscall answers) with ABI 3 or later;
/// each plan's own ABI is checked again when it is applied.
fn probe_landlock() -> Usability {
    match landlock_abi() {
        Ok(abi) if abi >= LANDLOCK_MIN_ABI => {
            Usability::yes(format!("Landlock ABI {abi} (plans need {LANDLOCK_MIN_ABI} or later: truncate)"))
        }
        Ok(abi) => {
            Usability::no(format!("Landlock ABI {abi}, plans need {LANDLOCK_MIN_ABI} or later (truncate; Linux 6.2)"))
        }
        Err(e) => Usability::no(format!("Landlock unavailable: {e}")),
    }
}

/// The probe of every enforcer in `order` until the first usable one: (probes, chosen).
pub fn choose(order: &[Enforcer], lsms: &[String], pin_dir: &Path) -> (Vec<(Enforcer, Usability)>, Option<Enforcer>) {
    let mut probes = Vec::new();
    for &e in order {
        let u = probe(e, lsms, pin_dir);
        let usable = u.usable;
        probes.push((e, u));
        if usable {
            return (probes, Some(e));
        }
    }
    (probes, None)
}

/// Pick the enforcer for a command, printing the choice and every skipped enforcer's reason on
/// stderr; an error names them all when none is usable.
pub fn pick(order: &[Enforcer], pin_dir: &Path) -> Result<Enforcer> {
    let lsms = probe::active_lsms().unwrap_or_default();
    let (probes, chosen) = choose(order, &lsms, pin_dir);
    for (e, u) in &probes {
        if !u.usable {
            eprintln!("armor-loader: {e} not usable: {}", u.reason);
        }
    }
    match chosen {
        Some(e) => {
            eprintln!("armor-loader: enforcer {e} ({})", probes.last().map(|p| p.1.reason.as_str()).unwrap_or(""));
            Ok(e)
        }
        None => {
            let why: Vec<String> = probes.iter().map(|(e, u)| format!("{e}: {}", u.reason)).collect();
            bail!("no usable enforcer in --lsm {}: {}", names(order), why.join("; "))
        }
    }
}

pub fn names(order: &[Enforcer]) -> String {
    order.iter().map(|e| e.name()).collect::<Vec<_>>().join(",")
}
