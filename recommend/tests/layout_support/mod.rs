//! OCI image layouts crafted byte by byte for the integration tests: uncompressed layers with raw
//! (also hostile) entry names, config, manifest and index written by hand.
// Included by several test binaries, each using a subset of these items.
#![allow(dead_code)]

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;

pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// An uncompressed layer: (raw name, kind) where kind is `f` (file 0755), `d` (dir) or `l:TARGET`.
pub fn layer(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_size(0);
        match *kind {
            "f" => h.set_entry_type(tar::EntryType::Regular),
            "d" => h.set_entry_type(tar::EntryType::Directory),
            l => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_link_name(l.strip_prefix("l:").unwrap()).unwrap();
            }
        }
        // set_path refuses `..` and control characters; hostile names go in raw.
        let raw = name.as_bytes();
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn put_blob(dir: &Path, bytes: &[u8]) -> (String, i64) {
    let hex = format!("{:x}", Sha256::digest(bytes));
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len() as i64)
}

/// Writes config + manifest for `layers`; `tweak` may edit the manifest JSON before it is stored.
/// Returns the manifest's index entry (no tag).
pub fn image(dir: &Path, layers: &[Vec<u8>], tweak: impl Fn(&mut Value)) -> Value {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let (digest, size) = put_blob(dir, l);
        diff_ids.push(digest.clone());
        descs.push(json!({"mediaType": LAYER_TAR, "digest": digest, "size": size}));
    }
    let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let (cd, cs) = put_blob(dir, config.to_string().as_bytes());
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": descs,
    });
    tweak(&mut manifest);
    let (md, ms) = put_blob(dir, manifest.to_string().as_bytes());
    json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms})
}

pub fn write_index(dir: &Path, entries: Vec<Value>) {
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(dir.join("index.json"), json!({"schemaVersion": 2, "manifests": entries}).to_string()).unwrap();
}

pub fn tagged(mut entry: Value, tag: &str) -> Value {
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    entry
}

/// A one-image layout at `dir` with `layers`, tagged `v1`; returns `oci:DIR:v1`.
pub fn layout(dir: &Path, layers: &[Vec<u8>], tweak: impl Fn(&mut Value)) -> String {
    let entry = image(dir, layers, tweak);
    write_index(dir, vec![tagged(entry, "v1")]);
    format!("oci:{}:v1", dir.display())
}
