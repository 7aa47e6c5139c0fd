//! The few bpf(2) commands the apply path issues directly: creating a rule map, filling it with
//! one batch update, and swapping it into the outer map. aya loads objects and owns every other
//! map operation; these calls take raw fds so swaps can run from several threads at once (each
//! map-in-map update waits for an RCU grace period, and concurrent waits overlap).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;
const BPF_MAP_TYPE_HASH: u32 = 1;

fn bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> io::Result<i64> {
    // attr is zero-padded to 128 bytes, as the kernel requires for unused fields
    // SAFETY: attr is a live, writable 128-byte buffer and its size is the size passed, so the
    // kernel reads and writes (e.g. the batch `count` it reports) only within it. The commands
    // issued here (MAP_CREATE, UPDATE_ELEM, UPDATE_BATCH) only read through the key/value pointers
    // the callers put in attr, which point into slices borrowed for the whole call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), std::mem::size_of_val(attr)) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A new BPF hash map (no name, no BTF, flags 0), as the outer map's inner template expects.
pub fn create_hash(key_size: u32, value_size: u32, max_entries: u32) -> io::Result<OwnedFd> {
    let mut attr = [0u64; 16];
    attr[0] = BPF_MAP_TYPE_HASH as u64 | (key_size as u64) << 32;
    attr[1] = value_size as u64 | (max_entries as u64) << 32;
    let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: BPF_MAP_CREATE succeeded, so fd is a new descriptor of this process that nothing
    // else refers to; the OwnedFd becomes its only owner (and closes it).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Write `count` keys and values (packed back to back) with one BPF_MAP_UPDATE_BATCH.
pub fn update_batch(map: BorrowedFd<'_>, keys: &[u8], values: &[u8], count: u32) -> io::Result<()> {
    let mut attr = [0u64; 16];
    attr[2] = keys.as_ptr() as u64;
    attr[3] = values.as_ptr() as u64;
    attr[4] = count as u64 | (map.as_raw_fd() as u64) << 32;
    let mut done = 0;
    // the kernel may stop early (it reports how many it wrote in `count`); continue from there
    while done < count {
        let left = count - done;
        attr[2] = keys[(done as usize) * (keys.len() / count as usize)..].as_ptr() as u64;
        attr[3] = values[(done as usize) * (values.len() / count as usize)..].as_ptr() as u64;
        attr[4] = left as u64 | (map.as_raw_fd() as u64) << 32;
        bpf(BPF_MAP_UPDATE_BATCH, &mut attr)?;
        let wrote = (attr[4] & 0xffff_ffff) as u32;
        if wrote == 0 {
            return Err(io::Error::other("batch update wrote nothing"));
        }
        done += wrote;
    }
    Ok(())
}

/// `map[key] = value` (for the outer map: value = the inner map's fd as u32).
pub fn update(map: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = [0u64; 16];
    attr[0] = map.as_raw_fd() as u64;
    attr[1] = key.as_ptr() as u64;
    attr[2] = value.as_ptr() as u64;
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr)?;
    Ok(())
}
