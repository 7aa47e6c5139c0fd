//! Target maps in the kernel and the test-run harness.
//!
//! `armor_targets` (bpf/maps.h) maps `{pid ns, mnt ns}` to one rule map per target. Writing an
//! image is atomic for the programs: a new inner map is created and filled first, then swapped
//! into the outer map with one update; the old inner map is freed when its last user drops it.

use crate::{objects, sys, wire, PIN_DIR, TARGETS_MAP};
use anyhow::{anyhow, bail, Context, Result};
use armorc_compiler::image::{MapImage, KEY_SIZE, MAX_ENTRIES, VALUE_SIZE};
use armorc_compiler::model::{Decision, Query};
use aya::maps::{HashMap, HashOfMaps, Map, MapData};
use aya::programs::{SocketFilter, TestRun, TestRunOptions};
use aya::{Ebpf, EbpfLoader};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

pub type Inner = HashMap<MapData, [u8; KEY_SIZE], [u8; VALUE_SIZE]>;
pub type Outer = HashOfMaps<MapData, [u8; 8], Inner>;

/// Threads `apply_many` swaps from.
const SWAP_THREADS: usize = 256;

/// The host's target key.
pub const HOST: (u32, u32) = (0, 0);

fn outer_key(key: (u32, u32)) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[..4].copy_from_slice(&key.0.to_le_bytes());
    k[4..].copy_from_slice(&key.1.to_le_bytes());
    k
}

/// The target key an outer-map key stands for (inverse of `outer_key`).
fn target_key(k: [u8; 8]) -> (u32, u32) {
    let [a, b, c, d, e, f, g, h] = k;
    (u32::from_le_bytes([a, b, c, d]), u32::from_le_bytes([e, f, g, h]))
}

/// A new rule map holding exactly the image's entries, in image order (last writer wins),
/// written with one batch update.
pub fn fill_inner(image: &MapImage) -> Result<OwnedFd> {
    let n = image.entries.len();
    // `decode` refuses such files; images built in memory (tests, mutate) are held to it too.
    if n > MAX_ENTRIES {
        bail!("image {} has {n} entries, more than the {MAX_ENTRIES} a target may hold", image.target);
    }
    let fd = sys::create_hash(KEY_SIZE as u32, VALUE_SIZE as u32, n.max(1) as u32).context("creating a rule map")?;
    if n > 0 {
        let mut keys = Vec::with_capacity(n * KEY_SIZE);
        let mut values = Vec::with_capacity(n * VALUE_SIZE);
        for e in &image.entries {
            keys.extend_from_slice(&e.key.to_bytes());
            values.extend_from_slice(&e.value.to_bytes());
        }
        sys::update_batch(fd.as_fd(), &keys, &values, n as u32).context("writing the image into the rule map")?;
    }
    Ok(fd)
}

/// The outer map of targets.
pub struct Targets {
    outer: Outer,
    /// The same map, for the swaps issued with raw bpf(2) calls (crate::sys).
    outer_fd: OwnedFd,
}

impl Targets {
    /// The outer map `armor_targets` taken from an object the caller loaded (e.g. with its LSM programs).
    pub fn from_map(map: Map) -> Result<Targets> {
        let Map::HashOfMaps(data) = map else { bail!("armor_targets is not a hash of maps") };
        let outer_fd = data.fd().as_fd().try_clone_to_owned()?;
        let outer = Outer::try_from(Map::HashOfMaps(data)).context("armor_targets")?;
        Ok(Targets { outer, outer_fd })
    }

    /// The pinned outer map under `dir` (default PIN_DIR). On first use (nothing pinned there) the
    /// LSM object is opened only to create the map and pin it at `dir/armor_targets`; no program
    /// is loaded and the object is dropped: the pin keeps the map alive. Returns the map only.
    pub fn pinned(dir: Option<&Path>) -> Result<Targets> {
        crate::ensure_bpffs()?;
        let dir = dir.unwrap_or(Path::new(PIN_DIR));
        let pin = dir.join(TARGETS_MAP);
        if pin.exists() {
            let data = MapData::from_pin(&pin).with_context(|| format!("opening {}", pin.display()))?;
            return Targets::from_map(Map::from_map_data(data)?);
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut obj = EbpfLoader::new()
            .map_pin_path(TARGETS_MAP, pin.clone())
            .load(objects::LSM)
            .context("loading the LSM object (maps and CO-RE relocations)")?;
        let map = obj.take_map(TARGETS_MAP).ok_or_else(|| anyhow!("object has no {TARGETS_MAP}"))?;
        Targets::from_map(map)
    }

    /// The outer map pinned under `dir` (default PIN_DIR) if there is one; `None` otherwise.
    /// Creates nothing (no bpffs mount, no directory, no map): for removals and reads.
    pub fn pinned_existing(dir: Option<&Path>) -> Result<Option<Targets>> {
        let pin = dir.unwrap_or(Path::new(PIN_DIR)).join(TARGETS_MAP);
        if !pin.exists() {
            return Ok(None);
        }
        let data = MapData::from_pin(&pin).with_context(|| format!("opening {}", pin.display()))?;
        Targets::from_map(Map::from_map_data(data)?).map(Some)
    }

    /// Write `image` as the rule map of `key`: fill a new inner map, then swap it in.
    pub fn apply(&mut self, key: (u32, u32), image: &MapImage) -> Result<()> {
        let inner = fill_inner(image)?;
        self.swap(key, &inner)
    }

    fn swap(&self, key: (u32, u32), inner: &OwnedFd) -> Result<()> {
        let fd = (inner.as_raw_fd() as u32).to_le_bytes();
        sys::update(self.outer_fd.as_fd(), &outer_key(key), &fd).context("swapping the rule map into armor_targets")
    }

    /// Apply many images from several threads: each fills its images' rule maps and swaps them
    /// in. Swaps wait for an RCU grace period; concurrent waits overlap, and the fills of other
    /// threads run meanwhile.
    pub fn apply_many(&mut self, items: &[((u32, u32), &MapImage)]) -> Result<()> {
        let threads = items.len().clamp(1, SWAP_THREADS);
        let this = &*self;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || -> Result<()> {
                        for (key, image) in items.iter().skip(t).step_by(threads) {
                            this.swap(*key, &fill_inner(image)?)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| h.join().map_err(|_| anyhow!("apply thread panicked"))?)
        })
    }

    /// Remove the target's rule map; false if there was none.
    pub fn remove(&mut self, key: (u32, u32)) -> Result<bool> {
        match self.outer.remove(&outer_key(key)) {
            Ok(()) => Ok(true),
            Err(aya::maps::MapError::KeyNotFound) => Ok(false),
            Err(aya::maps::MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e).context("removing from armor_targets"),
        }
    }

    /// The target's rule map as the kernel holds it (a new fd).
    pub fn inner(&self, key: (u32, u32)) -> Result<Inner> {
        self.outer.get(&outer_key(key), 0).context("looking up the target's rule map")
    }

    pub fn keys(&self) -> Result<Vec<(u32, u32)>> {
        self.outer.keys().map(|k| Ok(target_key(k?))).collect()
    }
}

/// Result words the harness returns for a malformed query / a missing target (bpf/harness.bpf.c).
const ERR_QUERY: u32 = 0xff00_0000;
const ERR_NO_TARGET: u32 = 0xfe00_0000;

/// The test-run harness with its own (unpinned) maps: the real verifier, JIT, maps and
/// decision routine, driven by serialized queries.
pub struct Harness {
    obj: Ebpf,
    pub targets: Targets,
}

impl Harness {
    pub fn load() -> Result<Harness> {
        let mut obj = EbpfLoader::new().load(objects::HARNESS).context("loading the harness object")?;
        let map = obj.take_map(TARGETS_MAP).ok_or_else(|| anyhow!("object has no {TARGETS_MAP}"))?;
        let targets = Targets::from_map(map)?;
        let prog = obj.program_mut("armor_harness").ok_or_else(|| anyhow!("no armor_harness program"))?;
        let prog: &mut SocketFilter = prog.try_into()?;
        prog.load().context("loading armor_harness (verifier)")?;
        let floor: &mut SocketFilter =
            obj.program_mut("armor_floor").ok_or_else(|| anyhow!("no armor_floor"))?.try_into()?;
        floor.load().context("loading armor_floor (verifier)")?;
        Ok(Harness { obj, targets })
    }

    /// Run one query `repeat` times; returns the kernel's decision and the mean run time.
    pub fn run(&self, q: &Query, key: (u32, u32), repeat: u32) -> Result<(Decision, Duration)> {
        let packet = wire::encode(q, key).map_err(|e| anyhow!(e))?;
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(&packet);
        opts.repeat = repeat.max(1);
        let prog: &SocketFilter =
            self.obj.program("armor_harness").ok_or_else(|| anyhow!("no armor_harness program"))?.try_into()?;
        let r = prog.test_run(opts).context("BPF_PROG_TEST_RUN")?;
        match r.return_value {
            ERR_QUERY => bail!("the harness rejected the serialized query"),
            ERR_NO_TARGET => bail!("no rule map for target {key:?}"),
            w => {
                let d = Decision::from_word(w).ok_or_else(|| anyhow!("bad result word {w:#x}"))?;
                Ok((d, r.duration))
            }
        }
    }

    /// Benchmark floor: one outer and one inner lookup of `k` (raw 32-byte key), `repeat` times.
    /// Returns whether the key was found and the mean run time.
    pub fn floor(&self, key: (u32, u32), k: [u8; KEY_SIZE], repeat: u32) -> Result<(bool, Duration)> {
        let mut packet = vec![0u8; 14];
        packet.extend_from_slice(&outer_key(key));
        packet.extend_from_slice(&k);
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(&packet);
        opts.repeat = repeat.max(1);
        let prog: &SocketFilter =
            self.obj.program("armor_floor").ok_or_else(|| anyhow!("no armor_floor"))?.try_into()?;
        let r = prog.test_run(opts).context("BPF_PROG_TEST_RUN")?;
        match r.return_value {
            0 | 1 => Ok((r.return_value == 1, r.duration)),
            w => bail!("armor_floor returned {w:#x}"),
        }
    }

    pub fn decide(&self, q: &Query, key: (u32, u32)) -> Result<Decision> {
        Ok(self.run(q, key, 1)?.0)
    }
}
