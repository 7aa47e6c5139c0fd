//! The parts of OCI / Docker v2 manifests, indexes and image configs we read, and platform
//! selection from an index.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::ImageLoadError;

/// `--platform` that is not `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform `{spec}`: expected os/arch[/variant], e.g. linux/arm64")]
pub struct PlatformParseError {
    pub spec: String,
}

/// A descriptor's declared size that cannot be right (OCI image-spec, descriptor).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("invalid declared size {0}")]
    Invalid(i64),
    #[error("declared size {declared} bytes, but the blob has {actual} bytes")]
    Mismatch { declared: u64, actual: u64 },
}

/// A manifest, index or config that is malformed or names something we cannot read. `what` names
/// the document (image reference or file, and digest).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{what}: not a valid manifest: {error}")]
    Invalid { what: String, error: serde_json::Error },
    #[error("{what}: Docker schema 1 manifests are not supported (re-push the image)")]
    SchemaV1 { what: String },
    #[error("{what}: neither an index nor an image manifest")]
    NeitherIndexNorManifest { what: String },
    #[error("{what}: not a valid image config: {error}")]
    InvalidConfig { what: String, error: serde_json::Error },
    #[error("{what}: indexes nested more than 4 deep")]
    NestedTooDeep { what: String },
    #[error("{what}: blob {digest}: {error}")]
    BlobSize { what: String, digest: String, error: SizeError },
    #[error("{what}: layer {digest}: unsupported media type `{}` (expected an OCI or Docker image layer)", media_type.escape_debug())]
    LayerMediaType { what: String, digest: String, media_type: String },
    #[error("{what}: layer {digest}: invalid declared size {size}")]
    LayerSize { what: String, digest: String, size: i64 },
}

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const ALL_MANIFEST_TYPES: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub platform: Option<PlatformJson>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct PlatformJson {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// An index or an image manifest (told apart by which fields are present).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ManifestDoc {
    #[serde(default)]
    pub schema_version: Option<u32>,
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
}

impl ManifestDoc {
    pub fn parse(bytes: &[u8], what: &str) -> Result<ManifestDoc, ManifestError> {
        let doc: ManifestDoc =
            serde_json::from_slice(bytes).map_err(|error| ManifestError::Invalid { what: what.to_string(), error })?;
        if doc.schema_version == Some(1) {
            return Err(ManifestError::SchemaV1 { what: what.to_string() });
        }
        if doc.manifests.is_none() && doc.config.is_none() {
            return Err(ManifestError::NeitherIndexNorManifest { what: what.to_string() });
        }
        Ok(doc)
    }

    pub fn is_index(&self) -> bool {
        self.manifests.is_some()
    }
}

/// The fields of an image config we use.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct ConfigDoc {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ConfigDoc {
    pub fn parse(bytes: &[u8], what: &str) -> Result<ConfigDoc, ManifestError> {
        serde_json::from_slice(bytes).map_err(|error| ManifestError::InvalidConfig { what: what.to_string(), error })
    }

    pub fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

/// `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            arch: arch.to_string(),
            variant: variant.filter(|v| !v.is_empty()).map(str::to_string),
        }
    }

    pub fn linux_amd64() -> Platform {
        Platform::new("linux", "amd64", None)
    }

    /// Variant with the defaults filled in (arm64 means arm64/v8), for comparison.
    fn effective_variant(&self) -> Option<&str> {
        match (self.arch.as_str(), self.variant.as_deref()) {
            ("arm64", None) => Some("v8"),
            (_, v) => v,
        }
    }

    /// Does an image of platform `have` satisfy this (wanted) platform? A wanted platform
    /// without variant accepts any variant.
    pub fn accepts(&self, have: &Platform) -> bool {
        self.os == have.os
            && self.arch == have.arch
            && (self.variant.is_none() || self.effective_variant() == have.effective_variant())
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(PlatformParseError { spec: s.to_string() }),
        }
    }
}

/// Layer media types of the OCI image spec and Docker's v2 schema 2; anything else (an artifact, a
/// Helm chart, a typo) is not a filesystem layer we can read.
const LAYER_TYPES: [&str; 9] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// Checks what a manifest says about one layer before anything is fetched: a known media type and
/// a size that can be real.
pub(crate) fn check_layer_descriptor(d: &Descriptor, what: &str) -> Result<(), ManifestError> {
    if !LAYER_TYPES.contains(&d.media_type.as_str()) {
        return Err(ManifestError::LayerMediaType {
            what: what.to_string(),
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
        });
    }
    if d.size < 0 {
        return Err(ManifestError::LayerSize { what: what.to_string(), digest: d.digest.clone(), size: d.size });
    }
    Ok(())
}

/// Attestation and other non-image entries buildx puts into indexes.
fn is_attestation(d: &Descriptor) -> bool {
    let unknown = d.platform.as_ref().is_some_and(|p| p.os == "unknown" && p.architecture == "unknown");
    let annotated = d
        .annotations
        .as_ref()
        .and_then(|a| a.get("vnd.docker.reference.type"))
        .is_some_and(|t| t == "attestation-manifest");
    unknown || annotated
}

/// Picks the index entry for `wanted`: exact variant first, else the first entry the platform
/// accepts. No match is an error naming every platform on offer.
pub(crate) fn select_platform<'a>(
    entries: &'a [Descriptor],
    wanted: &Platform,
) -> Result<&'a Descriptor, ImageLoadError> {
    let candidates: Vec<(&Descriptor, Platform)> = entries
        .iter()
        .filter(|d| !is_attestation(d))
        .filter_map(|d| {
            let p = d.platform.as_ref()?;
            Some((d, Platform::new(&p.os, &p.architecture, p.variant.as_deref())))
        })
        .collect();
    let exact = candidates.iter().find(|(_, p)| p == wanted);
    let chosen = exact.or_else(|| candidates.iter().find(|(_, p)| wanted.accepts(p)));
    match chosen {
        Some((d, chosen)) => {
            // Two entries of the very same platform: picking the first would be a silent guess.
            let same: Vec<String> = candidates
                .iter()
                .filter(|(_, p)| p == chosen)
                .map(|(d, _)| {
                    d.annotations
                        .as_ref()
                        .and_then(|a| a.get("org.opencontainers.image.ref.name"))
                        .map_or(d.digest.clone(), |t| format!("{t} ({})", d.digest))
                })
                .collect();
            if same.len() > 1 {
                return Err(ImageLoadError::Ambiguous { platform: chosen.to_string(), candidates: same });
            }
            Ok(d)
        }
        None => {
            let mut available: Vec<String> = candidates.iter().map(|(_, p)| p.to_string()).collect();
            available.dedup();
            Err(ImageLoadError::Platform { wanted: wanted.to_string(), available })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>, digest: &str) -> Descriptor {
        Descriptor {
            digest: digest.into(),
            platform: Some(PlatformJson { os: os.into(), architecture: arch.into(), variant: variant.map(Into::into) }),
            ..Default::default()
        }
    }

    #[test]
    fn platform_selection() {
        let entries = vec![
            entry("linux", "amd64", None, "a"),
            entry("linux", "arm", Some("v6"), "b"),
            entry("linux", "arm", Some("v7"), "c"),
            entry("linux", "arm64", Some("v8"), "d"),
            entry("unknown", "unknown", None, "att"),
        ];
        let pick = |s: &str| select_platform(&entries, &s.parse().unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64").unwrap(), "a");
        assert_eq!(pick("linux/arm/v7").unwrap(), "c");
        assert_eq!(pick("linux/arm64").unwrap(), "d");
        let err = pick("linux/s390x").unwrap_err().to_string();
        assert_eq!(
            err,
            "no image for platform linux/s390x; available: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8"
        );
        assert!(pick("unknown/unknown").is_err());
    }

    #[test]
    fn platform_parsing() {
        assert_eq!("linux/arm64/v8".parse::<Platform>().unwrap().to_string(), "linux/arm64/v8");
        for bad in ["linux", "linux/", "a/b/c/d", "linux/amd 64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }
}
