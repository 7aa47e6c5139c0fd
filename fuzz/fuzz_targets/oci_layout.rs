//! OCI layout metadata (`recommend::image::{layout, manifest, pipeline}`): `index.json`, nested
//! image indexes, manifests, configs, descriptors, platform selection, tags. The input is blobs
//! separated by `\n#BLOB#\n`: the first is `index.json`, the others are stored under their real
//! digests. So that mutations keep digests valid, `@D<n>@` in blob i (n > i) is replaced by blob
//! n's digest and `@S<n>@` by its size (blobs are completed from the last to the first). A first
//! line `#TAG name` loads `oci:DIR:name`, `#PLATFORM os/arch` sets `--platform`.
#![no_main]

#[path = "oci_common.rs"]
mod common;

use armorc_recommend::image::load_image;
use libfuzzer_sys::fuzz_target;

fn substitute(blob: &[u8], later: &[(usize, String, usize)]) -> Vec<u8> {
    let mut out = blob.to_vec();
    for (n, digest, size) in later {
        out = replace(&out, format!("@D{n}@").as_bytes(), digest.as_bytes());
        out = replace(&out, format!("@S{n}@").as_bytes(), size.to_string().as_bytes());
    }
    out
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let parts = common::split(hay, from);
    parts.join(to)
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let mut tag = None;
    let mut platform = None;
    // Header lines: `#TAG name`, `#PLATFORM os/arch`.
    while let Some(line_end) = data.iter().position(|&b| b == b'\n') {
        let line = &data[..line_end];
        if let Some(t) = line.strip_prefix(b"#TAG ") {
            tag = Some(String::from_utf8_lossy(t).into_owned());
        } else if let Some(p) = line.strip_prefix(b"#PLATFORM ") {
            platform = Some(String::from_utf8_lossy(p).into_owned());
        } else {
            break;
        }
        data = &data[line_end + 1..];
    }
    let blobs = common::split(data, b"\n#BLOB#\n");
    if blobs.len() > 16 {
        return;
    }
    let dir = common::fresh("layout");
    // (n, digest, size) of every blob after the current one.
    let mut done: Vec<(usize, String, usize)> = Vec::new();
    for (i, blob) in blobs.iter().enumerate().skip(1).rev() {
        let bytes = substitute(blob, &done);
        let d = common::put_blob(&dir, &bytes);
        done.push((i, d, bytes.len()));
    }
    let index = substitute(blobs[0], &done);
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    std::fs::write(dir.join("index.json"), index).expect("index.json");
    let mut spec = format!("oci:{}", dir.display());
    if let Some(t) = tag {
        spec = format!("{spec}:{t}");
    }
    match platform {
        None => common::load_and_walk(&spec),
        Some(p) => {
            let opts = armorc_recommend::LoadOptions { platform: Some(p), ..common::options() };
            let _ = load_image(&spec, &opts).map_err(|e| e.to_string());
        }
    }
});
