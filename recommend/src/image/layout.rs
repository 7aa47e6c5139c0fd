//! OCI image layouts: a directory (`oci:DIR[:TAG]`) or an uncompressed tar of one
//! (`oci-archive:FILE[:TAG]`). Archives are indexed once (member offsets) and read in place, so
//! nothing is extracted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::layer::LayerError;
use super::manifest::{Descriptor, ManifestDoc, Platform};
use super::pipeline::{self, BlobStore, LayerStream};
use super::{ImageError, LoadOptions, LoadedImage};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Small JSON blobs above this size are refused (a manifest or config is a few KiB).
const MAX_SMALL_BLOB: u64 = 16 * 1024 * 1024;

/// Files of a layout or archive, by relative path.
pub(crate) enum Backing {
    Dir(PathBuf),
    /// Member name -> (data offset, size) inside the tar file.
    Archive {
        file: PathBuf,
        members: HashMap<String, (u64, u64)>,
    },
}

impl Backing {
    /// Indexes the members of an uncompressed tar archive.
    pub fn archive(path: &Path) -> Result<Backing, ImageError> {
        let shown = path.display();
        let mut file = File::open(path).map_err(|e| ImageError::Source(format!("{shown}: {e}")))?;
        let mut magic = [0u8; 4];
        let n = file.read(&mut magic).map_err(|e| ImageError::Source(format!("{shown}: {e}")))?;
        if magic[..n].starts_with(&[0x1f, 0x8b]) || magic[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(ImageError::Source(format!(
                "{shown}: compressed archive; decompress it first (e.g. gunzip/unzstd) so it can be read in place"
            )));
        }
        file.seek(SeekFrom::Start(0)).map_err(|e| ImageError::Source(format!("{shown}: {e}")))?;
        let mut archive = tar::Archive::new(BufReader::new(file));
        let mut members = HashMap::new();
        let bad = |e: std::io::Error| ImageError::Source(format!("{shown}: not a valid tar archive: {e}"));
        for entry in archive.entries().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = name.trim_start_matches("./").to_string();
            members.insert(name, (entry.raw_file_position(), entry.size()));
        }
        Ok(Backing::Archive { file: path.to_path_buf(), members })
    }

    fn describe(&self) -> String {
        match self {
            Backing::Dir(d) => d.display().to_string(),
            Backing::Archive { file, .. } => file.display().to_string(),
        }
    }

    /// Opens `rel`, returning the reader and its size. In a directory only regular files are
    /// read: a symlink (e.g. to /dev/zero), FIFO or device is refused before any byte is read.
    pub fn open(&self, rel: &str) -> std::io::Result<(Box<dyn Read + Send>, u64)> {
        match self {
            Backing::Dir(dir) => {
                use std::os::unix::fs::OpenOptionsExt;
                let not_regular = || {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "not a regular file (symlink, FIFO or device)",
                    )
                };
                // O_NOFOLLOW: a symlink fails with ELOOP; O_NONBLOCK: opening a FIFO does not wait
                // for a writer (no effect on regular files).
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(dir.join(rel))
                    .map_err(|e| if e.raw_os_error() == Some(libc::ELOOP) { not_regular() } else { e })?;
                let meta = f.metadata()?;
                if !meta.is_file() {
                    return Err(not_regular());
                }
                Ok((Box::new(BufReader::with_capacity(256 * 1024, f)), meta.len()))
            }
            Backing::Archive { file, members } => {
                let (offset, size) = *members.get(rel).ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, format!("no member `{rel}` in archive"))
                })?;
                let mut f = File::open(file)?;
                f.seek(SeekFrom::Start(offset))?;
                Ok((Box::new(BufReader::with_capacity(256 * 1024, f).take(size)), size))
            }
        }
    }

    /// Reads the blob `rel` whose descriptor declares `desc.size`: exactly that many bytes, and
    /// only when the file has exactly that size (checked before reading, so a huge blob declared
    /// small fails at once).
    fn read_declared(&self, rel: &str, desc: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let err = |m: String| ImageError::Source(format!("{}: {rel}: {m}", self.describe()));
        let (reader, actual) = self.open(rel).map_err(|e| err(e.to_string()))?;
        let size = check_declared_size(desc, actual).map_err(err)?;
        if size > MAX_SMALL_BLOB {
            return Err(err(format!("{size} bytes is too large for metadata (limit {MAX_SMALL_BLOB})")));
        }
        let mut buf = Vec::with_capacity(size as usize);
        reader.take(size).read_to_end(&mut buf).map_err(|e| err(e.to_string()))?;
        if buf.len() as u64 != size {
            return Err(err(format!("blob ended after {} of its declared {size} bytes", buf.len())));
        }
        Ok(buf)
    }

    /// Reads a small file whole.
    pub fn read_small(&self, rel: &str) -> Result<Vec<u8>, ImageError> {
        let err = |e: std::io::Error| ImageError::Source(format!("{}: {rel}: {e}", self.describe()));
        let (reader, size) = self.open(rel).map_err(err)?;
        if size > MAX_SMALL_BLOB {
            return Err(ImageError::Source(format!(
                "{}: {rel}: {size} bytes is too large for metadata",
                self.describe()
            )));
        }
        let mut buf = Vec::with_capacity(size as usize);
        reader.take(MAX_SMALL_BLOB).read_to_end(&mut buf).map_err(err)?;
        Ok(buf)
    }
}

/// `sha256:<64 hex>` -> `blobs/sha256/<hex>`; anything else is refused (no path tricks).
pub(crate) fn blob_path(digest: &str) -> Result<String, String> {
    match digest.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(format!("blobs/sha256/{hex}"))
        }
        _ => Err(format!("unsupported or malformed digest `{digest}`")),
    }
}

/// The descriptor's `size` must be a real size and equal the blob's (OCI image-spec, descriptor).
pub(crate) fn check_declared_size(desc: &Descriptor, actual: u64) -> Result<u64, String> {
    let declared = u64::try_from(desc.size).map_err(|_| format!("invalid declared size {}", desc.size))?;
    if declared != actual {
        return Err(format!("declared size {declared} bytes, but the blob has {actual} bytes"));
    }
    Ok(declared)
}

pub(crate) fn verify(bytes: &[u8], digest: &str, what: &str) -> Result<(), ImageError> {
    let actual = format!("sha256:{:x}", Sha256::digest(bytes));
    if actual != digest {
        return Err(ImageError::Source(format!("{what}: digest mismatch: expected {digest}, got {actual}")));
    }
    Ok(())
}

struct LayoutStore {
    backing: Backing,
}

impl BlobStore for LayoutStore {
    fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let rel =
            blob_path(&desc.digest).map_err(|m| ImageError::Source(format!("{}: {m}", self.backing.describe())))?;
        let bytes = self.backing.read_declared(&rel, desc)?;
        verify(&bytes, &desc.digest, &format!("{}: {rel}", self.backing.describe()))?;
        Ok(bytes)
    }

    fn open_layer(&self, desc: &Descriptor) -> Result<LayerStream<'_>, LayerError> {
        let rel = blob_path(&desc.digest).map_err(LayerError::Content)?;
        let err = |m: String| LayerError::Content(format!("{}: {rel}: {m}", self.backing.describe()));
        let (reader, actual) = self.backing.open(&rel).map_err(|e| err(e.to_string()))?;
        check_declared_size(desc, actual).map_err(err)?;
        Ok(LayerStream { reader, verified_by_source: false })
    }
}

/// Splits `PATH[:TAG]`: the whole string when it names an existing path, else at the last `:`.
fn split_tag(rest: &str) -> (PathBuf, Option<String>) {
    if Path::new(rest).exists() {
        return (PathBuf::from(rest), None);
    }
    match rest.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') && !tag.is_empty() => (PathBuf::from(path), Some(tag.to_string())),
        _ => (PathBuf::from(rest), None),
    }
}

pub(crate) fn load_dir(
    spec: &str,
    rest: &str,
    wanted: Option<&Platform>,
    opts: &LoadOptions,
) -> Result<LoadedImage, ImageError> {
    let (dir, tag) = split_tag(rest);
    if !dir.is_dir() {
        return Err(ImageError::Source(format!("{spec}: {} is not a directory", dir.display())));
    }
    load_layout(spec, Backing::Dir(dir), tag.as_deref(), wanted, opts)
}

pub(crate) fn load_archive(
    spec: &str,
    rest: &str,
    wanted: Option<&Platform>,
    opts: &LoadOptions,
) -> Result<LoadedImage, ImageError> {
    let (file, tag) = split_tag(rest);
    let backing = Backing::archive(&file)?;
    load_layout(spec, backing, tag.as_deref(), wanted, opts)
}

fn load_layout(
    spec: &str,
    backing: Backing,
    tag: Option<&str>,
    wanted: Option<&Platform>,
    opts: &LoadOptions,
) -> Result<LoadedImage, ImageError> {
    let where_ = backing.describe();
    let marker = backing
        .read_small("oci-layout")
        .map_err(|_| ImageError::Source(format!("{spec}: {where_} is not an OCI layout (no `oci-layout` file)")))?;
    check_layout_version(&marker).map_err(|m| ImageError::Source(format!("{spec}: {where_}/oci-layout: {m}")))?;
    let index_bytes = backing.read_small("index.json")?;
    let top = ManifestDoc::parse(&index_bytes, &format!("{where_}/index.json"))?;
    let entries = top.manifests.clone().unwrap_or_default();
    let tags: Vec<&str> =
        entries.iter().filter_map(|d| d.annotations.as_ref()?.get(REF_NAME).map(String::as_str)).collect();
    // Every entry by tag, or by digest when it has none (errors list them all).
    let names: Vec<&str> = entries
        .iter()
        .map(|d| d.annotations.as_ref().and_then(|a| a.get(REF_NAME)).map_or(d.digest.as_str(), String::as_str))
        .collect();
    let store = LayoutStore { backing };
    let resolved = match tag {
        Some(tag) => {
            let entry = entries
                .iter()
                .find(|d| d.annotations.as_ref().and_then(|a| a.get(REF_NAME)).is_some_and(|t| t == tag))
                .ok_or_else(|| {
                    ImageError::Source(format!("{spec}: no image tagged `{tag}` (tags: {})", list(&tags)))
                })?;
            let doc = ManifestDoc::parse(&store.read_blob(entry)?, &format!("{spec}: {}", entry.digest))?;
            pipeline::resolve(&store, doc, entry.digest.clone(), wanted, spec)?
        }
        None if entries.len() == 1 => {
            let entry = &entries[0];
            let doc = ManifestDoc::parse(&store.read_blob(entry)?, &format!("{spec}: {}", entry.digest))?;
            pipeline::resolve(&store, doc, entry.digest.clone(), wanted, spec)?
        }
        // index.json listing one image per platform acts as the index itself.
        None if !entries.is_empty() && entries.iter().all(|d| d.platform.is_some()) => {
            pipeline::resolve(&store, top, String::new(), wanted, spec).map_err(|e| match e {
                ImageError::Ambiguous { platform, .. } => ImageError::Source(format!(
                    "{spec}: several images for {platform} and no tag given; name one as {spec}:TAG (images: {})",
                    list(&names)
                )),
                other => other,
            })?
        }
        None if entries.is_empty() => return Err(ImageError::Source(format!("{spec}: the layout holds no images"))),
        None => {
            return Err(ImageError::Source(format!(
                "{spec}: several images; name one as {spec}:TAG (images: {})",
                list(&names)
            )))
        }
    };
    let (index, os_release) = pipeline::load_layers(&store, &resolved.layers, opts)?;
    Ok(LoadedImage {
        reference: spec.to_string(),
        digest: resolved.digest,
        platform: resolved.config.platform().to_string(),
        index,
        os_release,
    })
}

/// `oci-layout` must be `{"imageLayoutVersion": "1.x.y"}`: other major versions are a format we
/// do not know.
fn check_layout_version(bytes: &[u8]) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Marker {
        image_layout_version: String,
    }
    let marker: Marker = serde_json::from_slice(bytes).map_err(|e| format!("not a valid layout marker: {e}"))?;
    let v = &marker.image_layout_version;
    if v.split('.').next() != Some("1") || !v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("imageLayoutVersion `{}` is not supported (expected 1.x)", v.escape_debug()));
    }
    Ok(())
}

fn list(tags: &[&str]) -> String {
    if tags.is_empty() {
        "none".into()
    } else {
        tags.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(spec: &str) -> String {
        super::super::load_image(spec, &LoadOptions::default()).unwrap_err().to_string()
    }

    #[test]
    fn bad_local_sources_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(load(&format!("oci:{}", missing.display())).contains("is not a directory"));
        assert!(load(&format!("oci:{}", dir.path().display())).contains("is not an OCI layout"));
        let gz = dir.path().join("image.tar.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]).unwrap();
        assert!(load(&format!("oci-archive:{}", gz.display())).contains("compressed archive"));
        assert!(load(&format!("docker-archive:{}", gz.display())).contains("compressed archive"));
        let notar = dir.path().join("x.tar");
        std::fs::write(&notar, b"hello, this is not a tar archive at all").unwrap();
        let err = load(&format!("docker-archive:{}", notar.display()));
        assert!(err.contains("x.tar"), "{err}");
        assert!(load(&format!("docker-archive:{}:img:1", missing.display())).contains("no such file"));
    }

    #[test]
    fn blob_paths_refuse_traversal() {
        assert!(blob_path("sha256:../../etc/passwd").is_err());
        assert!(blob_path(&format!("sha512:{}", "a".repeat(128))).is_err());
        assert_eq!(
            blob_path(&format!("sha256:{}", "a".repeat(64))).unwrap(),
            format!("blobs/sha256/{}", "a".repeat(64))
        );
    }
}
