//! `armor-loader` on hostile input, before any kernel work: inputs without an end stop at the
//! read cap, over-full map images are refused, and `remove` creates no kernel state.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use armorc_compiler::image::{Entry, Key, MapImage, Value, DENY, EXEC, KIND_PATH, MAX_ENTRIES};
use std::path::Path;
use std::process::Command;

fn loader(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_armor-loader")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn image(entries: usize) -> MapImage {
    let entries = (0..entries)
        .map(|i| {
            let path = format!("/bin/p{i}");
            Entry {
                key: Key::path(KIND_PATH, path.as_bytes(), None),
                value: Value { process: EXEC | DENY, file: 0, rule: u32::MAX },
                text: path,
            }
        })
        .collect();
    MapImage { target: "host".into(), entries, rules: Vec::new() }
}

/// `verify` with an image or a queries file that never ends (/dev/zero): a clear error naming
/// the file, exit 1, before the kernel is touched (it used to read until the OOM killer).
#[test]
fn verify_stops_endless_inputs_at_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("t.img");
    std::fs::write(&img, image(3).encode()).unwrap();
    for args in [["verify", "/dev/zero", "q.jsonl"], ["verify", img.to_str().unwrap(), "/dev/zero"]] {
        let (code, out, err) = loader(&args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(err.contains("/dev/zero: larger than 64 MiB"), "{args:?}: {err}");
    }
}

/// An image over the entries a target may hold is refused on read (the kernel map is never
/// made), at exactly MAX_ENTRIES + 1.
#[test]
fn images_over_the_entry_cap_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q.jsonl");
    std::fs::write(&q, "").unwrap();
    let over = dir.path().join("over.img");
    std::fs::write(&over, image(MAX_ENTRIES + 1).encode()).unwrap();
    let pin = dir.path().join("pins");
    let pin = pin.to_str().unwrap();
    for args in [
        vec!["verify", over.to_str().unwrap(), q.to_str().unwrap()],
        vec!["apply", over.to_str().unwrap(), "--host", "--pin-dir", pin],
    ] {
        let (code, out, err) = loader(&args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(err.contains(&format!("{} entries, more than the {MAX_ENTRIES}", MAX_ENTRIES + 1)), "{args:?}: {err}");
    }
    assert!(!Path::new(pin).exists(), "a refused image created {pin}");
    assert_eq!(MapImage::decode(&image(MAX_ENTRIES).encode()).unwrap().entries.len(), MAX_ENTRIES);
}

/// `remove` with a pin directory where nothing is pinned: nothing to remove, and nothing made
/// (it used to create the directory and pin an empty map).
#[test]
fn remove_creates_no_kernel_state() {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        // Without root nothing could be created anyway; the check needs root to mean something.
        common::skip_or_fail("needs root (bpffs)");
        return;
    }
    armor_runtime::ensure_bpffs().unwrap();
    let pin = format!("/sys/fs/bpf/armorc-remove-test-{}", std::process::id());
    for args in [
        vec!["remove", "--host", "--pin-dir", &pin],
        vec!["remove", "--pid-ns", "5", "--mnt-ns", "6", "--pin-dir", &pin],
    ] {
        let (code, out, err) = loader(&args);
        let _ = std::fs::remove_file(Path::new(&pin).join(armor_runtime::TARGETS_MAP));
        let created = Path::new(&pin).exists();
        let _ = std::fs::remove_dir(&pin);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        assert!(out.contains("no rule map for"), "{args:?}: {out}");
        assert!(!created, "{args:?} created {pin}");
    }
}
