//! Shared by the OCI targets: recommend reads images only from files (`load_image("oci:DIR")`,
//! `oci-archive:FILE`, `docker-archive:FILE`), so each input is written to a scratch directory
//! under $TMPDIR (scripts/fuzz.sh points it at a per-run directory it removes afterwards).
#![allow(dead_code)]

use armorc_recommend::image::{load_image, Limits, LoadOptions};
use armorc_recommend::FileIndex;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// A directory of this process, emptied by `fresh`.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("armorc-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

/// An empty directory `name` under the scratch directory.
pub fn fresh(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("fresh directory");
    dir
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Writes `bytes` as a blob of the layout at `dir`; returns its digest.
pub fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    let d = digest(bytes);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("blobs directory");
    std::fs::write(blobs.join(&d["sha256:".len()..]), bytes).expect("blob written");
    d
}

/// Small limits so one input stays fast (each is still exercised: inputs can exceed them).
pub fn options() -> LoadOptions {
    LoadOptions {
        limits: Limits {
            max_entries: 20_000,
            max_path_bytes: 4096,
            max_symlink_hops: 40,
            max_uncompressed_bytes: 16 << 20,
        },
        retries: 0,
        ..LoadOptions::default()
    }
}

/// Loads `spec` and, when it loads, walks the squashed tree as matching does (symlinks resolved).
pub fn load_and_walk(spec: &str) {
    match load_image(spec, &options()) {
        Ok(image) => walk(&image.index),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn walk(index: &FileIndex) {
    let _ = index.check_links();
    let paths: Vec<String> = index.paths().take(512).map(str::to_string).collect();
    for p in &paths {
        let _ = index.resolve_checked(p);
        let _ = index.is_executable(p);
    }
    for p in ["/", "/etc/os-release", "/bin/sh", "/usr/bin/python3", "/usr/lib/os-release"] {
        let _ = index.resolve_checked(p);
    }
    let _ = index.layer_files().count();
    let _ = index.os_release();
}

/// Splits `data` at `marker`.
pub fn split<'a>(data: &'a [u8], marker: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(marker.len()).position(|w| w == marker) {
        out.push(&rest[..at]);
        rest = &rest[at + marker.len()..];
    }
    out.push(rest);
    out
}
