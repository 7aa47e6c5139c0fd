//! Map-image decode (`armorc query --image`, `explain`, armor-loader): the input as it is, and the
//! input with its header's payload length and checksum recomputed (as someone crafting a file
//! would), so mutations reach the structural checks behind the checksum. Oracles: no panic; an
//! accepted image re-encodes to bytes that decode to the same image; the decision model runs on it.
#![no_main]

use armorc_compiler::image::{MapImage, HEADER_SIZE};
use armorc_compiler::model::{Model, Op, Query};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// Header bytes covered by the checksum (docs/map-image.md: the 32-byte SHA-256 follows them).
const HEADER_CHECKED: usize = 40;

fn with_valid_checksum(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < HEADER_SIZE {
        return None;
    }
    let mut b = data.to_vec();
    let payload_len = (b.len() - HEADER_SIZE) as u64;
    b[32..40].copy_from_slice(&payload_len.to_le_bytes());
    let mut h = Sha256::new();
    h.update(&b[..HEADER_CHECKED]);
    h.update(&b[HEADER_SIZE..]);
    let sum: [u8; 32] = h.finalize().into();
    b[HEADER_CHECKED..HEADER_SIZE].copy_from_slice(&sum);
    Some(b)
}

fn exercise(image: &MapImage) {
    let bytes = image.encode();
    let again = match MapImage::decode(&bytes) {
        Ok(i) => i,
        Err(e) => panic!("an accepted image re-encodes to bytes decode refuses: {e}"),
    };
    assert_eq!(&again, image, "decode(encode(image)) differs");
    assert_eq!(again.encode(), bytes, "encode is not stable");
    let model = Model::new(image);
    for e in image.entries.iter().take(64) {
        for op in [Op::Exec, Op::Open, Op::Write] {
            let mut q = Query::new(op);
            q.path = e.main_text().as_bytes().to_vec();
            if let Some(s) = e.source_text() {
                q.source = s.as_bytes().to_vec();
            }
            let _ = armorc_compiler::query::answer_operation(image, &model.decide_operation(&q));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = MapImage::decode(data) {
        exercise(&image);
    }
    if let Some(fixed) = with_valid_checksum(data) {
        let _ = armorc_compiler::image::format_version(&fixed);
        if let Ok(image) = MapImage::decode(&fixed) {
            exercise(&image);
        }
    }
});
