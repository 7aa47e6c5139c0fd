//! One layer blob -> a list of index operations, streamed: raw bytes are hashed (when the source
//! does not verify them itself), decompressed (sniffed: plain tar, gzip or zstd) and read as a
//! tar; only entry headers are kept, except the small os-release files whose content we need.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use super::layout::DigestError;
use super::manifest::SizeError;
use crate::index::{normalize_entry_name, EntryKind, FileIndex, IndexError, Limits};

/// Files whose content we capture while streaming (os-release(5) locations).
const OS_RELEASE_PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];
const OS_RELEASE_MAX: u64 = 64 * 1024;

/// One change a layer makes to the squashed tree.
#[derive(Debug)]
pub(crate) enum LayerOp {
    Put(String, EntryKind),
    Whiteout(String),
    Opaque(String),
    /// A regular file that is not part of the tree (whiteout marker): listed for karmor's view.
    Listed(String),
}

#[derive(Debug, Default)]
pub(crate) struct ParsedLayer {
    pub ops: Vec<LayerOp>,
    /// (normalized path, content) of captured os-release files.
    pub captured: Vec<(String, String)>,
}

/// Why a layer could not be read. Transport errors ([`LayerError::is_transport`]) may be
/// retried; everything else is the content's fault and is not.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The registry could not start the blob stream (`reason`: the client's error chain).
    #[error("{host}: {reason}")]
    Fetch { host: String, reason: String, retryable: bool },
    /// A local layer file could not be opened (`source`: layout directory or archive file).
    #[error("{source_name}: {member}: {error}")]
    Open { source_name: String, member: String, error: io::Error },
    /// The layer file's size is not the descriptor's.
    #[error("{source_name}: {member}: {error}")]
    Size { source_name: String, member: String, error: SizeError },
    /// The descriptor names a digest that is no blob path.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// The descriptor's size is negative.
    #[error("invalid declared size {0}")]
    InvalidSize(i64),
    /// A docker-archive has no member for this layer digest.
    #[error("no layer {0}")]
    Missing(String),
    #[error("unsupported digest algorithm in `{0}`")]
    UnsupportedDigest(String),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    /// Reading stopped on a limit or digest check (reported through the reader).
    #[error("{0}")]
    Rejected(io::Error),
    /// The bytes are not a (compressed) tar archive.
    #[error("corrupt layer: {0}")]
    Corrupt(io::Error),
    /// Reading the stream failed (network, disk): retried.
    #[error("{0}")]
    Io(io::Error),
    /// A hostile or over-limit entry name.
    #[error(transparent)]
    Hostile(#[from] IndexError),
    #[error("link entry `{0}` has no target")]
    LinkWithoutTarget(String),
}

impl LayerError {
    /// Worth another attempt: the transport failed, not the content.
    pub fn is_transport(&self) -> bool {
        matches!(self, LayerError::Io(_) | LayerError::Fetch { retryable: true, .. })
    }
}

/// Shared per-image counters: uncompressed bytes (for the limit) and raw bytes (for progress).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub uncompressed: AtomicU64,
    pub raw: AtomicU64,
}

/// Hashes and counts the raw blob bytes as they pass.
struct RawReader<'a, R> {
    inner: R,
    hasher: Option<Sha256>,
    counters: &'a Counters,
    on_bytes: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for RawReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        if n > 0 {
            let total = self.counters.raw.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            (self.on_bytes)(total);
        }
        Ok(n)
    }
}

/// Counts uncompressed bytes against the per-image limit.
struct LimitReader<'a, R> {
    inner: R,
    counters: &'a Counters,
    limit: u64,
}

impl<R: Read> Read for LimitReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.counters.uncompressed.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > self.limit {
            return Err(io::Error::other(LimitExceeded(self.limit)));
        }
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("limit max-uncompressed-bytes={0} exceeded (raise it with --max-uncompressed-bytes)")]
struct LimitExceeded(u64);

/// What the caller knows about the blob.
pub(crate) struct BlobCheck<'a> {
    /// `sha256:<hex>` to verify, or `None` when the source already verifies it.
    pub digest: Option<&'a str>,
}

/// Reads one layer blob to the end and returns its operations.
pub(crate) fn parse_layer(
    blob: impl Read,
    check: BlobCheck<'_>,
    limits: &Limits,
    counters: &Counters,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<ParsedLayer, LayerError> {
    let hasher = match check.digest {
        Some(d) if d.starts_with("sha256:") => Some(Sha256::new()),
        Some(d) => return Err(LayerError::UnsupportedDigest(d.to_string())),
        None => None,
    };
    let mut raw = RawReader { inner: blob, hasher, counters, on_bytes };
    let parsed = {
        let mut buffered = BufReader::with_capacity(256 * 1024, &mut raw);
        let head = buffered.fill_buf().map_err(io_error)?;
        let decoded: Box<dyn Read + '_> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(io_error)?)
        } else {
            Box::new(buffered)
        };
        let limited = LimitReader { inner: decoded, counters, limit: limits.max_uncompressed_bytes };
        read_tar(limited, limits)?
        // decoders dropped here; bytes they buffered were already hashed
    };
    // The tar end marker may come before the end of the blob: hash the rest too.
    io::copy(&mut raw, &mut io::sink()).map_err(io_error)?;
    if let (Some(hasher), Some(expected)) = (raw.hasher.take(), check.digest) {
        let actual = format!("sha256:{:x}", hasher.finalize());
        if actual != expected {
            return Err(LayerError::DigestMismatch { expected: expected.to_string(), actual });
        }
    }
    Ok(parsed)
}

fn io_error(e: io::Error) -> LayerError {
    // Limit and digest failures come through io::Error too; they are not worth retrying.
    if e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>()) {
        return LayerError::Rejected(e);
    }
    let text = e.to_string();
    if text.contains("Digest") || text.contains("digest") {
        return LayerError::Rejected(e);
    }
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof => {
            LayerError::Corrupt(e)
        }
        _ => LayerError::Io(e),
    }
}

fn content(e: IndexError) -> LayerError {
    LayerError::Hostile(e)
}

fn read_tar(reader: impl Read, limits: &Limits) -> Result<ParsedLayer, LayerError> {
    let mut archive = tar::Archive::new(reader);
    let mut out = ParsedLayer::default();
    for entry in archive.entries().map_err(io_error)? {
        let mut entry = entry.map_err(io_error)?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = layer_path(&raw_path, limits)?;
        if out.ops.len() >= limits.max_entries {
            return Err(content(IndexError::Limit { name: "max-entries", limit: limits.max_entries as u64, path }));
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        let dir = if dir.is_empty() { "/" } else { dir };
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if entry.header().entry_type() == tar::EntryType::Regular {
                out.ops.push(LayerOp::Listed(path.clone()));
            }
            if hidden == ".wh..opq" {
                out.ops.push(LayerOp::Opaque(dir.to_string()));
            } else if matches!(hidden, "" | "." | "..") {
                // `.wh.`, `.wh..`, `.wh...` name no entry (`.` would delete the parent itself).
                return Err(content(IndexError::BareWhiteout(raw_path)));
            } else if hidden.starts_with(".wh.") {
                // Other AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not part of the tree.
            } else {
                let target = if dir == "/" { format!("/{hidden}") } else { format!("{dir}/{hidden}") };
                out.ops.push(LayerOp::Whiteout(target));
            }
            continue;
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                EntryKind::File { mode, size: entry.size() }
            }
            tar::EntryType::Directory => EntryKind::Dir { mode },
            tar::EntryType::Symlink => {
                let target = link_name(&entry, &raw_path)?;
                EntryKind::Symlink { target }
            }
            tar::EntryType::Link => {
                let target = link_name(&entry, &raw_path)?;
                let target = layer_path(&target, limits)?;
                EntryKind::Hardlink { target }
            }
            // PAX/GNU metadata records are consumed by the tar crate; anything else is "other".
            _ => EntryKind::Other,
        };
        if matches!(kind, EntryKind::File { size, .. } if size <= OS_RELEASE_MAX)
            && OS_RELEASE_PATHS.contains(&path.as_str())
        {
            let mut text = String::new();
            // Not UTF-8 means not an os-release file we can use; ignore its content.
            if entry.read_to_string(&mut text).is_ok() {
                out.captured.push((path.clone(), text));
            }
        }
        out.ops.push(LayerOp::Put(path, kind));
    }
    Ok(out)
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, raw_path: &str) -> Result<String, LayerError> {
    match entry.link_name_bytes() {
        Some(bytes) if !bytes.is_empty() => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        _ => Err(LayerError::LinkWithoutTarget(raw_path.to_string())),
    }
}

/// Validates a layer entry name (relative, as tar writes them) and returns it normalized as `/a/b`.
fn layer_path(raw: &str, limits: &Limits) -> Result<String, LayerError> {
    if raw.starts_with('/') {
        return Err(content(IndexError::Absolute(raw.to_string())));
    }
    normalize_entry_name(raw, limits).map_err(content)
}

/// Applies one parsed layer on top of the index.
pub(crate) fn apply_layer(index: &mut FileIndex, layer: &ParsedLayer) -> Result<(), IndexError> {
    index.begin_layer();
    for op in &layer.ops {
        match op {
            LayerOp::Put(path, kind) => index.insert(path, kind.clone())?,
            LayerOp::Whiteout(path) => index.whiteout(path)?,
            LayerOp::Opaque(dir) => index.opaque(dir)?,
            LayerOp::Listed(path) => index.record_layer_file(path)?,
        }
    }
    Ok(())
}

/// Tracks the os-release candidates seen so far (later layers win).
#[derive(Default)]
pub(crate) struct OsReleaseFiles(Vec<(String, String)>);

impl OsReleaseFiles {
    pub fn record(&mut self, layer: &ParsedLayer) {
        for (path, text) in &layer.captured {
            self.0.retain(|(p, _)| p != path);
            self.0.push((path.clone(), text.clone()));
        }
    }

    /// Reads /etc/os-release (falling back to /usr/lib/os-release) through the final tree.
    pub fn resolve(&self, index: &FileIndex) -> Option<crate::index::OsRelease> {
        OS_RELEASE_PATHS.iter().find_map(|candidate| {
            let (final_path, kind) = index.resolve(candidate)?;
            if !matches!(kind, EntryKind::File { .. }) {
                return None;
            }
            let (_, text) = self.0.iter().find(|(p, _)| *p == final_path)?;
            crate::index::OsRelease::parse(text)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, ty, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*ty);
            h.set_mode(0o755);
            h.set_size(data.len() as u64);
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            // set_path refuses `..`; write the raw name bytes to build hostile archives.
            let name = path.as_bytes();
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn parse(bytes: &[u8]) -> Result<ParsedLayer, LayerError> {
        let digest = format!("sha256:{:x}", Sha256::digest(bytes));
        parse_layer(bytes, BlobCheck { digest: Some(&digest) }, &Limits::default(), &Counters::default(), &|_| {})
    }

    #[test]
    fn gzip_and_zstd_are_sniffed_and_os_release_captured() {
        let tar = tar_of(&[
            ("etc/os-release", tar::EntryType::Regular, b"ID=debian\nVERSION_ID=\"12\"\n", None),
            ("bin/sh", tar::EntryType::Symlink, b"", Some("dash")),
        ]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        for blob in [tar.clone(), gz, zst] {
            let layer = parse(&blob).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(layer.ops.len(), 2);
            assert_eq!(layer.captured[0].0, "/etc/os-release");
        }
    }

    #[test]
    fn digest_mismatch_is_reported() {
        let tar = tar_of(&[("a", tar::EntryType::Regular, b"x", None)]);
        let wrong = format!("sha256:{}", "0".repeat(64));
        let err = parse_layer(
            &tar[..],
            BlobCheck { digest: Some(&wrong) },
            &Limits::default(),
            &Counters::default(),
            &|_| {},
        )
        .unwrap_err();
        assert!(matches!(&err, LayerError::DigestMismatch { .. }), "{err:?}");
        assert!(err.to_string().contains("digest mismatch"), "{err}");
    }

    #[test]
    fn hostile_entries_are_rejected() {
        for (name, needle) in [("../etc/x", "`..`"), ("/etc/x", "absolute"), ("etc/.wh.", "names no entry")] {
            let tar = tar_of(&[(name, tar::EntryType::Regular, b"", None)]);
            match parse(&tar) {
                Err(e @ LayerError::Hostile(_)) => assert!(e.to_string().contains(needle), "{name}: {e}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        let tar = tar_of(&[("usr/bin/x", tar::EntryType::Link, b"", Some("../../etc/shadow"))]);
        assert!(matches!(parse(&tar), Err(e @ LayerError::Hostile(_)) if e.to_string().contains("`..`")));
    }

    #[test]
    fn uncompressed_limit_is_named() {
        let tar = tar_of(&[("big", tar::EntryType::Regular, &[0u8; 10_000], None)]);
        let limits = Limits { max_uncompressed_bytes: 4096, ..Limits::default() };
        let err =
            parse_layer(&tar[..], BlobCheck { digest: None }, &limits, &Counters::default(), &|_| {}).unwrap_err();
        assert!(matches!(&err, LayerError::Rejected(_)), "{err:?}");
        assert!(err.to_string().contains("max-uncompressed-bytes=4096"), "{err}");
    }
}
