//! Layer blobs (`recommend::image::layer`: gzip/zstd/plain sniffing, tar entries, hostile names,
//! whiteouts, opaque dirs, os-release capture, links) through the whole layout pipeline: each
//! input is one or more layers (split at `#LAYER#\n`), written with correct digests and sizes into
//! an OCI layout that is loaded with `load_image("oci:DIR")`, then its squashed tree is walked.
#![no_main]

#[path = "oci_common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let layers = common::split(data, b"#LAYER#\n");
    if layers.len() > 8 {
        return;
    }
    let dir = common::fresh("layout");
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in &layers {
        let d = common::put_blob(&dir, l);
        diff_ids.push(d.clone());
        descs.push(json!({"mediaType": common::LAYER_TAR, "digest": d, "size": l.len()}));
    }
    let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let config = config.to_string();
    let cd = common::put_blob(&dir, config.as_bytes());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": descs,
    })
    .to_string();
    let md = common::put_blob(&dir, manifest.as_bytes());
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }]});
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index.json");
    common::load_and_walk(&format!("oci:{}:v1", dir.display()));
});
