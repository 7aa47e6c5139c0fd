//! BPF-LSM overhead benchmark (BENCHMARKS.md "## Live enforcement overhead"); runs in the kernel
//! lab, as root, where our LSM programs load:
//!
//!   scripts/lab.sh -- target/release/examples/lsm_overhead
//!
//! Loops of `open`+`close` of a file and of `fork`+`execve` of a static binary, run by pid 1 of a
//! fresh pid+mount namespace, first with no programs attached (the peer), then with our 16 LSM
//! programs attached and a 1,000-entry image applied to that namespace's target key; the two are
//! alternated `ROUNDS` times and the medians compared. The opened and executed files are allowed
//! by the image, so every hook runs its full lookup (path hashing, directory walk) and allows.

use armor_runtime::agent::{self, Throttle};
use armor_runtime::exec::run_isolated_with;
use armor_runtime::kernel::Targets;
use armor_runtime::mutate;
use armorc_compiler::image::*;
use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const OPENS: u64 = 20_000;
const EXECS: u64 = 400;
const ROUNDS: usize = 5;
const BENCH_DIR: &str = "/var/lib/armorc-bench/app/data";

fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into ts.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// ns per open+close and per fork+exec+wait, measured by pid 1 of a new target.
fn measure(file: &CString, exe: &CString, apply: impl FnOnce((u32, u32)) -> anyhow::Result<()>) -> (f64, f64) {
    // SAFETY: a shared anonymous page for the child's two results, never unmapped.
    let shared: &[AtomicU64; 2] = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        &*(p as *const [AtomicU64; 2])
    };
    let body = || {
        // SAFETY: system calls on NUL-terminated paths; single-threaded example, so fork is safe.
        unsafe {
            let t0 = now_ns();
            for _ in 0..OPENS {
                let fd = libc::open(file.as_ptr(), libc::O_RDONLY);
                if fd < 0 {
                    return 1;
                }
                libc::close(fd);
            }
            let t1 = now_ns();
            let argv = [exe.as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null()];
            for _ in 0..EXECS {
                let pid = libc::fork();
                if pid == 0 {
                    libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
                    libc::_exit(127);
                }
                let mut status = 0;
                libc::waitpid(pid, &mut status, 0);
                if status != 0 {
                    return 2;
                }
            }
            let t2 = now_ns();
            shared[0].store(t1 - t0, Ordering::SeqCst);
            shared[1].store(t2 - t1, Ordering::SeqCst);
            0
        }
    };
    let status = run_isolated_with(body, apply, |_| ()).expect("running the measured target");
    assert_eq!(status, 0, "the measured loop failed (1: open, 2: exec)");
    (shared[0].load(Ordering::SeqCst) as f64 / OPENS as f64, shared[1].load(Ordering::SeqCst) as f64 / EXECS as f64)
}

/// 1,000 entries: the bench's own files allowed by path and by directory, the rest a realistic
/// mix of other paths and directories (misses for the measured calls).
fn image(file: &str, exe: &str) -> MapImage {
    let mut entries = Vec::new();
    let mut push = |text: String, process: u16, file_mask: u16| {
        entries.push(Entry {
            key: Key::path(KIND_PATH, text.as_bytes(), None),
            value: Value { process, file: file_mask, rule: u32::MAX },
            text,
        })
    };
    push(file.to_string(), 0, READ | WRITE);
    push(exe.to_string(), EXEC, READ);
    push(format!("{BENCH_DIR}/"), 0, DIR | RECURSIVE | READ | WRITE);
    for i in 0..997 {
        match i % 3 {
            0 => push(format!("/usr/lib/pkg{i}/bin/tool{i}"), EXEC | DENY, 0),
            1 => push(format!("/etc/app{i}/secret{i}.conf"), 0, READ | WRITE | DENY),
            _ => push(format!("/srv/data{i}/"), 0, DIR | RECURSIVE | READ | WRITE | DENY),
        }
    }
    entries.sort_by_key(|e| e.key.to_bytes());
    MapImage { target: "bench/app/main".into(), entries, rules: vec![] }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    armor_runtime::ensure_bpffs()?;
    std::fs::create_dir_all(BENCH_DIR)?;
    let file_path = format!("{BENCH_DIR}/record.txt");
    let exe_path = format!("{BENCH_DIR}/true");
    std::fs::write(&file_path, "x")?;
    std::fs::write(&exe_path, mutate::tiny_elf())?;
    std::fs::set_permissions(&exe_path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let file = CString::new(file_path.clone())?;
    let exe = CString::new(exe_path.clone())?;
    let img = image(&file_path, &exe_path);
    assert_eq!(img.entries.len(), 1000);
    let pin = Path::new("/sys/fs/bpf/armorc-bench");
    let (mut base, mut armed) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        agent::down(pin)?;
        let b = measure(&file, &exe, |_| Ok(()));
        agent::up(pin, Throttle { max_per_sec: 0, throttle_sec: 0 })?;
        let mut targets = Targets::pinned(Some(pin))?;
        let a = measure(&file, &exe, |key| targets.apply(key, &img));
        println!(
            "round {round}: open+close {:.0} ns -> {:.0} ns, fork+exec {:.1} us -> {:.1} us",
            b.0,
            a.0,
            b.1 / 1e3,
            a.1 / 1e3
        );
        base.push(b);
        armed.push(a);
        std::thread::sleep(Duration::from_millis(100));
    }
    agent::down(pin)?;
    let m = |v: &[(f64, f64)], i: usize| median(v.iter().map(|x| if i == 0 { x.0 } else { x.1 }).collect());
    let (bo, ao, be, ae) = (m(&base, 0), m(&armed, 0), m(&base, 1), m(&armed, 1));
    println!(
        "median of {ROUNDS}: open+close {bo:.0} ns -> {ao:.0} ns = {:.2}x (goal <= 1.3x); fork+exec {:.1} us -> {:.1} us = {:.2}x (goal <= 1.2x)",
        ao / bo,
        be / 1e3,
        ae / 1e3,
        ae / be
    );
    Ok(())
}
