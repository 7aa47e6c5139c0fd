//! `docker-archive:FILE[:REF]`: the tarball `docker save` writes (`manifest.json` naming a config
//! and layer files). Read in place like an oci-archive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::layer::LayerError;
use super::layout::{verify, Backing};
use super::manifest::{ConfigDoc, Descriptor, Platform};
use super::pipeline::{self, BlobStore, LayerStream};
use super::{ImageError, LoadOptions, LoadedImage};

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
    fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let path =
            self.paths.get(&desc.digest).ok_or_else(|| ImageError::Source(format!("no blob {}", desc.digest)))?;
        self.backing.read_small(path)
    }

    fn open_layer(&self, desc: &Descriptor) -> Result<LayerStream<'_>, LayerError> {
        let path =
            self.paths.get(&desc.digest).ok_or_else(|| LayerError::Content(format!("no layer {}", desc.digest)))?;
        let (reader, _) = self.backing.open(path).map_err(|e| LayerError::Content(format!("{path}: {e}")))?;
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
) -> Result<LoadedImage, ImageError> {
    let (file, wanted_ref) = if Path::new(rest).exists() {
        (PathBuf::from(rest), None)
    } else {
        // FILE:REF where REF itself may contain a colon (name:tag): split at the first `:`
        // after which the file exists.
        let split = rest
            .match_indices(':')
            .map(|(i, _)| i)
            .find(|&i| Path::new(&rest[..i]).is_file())
            .ok_or_else(|| ImageError::Source(format!("{spec}: no such file")))?;
        (PathBuf::from(&rest[..split]), Some(rest[split + 1..].to_string()))
    };
    let backing = Backing::archive(&file)?;
    let manifest_bytes = backing
        .read_small("manifest.json")
        .map_err(|_| ImageError::Source(format!("{spec}: not a docker-archive (no manifest.json)")))?;
    let saved: Vec<SavedImage> = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| ImageError::Source(format!("{spec}: manifest.json: {e}")))?;
    let all_tags: Vec<String> = saved.iter().flat_map(|s| s.repo_tags.clone().unwrap_or_default()).collect();
    let image = match &wanted_ref {
        Some(r) => saved
            .iter()
            .find(|s| s.repo_tags.as_ref().is_some_and(|t| t.iter().any(|t| same_reference(t, r))))
            .ok_or_else(|| ImageError::Source(format!("{spec}: no image `{r}` (tags: {})", all_tags.join(", "))))?,
        None if saved.len() == 1 => &saved[0],
        None => {
            return Err(ImageError::Source(format!(
                "{spec}: {} images in the archive; name one as {spec}:REF (tags: {})",
                saved.len(),
                all_tags.join(", ")
            )))
        }
    };

    let config_bytes = backing.read_small(&image.config)?;
    let config_digest = expected_digest(&image.config, None)
        .ok_or_else(|| ImageError::Source(format!("{spec}: config name `{}` carries no digest", image.config)))?;
    verify(&config_bytes, &config_digest, &format!("{spec}: {}", image.config))?;
    let config = ConfigDoc::parse(&config_bytes, &format!("{spec}: {}", image.config))?;
    if let Some(wanted) = wanted {
        if !wanted.accepts(&config.platform()) {
            return Err(ImageError::Platform {
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
            .ok_or_else(|| ImageError::Source(format!("{spec}: layer `{member}` has no digest to verify")))?;
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
