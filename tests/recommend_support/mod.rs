//! Test images for the `armorc recommend` CLI tests: OCI layout directories with one
//! uncompressed layer, built with the system `tar` and `sha256sum` (no daemon, no extra crates).
// Included by several test binaries, each using a subset of these items.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

pub fn sha256_file(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().expect("sha256sum");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// An entry of a test image.
pub enum Entry<'a> {
    File(&'a str, u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

/// Build an OCI layout directory with one uncompressed layer; returns `oci:DIR:v1`.
pub fn oci_layout(root: &Path, name: &str, entries: &[Entry]) -> String {
    let rootfs = root.join(format!("{name}-rootfs"));
    std::fs::create_dir_all(&rootfs).unwrap();
    for e in entries {
        match e {
            Entry::Dir(p) => std::fs::create_dir_all(rootfs.join(&p[1..])).unwrap(),
            Entry::File(p, mode) => {
                let f = rootfs.join(&p[1..]);
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                if !f.is_dir() {
                    std::fs::write(&f, b"x").unwrap();
                    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(*mode)).unwrap();
                }
            }
            Entry::Symlink(p, target) => {
                let f = rootfs.join(&p[1..]);
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(target, f).unwrap();
            }
        }
    }
    let layout = root.join(name);
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let layer = root.join(format!("{name}-layer.tar"));
    let st = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    let layer_digest = sha256_file(&layer);
    let layer_size = std::fs::metadata(&layer).unwrap().len();
    std::fs::rename(&layer, blobs.join(&layer_digest)).unwrap();
    let put = |text: String| -> (String, usize) {
        let tmp = root.join("blob.tmp");
        std::fs::write(&tmp, &text).unwrap();
        let d = sha256_file(&tmp);
        std::fs::rename(&tmp, blobs.join(&d)).unwrap();
        (d, text.len())
    };
    let (config, config_size) = put(format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["sha256:{layer_digest}"]}},"config":{{}}}}"#
    ));
    let (manifest, manifest_size) = put(format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{layer_digest}","size":{layer_size}}}]}}"#
    ));
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{manifest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#
        ),
    )
    .unwrap();
    format!("oci:{}:v1", layout.display())
}

pub fn tools_present() -> bool {
    ["tar", "sha256sum"].iter().all(|t| Command::new(t).arg("--version").output().is_ok_and(|o| o.status.success()))
}
