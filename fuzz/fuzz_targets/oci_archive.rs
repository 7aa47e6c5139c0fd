//! Image archives (`recommend::image::{layout, archive}`): the input is a tar file loaded as
//! `oci-archive:FILE` (an OCI layout read in place by member offsets) and as `docker-archive:FILE`
//! (`docker save`: manifest.json, config and layers named by digest).
#![no_main]

#[path = "oci_common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = common::fresh("archive");
    let file = dir.join("image.tar");
    std::fs::write(&file, data).expect("archive written");
    common::load_and_walk(&format!("oci-archive:{}", file.display()));
    common::load_and_walk(&format!("docker-archive:{}", file.display()));
});
