//! Whole-file reads with a size cap (docs/limits.md, "recommend"): a file that is larger, or a
//! device that never ends (`/dev/zero`), fails with an error naming the cap (callers add the
//! file) instead of growing until the OOM killer ends the run.

use std::io::Read;
use std::path::Path;

/// `-f` manifests (a file or stdin): many documents, each at most the compiler's 1.5 MiB.
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;
/// `-c` docker `config.json`.
pub const MAX_DOCKER_CONFIG_BYTES: u64 = 1024 * 1024;
/// One file of a template library (`meta.yaml`, `policy.yaml.hbs`, `metadata.yaml`, policies).
pub const MAX_TEMPLATE_FILE_BYTES: u64 = 1024 * 1024;
/// The template cache's `source.json`.
pub const MAX_CACHE_RECORD_BYTES: u64 = 64 * 1024;

/// Reads `reader` to the end as UTF-8, refusing more than `cap` bytes. The caller prefixes the
/// error with the input's name.
pub fn read_to_string_capped(reader: impl Read, cap: u64) -> std::io::Result<String> {
    let mut buf = Vec::new();
    // One byte past the cap tells "exactly at the cap" from "larger".
    reader.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than the {cap}-byte limit for this input"),
        ));
    }
    String::from_utf8(buf).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// Opens `path` and reads it with `read_to_string_capped`.
pub fn read_file_capped(path: &Path, cap: u64) -> std::io::Result<String> {
    read_to_string_capped(std::fs::File::open(path)?, cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_endless_input_and_names_it() {
        let err = read_file_capped(Path::new("/dev/zero"), 4096).unwrap_err().to_string();
        assert_eq!(err, "larger than the 4096-byte limit for this input");
        assert_eq!(read_to_string_capped(&b"abcd"[..], 4).unwrap(), "abcd");
        assert!(read_to_string_capped(&b"abcde"[..], 4).is_err());
    }
}
