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
pub use archive::ArchiveError;
pub use auth::AuthError;
pub use auth::{normalize_registry_host, Credentials};
pub use layer::LayerError;
pub use layout::LayoutError;
pub use manifest::{ManifestError, Platform, PlatformParseError};
pub use registry::RegistryError;

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

/// Why an image could not be loaded. The message always names the image part involved; each
/// source module has its own error type, kept typed here (`armorc recommend` prints the message).
#[derive(Debug, thiserror::Error)]
pub enum ImageLoadError {
    /// `--platform` is not `os/arch[/variant]`.
    #[error(transparent)]
    InvalidPlatform(#[from] manifest::PlatformParseError),
    /// No manifest for the wanted platform.
    #[error("no image for platform {wanted}; available: {}", list_or_none(available))]
    Platform { wanted: String, available: Vec<String> },
    /// Several manifests of an index have the chosen platform: (platform, tag or digest of each).
    #[error("several images for platform {platform} ({}); name one by tag or digest", candidates.join(", "))]
    Ambiguous { platform: String, candidates: Vec<String> },
    /// Credentials could not be found, read or safely sent.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The registry refused or failed a request, or the reference is not one.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A local OCI layout (directory or `oci-archive`) is missing or malformed.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A `docker-archive` tarball is missing or malformed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A manifest, index or config is malformed or names something we cannot read.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The layers declare more bytes than `--max-uncompressed-bytes` (refused before streaming).
    #[error(
        "layers declare {declared} bytes: limit max-uncompressed-bytes={limit} exceeded (raise it with --max-uncompressed-bytes)"
    )]
    DeclaredTooLarge { declared: u64, limit: u64 },
    /// A layer worker thread ended without a result (a panic in a worker).
    #[error("layer worker stopped unexpectedly")]
    WorkerStopped,
    /// A layer could not be read or is hostile.
    #[error("layer {digest}: {error}")]
    Layer { digest: String, error: LayerError },
    /// A layer's entries could not be applied to the squashed tree.
    #[error("layer {digest}: {error}")]
    LayerIndex { digest: String, error: IndexError },
    /// The squashed tree violates a limit or contains a symlink loop.
    #[error(transparent)]
    Index(#[from] IndexError),
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Loads the image named by `spec` (see module docs). Blocking: runs its own tokio runtime for
/// registry access, so call it from outside any async runtime.
pub fn load_image(spec: &str, opts: &LoadOptions) -> Result<LoadedImage, ImageLoadError> {
    let wanted = match &opts.platform {
        Some(p) => Some(p.parse::<Platform>().map_err(ImageLoadError::InvalidPlatform)?),
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
