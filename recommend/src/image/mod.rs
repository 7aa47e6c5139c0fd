//! Image sources without a daemon: registries (oci-client), OCI layout directories, `oci-archive:`
//! and `docker-archive:` tarballs. Every source ends in the same pipeline: pick the platform's
//! manifest, then stream each layer into a [`FileIndex`] (nothing from a layer touches the disk).
//!
//! Spec syntax: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REF]`, anything
//! else (optionally `docker://`-prefixed) is a registry reference.

mod archive;
mod auth;
mod layer;
mod layout;
mod manifest;
mod pipeline;
mod registry;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::index::{FileIndex, IndexError, Limits, OsRelease};
pub use auth::{normalize_registry_host, Credentials};
pub use manifest::Platform;

/// A loaded image: its identity and squashed file index.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// The reference as resolved (`docker.io/library/nginx:latest`) or the local spec.
    pub reference: String,
    /// Digest of the platform-specific image manifest (docker-archive: the config digest).
    pub digest: String,
    /// `os/arch[/variant]` of the loaded image.
    pub platform: String,
    pub index: FileIndex,
    pub os_release: Option<OsRelease>,
}

/// Byte progress of one image load (compressed layer bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub bytes_done: u64,
    pub bytes_total: u64,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How to load images.
#[derive(Clone)]
pub struct LoadOptions {
    /// `os/arch[/variant]`. `None`: indexes resolve to linux/amd64 and a single-platform image is
    /// taken as it is; `Some`: a single-platform image of another platform is an error too.
    pub platform: Option<String>,
    /// Registry hosts (`host[:port]`) reached over plain HTTP; also allows a token realm on them.
    pub plain_http: Vec<String>,
    /// docker `config.json` (file, or a directory holding one); else $DOCKER_CONFIG, else
    /// ~/.docker/config.json.
    pub docker_config: Option<PathBuf>,
    pub limits: Limits,
    pub progress: Option<ProgressFn>,
    /// Connect and read timeout for registry requests.
    pub timeout: Duration,
    /// Extra attempts for a failed registry request or interrupted layer stream.
    pub retries: u32,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            platform: None,
            plain_http: Vec::new(),
            docker_config: None,
            limits: Limits::default(),
            progress: None,
            timeout: Duration::from_secs(60),
            retries: 3,
        }
    }
}

impl fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("platform", &self.platform)
            .field("plain_http", &self.plain_http)
            .field("docker_config", &self.docker_config)
            .field("limits", &self.limits)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// Why an image could not be loaded. The message always names the image part involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// Bad spec, platform string or option.
    Usage(String),
    /// No manifest for the wanted platform.
    Platform { wanted: String, available: Vec<String> },
    /// Several manifests of an index have the chosen platform: (platform, tag or digest of each).
    Ambiguous { platform: String, candidates: Vec<String> },
    /// Credentials could not be found, read or safely sent.
    Auth(String),
    /// The registry refused or failed a request.
    Registry(String),
    /// A local layout or archive is missing or malformed.
    Source(String),
    /// A layer could not be read or is hostile.
    Layer { digest: String, message: String },
    /// The squashed tree violates a limit or contains a symlink loop.
    Index(IndexError),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Usage(m) | ImageError::Auth(m) | ImageError::Registry(m) | ImageError::Source(m) => {
                f.write_str(m)
            }
            ImageError::Platform { wanted, available } => {
                write!(f, "no image for platform {wanted}; available: ")?;
                if available.is_empty() {
                    f.write_str("none")
                } else {
                    f.write_str(&available.join(", "))
                }
            }
            ImageError::Ambiguous { platform, candidates } => write!(
                f,
                "several images for platform {platform} ({}); name one by tag or digest",
                candidates.join(", ")
            ),
            ImageError::Layer { digest, message } => write!(f, "layer {digest}: {message}"),
            ImageError::Index(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ImageError {}

impl From<IndexError> for ImageError {
    fn from(e: IndexError) -> Self {
        ImageError::Index(e)
    }
}

/// Loads the image named by `spec` (see module docs). Blocking: runs its own tokio runtime for
/// registry access, so call it from outside any async runtime.
pub fn load_image(spec: &str, opts: &LoadOptions) -> Result<LoadedImage, ImageError> {
    let wanted = match &opts.platform {
        Some(p) => Some(p.parse::<Platform>().map_err(ImageError::Usage)?),
        None => None,
    };
    let mut image = if let Some(rest) = spec.strip_prefix("oci:") {
        layout::load_dir(spec, rest, wanted.as_ref(), opts)
    } else if let Some(rest) = spec.strip_prefix("oci-archive:") {
        layout::load_archive(spec, rest, wanted.as_ref(), opts)
    } else if let Some(rest) = spec.strip_prefix("docker-archive:") {
        archive::load_docker_archive(spec, rest, wanted.as_ref(), opts)
    } else {
        let reference = spec.strip_prefix("docker://").unwrap_or(spec);
        registry::load(reference, wanted.as_ref(), opts)
    }?;
    image.index.set_os_release(image.os_release.clone());
    Ok(image)
}
