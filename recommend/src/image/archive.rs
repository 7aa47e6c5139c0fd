//! `docker-archive:FILE[:REF]`: the tarball `docker save` writes (`manifest.json` naming a config
//! and layer files). Read in place like an oci-archive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::layer::LayerError;
use super::layout::{verify, Backing};
use super::manifest::{ConfigDoc, Descriptor, Platform};
use super::pipeline::{self, BlobStore, LayerStream};
use super::{ImageLoadError, LoadOptions, LoadedImage};

/// Why a `docker-archive:` tarball cannot be used (the tar itself: [`super::LayoutError`]).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{spec}: no such file")]
    NoSuchFile { spec: String },
    #[error("{spec}: not a docker-archive (no manifest.json)")]
    NoManifest { spec: String },
    #[error("{spec}: manifest.json: {error}")]
    Manifest { spec: String, error: serde_json::Error },
    #[error("{spec}: no image `{reference}` (tags: {})", tags.join(", "))]
    NoSuchImage { spec: String, reference: String, tags: Vec<String> },
    #[error("{spec}: {count} images in the archive; name one as {spec}:REF (tags: {})", tags.join(", "))]
    SeveralImages { spec: String, count: usize, tags: Vec<String> },
    #[error("{spec}: config name `{config}` carries no digest")]
    ConfigWithoutDigest { spec: String, config: String },
    #[error("{spec}: layer `{member}` has no digest to verify")]
    LayerWithoutDigest { spec: String, member: String },
    #[error("no blob {0}")]
    MissingBlob(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

struct DockerArchiveStore {
    backing: Backing,
    /// Layer digest -> member path.
    paths: HashMap<String, String>,
}

impl BlobStore for DockerArchiveStore {
    fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImageLoadError> {
        let path = self.paths.get(&desc.digest).ok_or_else(|| ArchiveError::MissingBlob(desc.digest.clone()))?;
        Ok(self.backing.read_small(path)?)
    }

    fn open_layer(&self, desc: &Descriptor) -> Result<LayerStream<'_>, LayerError> {
        let path = self.paths.get(&desc.digest).ok_or_else(|| LayerError::Missing(desc.digest.clone()))?;
        let (reader, _) = self.backing.open(path).map_err(|error| LayerError::Open {
            source_name: self.backing.describe(),
            member: path.clone(),
            error,
        })?;
        Ok(LayerStream { reader, verified_by_source: false })
    }
}

/// The digest a member's content must have: its name says so (`blobs/sha256/<hex>`,
/// `<hex>.json`, `<hex>.tar`), else the config's diff_id for that layer (old `<id>/layer.tar` files).
fn expected_digest(member: &str, fallback: Option<&String>) -> Option<String> {
    let name = Path::new(member).file_name()?.to_str()?;
    let hex = name.strip_suffix(".json").or_else(|| name.strip_suffix(".tar")).unwrap_or(name);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(format!("sha256:{}", hex.to_ascii_lowercase()));
    }
    fallback.cloned()
}

/// `nginx:1` and `docker.io/library/nginx:1` name the same image.
fn same_reference(a: &str, b: &str) -> bool {
    let whole = |s: &str| s.parse::<oci_client::Reference>().map(|r| r.whole()).ok();
    a == b || (whole(a).is_some() && whole(a) == whole(b))
}

pub(crate) fn load_docker_archive(
    spec: &str,
    rest: &str,
    wanted: Option<&Platform>,
    opts: &LoadOptions,
) -> Result<LoadedImage, ImageLoadError> {
    let (file, wanted_ref) = if Path::new(rest).exists() {
        (PathBuf::from(rest), None)
    } else {
        // FILE:REF where REF itself may contain a colon (name:tag): split at the first `:`
        // after which the file exists.
        let split = rest
            .match_indices(':')
            .map(|(i, _)| i)
            .find(|&i| Path::new(&rest[..i]).is_file())
            .ok_or_else(|| ArchiveError::NoSuchFile { spec: spec.to_string() })?;
        (PathBuf::from(&rest[..split]), Some(rest[split + 1..].to_string()))
    };
    let backing = Backing::archive(&file)?;
    let manifest_bytes =
        backing.read_small("manifest.json").map_err(|_| ArchiveError::NoManifest { spec: spec.to_string() })?;
    let saved: Vec<SavedImage> = serde_json::from_slice(&manifest_bytes)
        .map_err(|error| ArchiveError::Manifest { spec: spec.to_string(), error })?;
    let all_tags: Vec<String> = saved.iter().flat_map(|s| s.repo_tags.clone().unwrap_or_default()).collect();
    let image = match &wanted_ref {
        Some(r) => saved
            .iter()
            .find(|s| s.repo_tags.as_ref().is_some_and(|t| t.iter().any(|t| same_reference(t, r))))
            .ok_or_else(|| ArchiveError::NoSuchImage {
                spec: spec.to_string(),
                reference: r.clone(),
                tags: all_tags.clone(),
            })?,
        None if saved.len() == 1 => &saved[0],
        None => {
            return Err(
                ArchiveError::SeveralImages { spec: spec.to_string(), count: saved.len(), tags: all_tags }.into()
            )
        }
    };

    let config_bytes = backing.read_small(&image.config)?;
    let config_digest = expected_digest(&image.config, None)
        .ok_or_else(|| ArchiveError::ConfigWithoutDigest { spec: spec.to_string(), config: image.config.clone() })?;
    verify(&config_bytes, &config_digest, &format!("{spec}: {}", image.config))?;
    let config = ConfigDoc::parse(&config_bytes, &format!("{spec}: {}", image.config))?;
    if let Some(wanted) = wanted {
        if !wanted.accepts(&config.platform()) {
            return Err(ImageLoadError::Platform {
                wanted: wanted.to_string(),
                available: vec![config.platform().to_string()],
            });
        }
    }
    let diff_ids = config.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default();
    let mut paths = HashMap::new();
    let mut layers = Vec::new();
    for (i, member) in image.layers.iter().enumerate() {
        let digest = expected_digest(member, diff_ids.get(i))
            .ok_or_else(|| ArchiveError::LayerWithoutDigest { spec: spec.to_string(), member: member.clone() })?;
        let size = match &backing {
            Backing::Archive { members, .. } => members.get(member.trim_start_matches("./")).map(|m| m.1).unwrap_or(0),
            Backing::Dir(_) => 0,
        };
        paths.insert(digest.clone(), member.trim_start_matches("./").to_string());
        layers.push(Descriptor { digest, size: size as i64, ..Default::default() });
    }
    let store = DockerArchiveStore { backing, paths };
    let (index, os_release) = pipeline::load_layers(&store, &layers, opts)?;
    Ok(LoadedImage {
        reference: spec.to_string(),
        digest: config_digest,
        platform: config.platform().to_string(),
        index,
        os_release,
    })
}
