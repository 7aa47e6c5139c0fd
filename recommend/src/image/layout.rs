//! OCI image layouts: a directory (`oci:DIR[:TAG]`) or an uncompressed tar of one
//! (`oci-archive:FILE[:TAG]`). Archives are indexed once (member offsets) and read in place, so
//! nothing is extracted.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::layer::LayerError;
use super::manifest::{Descriptor, ManifestDoc, Platform, SizeError};
use super::pipeline::{self, BlobStore, LayerStream};
use super::{ImageLoadError, LoadOptions, LoadedImage};

/// A descriptor digest that is not `sha256:<64 lowercase hex>` (never turned into a path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported or malformed digest `{0}`")]
pub struct DigestError(pub String);

/// `oci-layout` that is not `{"imageLayoutVersion": "1.x"}`.
#[derive(Debug, thiserror::Error)]
pub enum LayoutVersionError {
    #[error("not a valid layout marker: {0}")]
    Marker(serde_json::Error),
    #[error("imageLayoutVersion `{}` is not supported (expected 1.x)", .0.escape_debug())]
    Unsupported(String),
}

/// Why an OCI layout directory or archive (or the tar under a docker-archive) cannot be read.
/// `spec` is the image spec as given; `source_name` the directory or archive file.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{}: {error}", path.display())]
    Open { path: PathBuf, error: std::io::Error },
    #[error("{}: compressed archive; decompress it first (e.g. gunzip/unzstd) so it can be read in place", path.display())]
    Compressed { path: PathBuf },
    #[error("{}: not a valid tar archive: {error}", path.display())]
    NotTar { path: PathBuf, error: std::io::Error },
    #[error("{source_name}: {member}: {error}")]
    Read { source_name: String, member: String, error: std::io::Error },
    #[error("{source_name}: {member}: {error}")]
    Size { source_name: String, member: String, error: SizeError },
    #[error("{source_name}: {member}: {size} bytes is too large for metadata (limit {limit})")]
    MetadataTooLarge { source_name: String, member: String, size: u64, limit: u64 },
    #[error("{source_name}: {member}: blob ended after {got} of its declared {size} bytes")]
    Truncated { source_name: String, member: String, got: u64, size: u64 },
    #[error("{source_name}: {error}")]
    Digest { source_name: String, error: DigestError },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("{spec}: {} is not a directory", dir.display())]
    NotADirectory { spec: String, dir: PathBuf },
    #[error("{spec}: {source_name} is not an OCI layout (no `oci-layout` file)")]
    NotALayout { spec: String, source_name: String },
    #[error("{spec}: {source_name}/oci-layout: {error}")]
    Version { spec: String, source_name: String, error: LayoutVersionError },
    #[error("{spec}: no image tagged `{tag}` (tags: {})", list(tags))]
    NoSuchTag { spec: String, tag: String, tags: Vec<String> },
    #[error(
        "{spec}: several images for {platform} and no tag given; name one as {spec}:TAG (images: {})",
        list(images)
    )]
    AmbiguousPlatform { spec: String, platform: String, images: Vec<String> },
    #[error("{spec}: the layout holds no images")]
    Empty { spec: String },
    #[error("{spec}: several images; name one as {spec}:TAG (images: {})", list(images))]
    SeveralImages { spec: String, images: Vec<String> },
}

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
    pub fn archive(path: &Path) -> Result<Backing, LayoutError> {
        let open = |error| LayoutError::Open { path: path.to_path_buf(), error };
        let mut file = File::open(path).map_err(open)?;
        let mut magic = [0u8; 4];
        let n = file.read(&mut magic).map_err(open)?;
        if magic[..n].starts_with(&[0x1f, 0x8b]) || magic[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(LayoutError::Compressed { path: path.to_path_buf() });
        }
        file.seek(SeekFrom::Start(0)).map_err(open)?;
        let mut archive = tar::Archive::new(BufReader::new(file));
        let mut members = HashMap::new();
        let bad = |error| LayoutError::NotTar { path: path.to_path_buf(), error };
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

    pub(crate) fn describe(&self) -> String {
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
    fn read_declared(&self, rel: &str, desc: &Descriptor) -> Result<Vec<u8>, LayoutError> {
        let read = |error| LayoutError::Read { source_name: self.describe(), member: rel.to_string(), error };
        let (reader, actual) = self.open(rel).map_err(read)?;
        let size = check_declared_size(desc, actual).map_err(|error| LayoutError::Size {
            source_name: self.describe(),
            member: rel.to_string(),
            error,
        })?;
        self.check_small(rel, size)?;
        let mut buf = Vec::with_capacity(size as usize);
        reader.take(size).read_to_end(&mut buf).map_err(read)?;
        if buf.len() as u64 != size {
            return Err(LayoutError::Truncated {
                source_name: self.describe(),
                member: rel.to_string(),
                got: buf.len() as u64,
                size,
            });
        }
        Ok(buf)
    }

    fn check_small(&self, rel: &str, size: u64) -> Result<(), LayoutError> {
        if size > MAX_SMALL_BLOB {
            return Err(LayoutError::MetadataTooLarge {
                source_name: self.describe(),
                member: rel.to_string(),
                size,
                limit: MAX_SMALL_BLOB,
            });
        }
        Ok(())
    }

    /// Reads a small file whole.
    pub fn read_small(&self, rel: &str) -> Result<Vec<u8>, LayoutError> {
        let err = |error| LayoutError::Read { source_name: self.describe(), member: rel.to_string(), error };
        let (reader, size) = self.open(rel).map_err(err)?;
        self.check_small(rel, size)?;
        let mut buf = Vec::with_capacity(size as usize);
        reader.take(MAX_SMALL_BLOB).read_to_end(&mut buf).map_err(err)?;
        Ok(buf)
    }
}

/// `sha256:<64 hex>` -> `blobs/sha256/<hex>`; anything else is refused (no path tricks).
pub(crate) fn blob_path(digest: &str) -> Result<String, DigestError> {
    match digest.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(format!("blobs/sha256/{hex}"))
        }
        _ => Err(DigestError(digest.to_string())),
    }
}

/// The descriptor's `size` must be a real size and equal the blob's (OCI image-spec, descriptor).
pub(crate) fn check_declared_size(desc: &Descriptor, actual: u64) -> Result<u64, SizeError> {
    let declared = u64::try_from(desc.size).map_err(|_| SizeError::Invalid(desc.size))?;
    if declared != actual {
        return Err(SizeError::Mismatch { declared, actual });
    }
    Ok(declared)
}

pub(crate) fn verify(bytes: &[u8], digest: &str, what: &str) -> Result<(), LayoutError> {
    let actual = format!("sha256:{:x}", Sha256::digest(bytes));
    if actual != digest {
        return Err(LayoutError::DigestMismatch { what: what.to_string(), expected: digest.to_string(), actual });
    }
    Ok(())
}

struct LayoutStore {
    backing: Backing,
}

impl BlobStore for LayoutStore {
    fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImageLoadError> {
        let rel = blob_path(&desc.digest)
            .map_err(|error| LayoutError::Digest { source_name: self.backing.describe(), error })?;
        let bytes = self.backing.read_declared(&rel, desc)?;
        verify(&bytes, &desc.digest, &format!("{}: {rel}", self.backing.describe()))?;
        Ok(bytes)
    }

    fn open_layer(&self, desc: &Descriptor) -> Result<LayerStream<'_>, LayerError> {
        let rel = blob_path(&desc.digest)?;
        let (reader, actual) = self.backing.open(&rel).map_err(|error| LayerError::Open {
            source_name: self.backing.describe(),
            member: rel.clone(),
            error,
        })?;
        check_declared_size(desc, actual).map_err(|error| LayerError::Size {
            source_name: self.backing.describe(),
            member: rel.clone(),
            error,
        })?;
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
) -> Result<LoadedImage, ImageLoadError> {
    let (dir, tag) = split_tag(rest);
    if !dir.is_dir() {
        return Err(LayoutError::NotADirectory { spec: spec.to_string(), dir }.into());
    }
    load_layout(spec, Backing::Dir(dir), tag.as_deref(), wanted, opts)
}

pub(crate) fn load_archive(
    spec: &str,
    rest: &str,
    wanted: Option<&Platform>,
    opts: &LoadOptions,
) -> Result<LoadedImage, ImageLoadError> {
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
) -> Result<LoadedImage, ImageLoadError> {
    let where_ = backing.describe();
    let marker = backing
        .read_small("oci-layout")
        .map_err(|_| LayoutError::NotALayout { spec: spec.to_string(), source_name: where_.clone() })?;
    check_layout_version(&marker).map_err(|error| LayoutError::Version {
        spec: spec.to_string(),
        source_name: where_.clone(),
        error,
    })?;
    let index_bytes = backing.read_small("index.json")?;
    let top = ManifestDoc::parse(&index_bytes, &format!("{where_}/index.json"))?;
    let entries = top.manifests.clone().unwrap_or_default();
    let tags: Vec<String> = entries.iter().filter_map(|d| d.annotations.as_ref()?.get(REF_NAME).cloned()).collect();
    // Every entry by tag, or by digest when it has none (errors list them all).
    let names: Vec<String> = entries
        .iter()
        .map(|d| d.annotations.as_ref().and_then(|a| a.get(REF_NAME)).unwrap_or(&d.digest).clone())
        .collect();
    let store = LayoutStore { backing };
    let resolved = match tag {
        Some(tag) => {
            let entry = entries
                .iter()
                .find(|d| d.annotations.as_ref().and_then(|a| a.get(REF_NAME)).is_some_and(|t| t == tag))
                .ok_or_else(|| LayoutError::NoSuchTag { spec: spec.to_string(), tag: tag.to_string(), tags })?;
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
                ImageLoadError::Ambiguous { platform, .. } => {
                    LayoutError::AmbiguousPlatform { spec: spec.to_string(), platform, images: names }.into()
                }
                other => other,
            })?
        }
        None if entries.is_empty() => return Err(LayoutError::Empty { spec: spec.to_string() }.into()),
        None => return Err(LayoutError::SeveralImages { spec: spec.to_string(), images: names }.into()),
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
fn check_layout_version(bytes: &[u8]) -> Result<(), LayoutVersionError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Marker {
        image_layout_version: String,
    }
    let marker: Marker = serde_json::from_slice(bytes).map_err(LayoutVersionError::Marker)?;
    let v = &marker.image_layout_version;
    if v.split('.').next() != Some("1") || !v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(LayoutVersionError::Unsupported(v.clone()));
    }
    Ok(())
}

fn list(tags: &[String]) -> String {
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
