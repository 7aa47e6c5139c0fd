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

    /// Opens `rel`, returning the reader and its size.
    pub fn open(&self, rel: &str) -> std::io::Result<(Box<dyn Read + Send>, u64)> {
        match self {
            Backing::Dir(dir) => {
                let f = File::open(dir.join(rel))?;
                let size = f.metadata()?.len();
                Ok((Box::new(BufReader::with_capacity(256 * 1024, f)), size))
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
        let bytes = self.backing.read_small(&rel)?;
        verify(&bytes, &desc.digest, &format!("{}: {rel}", self.backing.describe()))?;
        Ok(bytes)
    }

    fn open_layer(&self, desc: &Descriptor) -> Result<LayerStream<'_>, LayerError> {
        let rel = blob_path(&desc.digest).map_err(LayerError::Content)?;
        let (reader, _) = self
            .backing
            .open(&rel)
            .map_err(|e| LayerError::Content(format!("{}: {rel}: {e}", self.backing.describe())))?;
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
    backing
        .read_small("oci-layout")
        .map_err(|_| ImageError::Source(format!("{spec}: {where_} is not an OCI layout (no `oci-layout` file)")))?;
    let index_bytes = backing.read_small("index.json")?;
    let top = ManifestDoc::parse(&index_bytes, &format!("{where_}/index.json"))?;
    let entries = top.manifests.clone().unwrap_or_default();
    let tags: Vec<&str> =
        entries.iter().filter_map(|d| d.annotations.as_ref()?.get(REF_NAME).map(String::as_str)).collect();
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
            pipeline::resolve(&store, top, String::new(), wanted, spec)?
        }
        None if entries.is_empty() => return Err(ImageError::Source(format!("{spec}: the layout holds no images"))),
        None => {
            return Err(ImageError::Source(format!(
                "{spec}: several images; name one as {spec}:TAG (tags: {})",
                list(&tags)
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
