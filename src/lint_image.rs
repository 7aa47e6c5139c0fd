//! `armorc lint --image`: images loaded with recommend's loaders (registry, OCI layout, archives;
//! nothing extracted) and checked by `compiler::image_paths` against every policy (I001-I005).

use armorc_compiler::diag::Diagnostic;
use armorc_compiler::image_paths::{self, ImageFiles, Kind};
use armorc_compiler::ir::Policy;
use armorc_compiler::source::SourceFile;
use armorc_recommend::report::escape_controls;
use armorc_recommend::{load_image, EntryKind, LoadOptions, LoadedImage};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Image flags of `armorc lint` (recommend's image-access flags).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ImageArgs {
    /// Check every policy's paths against this image (repeatable, comma-separated): a registry
    /// reference, `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE`.
    #[arg(short = 'i', long = "image", value_name = "IMAGE", value_delimiter = ',')]
    pub images: Vec<String>,
    /// Docker config.json for registry credentials (`recommend -c`; lint's --config is armorc.toml).
    #[arg(long = "docker-config", value_name = "FILE", requires = "images")]
    pub docker_config: Option<PathBuf>,
    /// Platform of multi-arch images: os/arch[/variant] (default linux/amd64).
    #[arg(long, value_name = "PLATFORM", requires = "images")]
    pub platform: Option<String>,
    /// Registry hosts (host[:port]) reached over plain HTTP (loopback registries).
    #[arg(long = "plain-http", value_name = "HOST", num_args = 1.., value_delimiter = ',', requires = "images")]
    pub plain_http: Vec<String>,
}

/// One loaded image as the checks see it.
pub struct Image {
    spec: String,
    loaded: LoadedImage,
    /// File names of executables, built on first use (only execname rules need it).
    executables: OnceLock<HashSet<Box<str>>>,
}

impl ImageArgs {
    /// Loads every image once, in order; the first that cannot be read is the error (naming it).
    pub fn load(&self) -> Result<Vec<Image>, String> {
        let options = LoadOptions {
            platform: self.platform.clone(),
            plain_http: self.plain_http.clone(),
            docker_config: self.docker_config.clone(),
            ..LoadOptions::default()
        };
        let mut images: Vec<Image> = Vec::new();
        for spec in self.images.iter().filter(|s| !s.is_empty()) {
            if images.iter().any(|i| &i.spec == spec) {
                continue;
            }
            let loaded = load_image(spec, &options)
                .map_err(|e| escape_controls(&format!("--image {spec}: cannot read the image: {e}")))?;
            images.push(Image { spec: spec.clone(), loaded, executables: OnceLock::new() });
        }
        Ok(images)
    }
}

/// The findings of one file's policies against `images`.
pub fn check_file(images: &[Image], file: &Arc<SourceFile>, policies: &[Policy]) -> Vec<Diagnostic> {
    let files: Vec<&dyn ImageFiles> = images.iter().map(|i| i as &dyn ImageFiles).collect();
    policies.iter().flat_map(|p| image_paths::check(p, file, &files)).collect()
}

fn kind(entry: &EntryKind) -> Kind {
    match entry {
        EntryKind::Dir { .. } => Kind::Dir,
        EntryKind::File { .. } => Kind::File,
        EntryKind::Symlink { target } => Kind::Symlink(target.clone()),
        EntryKind::Hardlink { .. } => Kind::Hardlink,
        EntryKind::Other => Kind::Other,
    }
}

impl ImageFiles for Image {
    fn name(&self) -> &str {
        &self.spec
    }

    fn lookup(&self, path: &str) -> Option<Kind> {
        self.loaded.index.lookup(path).map(kind)
    }

    fn resolve(&self, path: &str) -> Option<(String, Kind)> {
        self.loaded.index.resolve(path).map(|(p, e)| (p, kind(e)))
    }

    fn has_executable_named(&self, name: &str) -> bool {
        let index = &self.loaded.index;
        let names = self.executables.get_or_init(|| {
            index
                .entries()
                .filter(|(_, e)| matches!(e, EntryKind::File { .. } | EntryKind::Hardlink { .. }))
                .filter(|(path, _)| index.is_executable(path))
                .filter_map(|(path, _)| path.rsplit('/').next().map(Box::from))
                .collect()
        });
        names.contains(name)
    }
}
