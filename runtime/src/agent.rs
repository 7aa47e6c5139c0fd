//! `armor-loader up|down`: our LSM programs attached and pinned under bpffs, with the maps they
//! share (targets, events, throttling), so enforcement outlives the command and any later agent.
//!
//! Pin layout under the pin directory (default /sys/fs/bpf/armorc):
//! `armor_targets`, `armor_events`, `armor_config`, `armor_stats`, `armor_throttle` (maps) and
//! `links/<program>` (one BPF link per LSM program; the link keeps the program attached).

use crate::probe::{self, LSM_PROGRAMS};
use crate::{ensure_bpffs, objects};
use anyhow::{anyhow, Context, Result};
use aya::maps::{Array, Map, MapData, PerCpuArray};
use aya::programs::links::FdLink;
use aya::programs::Lsm;
use aya::{Btf, EbpfLoader};
use std::path::{Path, PathBuf};

/// Maps every LSM program and every loader command share, pinned by name.
pub const SHARED_MAPS: [&str; 5] = ["armor_targets", "armor_events", "armor_config", "armor_stats", "armor_throttle"];

/// Alert throttling per target (KubeArmor's defaults: 10 alerts a second, then 30 s muted).
#[derive(Clone, Copy, Debug)]
pub struct Throttle {
    pub max_per_sec: u32,
    pub throttle_sec: u32,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle { max_per_sec: 10, throttle_sec: 30 }
    }
}

pub struct UpReport {
    /// Programs attached by this call (empty: everything was up already).
    pub attached: Vec<&'static str>,
}

fn links_dir(pin_dir: &Path) -> PathBuf {
    pin_dir.join("links")
}

/// True when every LSM program has a pinned link.
pub fn is_up(pin_dir: &Path) -> bool {
    LSM_PROGRAMS.iter().all(|(name, _)| links_dir(pin_dir).join(name).exists())
}

/// Load, attach and pin whatever is not pinned yet; set the throttle. Idempotent.
pub fn up(pin_dir: &Path, throttle: Throttle) -> Result<UpReport> {
    ensure_bpffs()?;
    let links = links_dir(pin_dir);
    std::fs::create_dir_all(&links).with_context(|| format!("creating {}", links.display()))?;
    let mut attached = Vec::new();
    if !is_up(pin_dir) {
        let mut loader = EbpfLoader::new();
        for m in SHARED_MAPS {
            loader.map_pin_path(m, pin_dir.join(m));
        }
        let mut obj = loader.load(objects::LSM).context("loading the LSM object (maps, CO-RE relocations)")?;
        let btf = Btf::from_sys_fs().context("reading /sys/kernel/btf/vmlinux")?;
        for (name, hook) in LSM_PROGRAMS {
            let path = links.join(name);
            if path.exists() {
                continue;
            }
            let prog: &mut Lsm = obj
                .program_mut(name)
                .ok_or_else(|| anyhow!("object has no program {name}"))?
                .try_into()
                .with_context(|| format!("{name} is not an LSM program"))?;
            prog.load(hook, &btf).map_err(|e| anyhow!("loading {name} (lsm/{hook}): {}", probe::errno_of(&e)))?;
            let id = prog.attach().with_context(|| format!("attaching {name}"))?;
            let link: FdLink = prog.take_link(id)?.into();
            link.pin(&path).map_err(|e| anyhow!("pinning {}: {e}", path.display()))?;
            attached.push(name);
        }
    }
    set_throttle(pin_dir, throttle)?;
    Ok(UpReport { attached })
}

/// Unpin links (detaching the programs) and maps. Returns how many pins were removed.
pub fn down(pin_dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let links = links_dir(pin_dir);
    for (name, _) in LSM_PROGRAMS {
        removed += remove_pin(&links.join(name))?;
    }
    for m in SHARED_MAPS {
        removed += remove_pin(&pin_dir.join(m))?;
    }
    let _ = std::fs::remove_dir(&links);
    let _ = std::fs::remove_dir(pin_dir);
    Ok(removed)
}

fn remove_pin(path: &Path) -> Result<usize> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(1),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

fn pinned_map(pin_dir: &Path, name: &str) -> Result<Map> {
    let path = pin_dir.join(name);
    let data = MapData::from_pin(&path)
        .with_context(|| format!("opening {} (is the agent up? run `armor-loader up`)", path.display()))?;
    Ok(Map::from_map_data(data)?)
}

pub fn set_throttle(pin_dir: &Path, t: Throttle) -> Result<()> {
    let mut config: Array<MapData, [u32; 2]> = pinned_map(pin_dir, "armor_config")?.try_into()?;
    config.set(0, [t.max_per_sec, t.throttle_sec], 0).context("writing armor_config")?;
    Ok(())
}

/// Events lost so far: (ring buffer full, throttled), summed over CPUs.
pub fn dropped(pin_dir: &Path) -> Result<(u64, u64)> {
    let stats: PerCpuArray<MapData, u64> = pinned_map(pin_dir, "armor_stats")?.try_into()?;
    let sum = |i: u32| -> Result<u64> { Ok(stats.get(&i, 0)?.iter().sum()) };
    Ok((sum(0)?, sum(1)?))
}
