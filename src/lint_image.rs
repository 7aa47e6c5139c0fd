//! `armorc lint --image` and `--workloads`: images loaded with recommend's loaders (registry, OCI
//! layout, archives; nothing extracted) and checked by `compiler::image_paths` (I001-I005): the
//! `--image` images against every policy, each `--workloads` container's image against the
//! policies that select the container (`compose::selects_container`, as compile selects them).

use crate::collect::InputArgs;
use crate::Status;
use armorc_compiler::compose::selects_container;
use armorc_compiler::diag::Diagnostic;
use armorc_compiler::image_paths::{self, ImageFiles, Kind};
use armorc_compiler::ir::Policy;
use armorc_compiler::source::SourceFile;
use armorc_recommend::report::escape_controls;
use armorc_recommend::{load_image, EntryKind, ImageLoadError, LoadOptions, LoadedImage};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Image flags of `armorc lint` (recommend's image-access flags).
#[derive(clap::Args, Clone, Debug, Default)]
#[command(group(clap::ArgGroup::new("sources").multiple(true)))]
pub struct ImageArgs {
    /// Check every policy's paths against this image (repeatable, comma-separated): a registry
    /// reference, `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE`.
    #[arg(short = 'i', long = "image", value_name = "IMAGE", value_delimiter = ',', group = "sources")]
    pub images: Vec<String>,
    /// Workload files or directories (Pod, Deployment, ...; repeatable): each policy is checked
    /// against the images of the containers (and init containers) it selects, their volume mounts
    /// taken as run-time paths.
    #[arg(long, value_name = "PATH", group = "sources")]
    pub workloads: Vec<String>,
    /// Docker config.json for registry credentials (`recommend -c`; lint's --config is armorc.toml).
    #[arg(long = "docker-config", value_name = "FILE", requires = "sources")]
    pub docker_config: Option<PathBuf>,
    /// Platform of multi-arch images: os/arch[/variant] (default linux/amd64).
    #[arg(long, value_name = "PLATFORM", requires = "sources")]
    pub platform: Option<String>,
    /// Registry hosts (host[:port]) reached over plain HTTP (loopback registries).
    #[arg(long = "plain-http", value_name = "HOST", num_args = 1.., value_delimiter = ',', requires = "sources")]
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
    fn options(&self) -> LoadOptions {
        LoadOptions {
            platform: self.platform.clone(),
            plain_http: self.plain_http.clone(),
            docker_config: self.docker_config.clone(),
            ..LoadOptions::default()
        }
    }

    /// Loads every `--image` once, in order; the first that cannot be read is the error (naming it).
    pub fn load(&self) -> Result<Vec<Image>, String> {
        let options = self.options();
        let mut images: Vec<Image> = Vec::new();
        for spec in self.images.iter().filter(|s| !s.is_empty()) {
            load_once(spec, &options, &mut images)
                .map_err(|e| escape_controls(&format!("--image {spec}: cannot read the image: {e}")).into_owned())?;
        }
        Ok(images)
    }
}

/// The index of `spec` in `images`, loaded and added the first time.
fn load_once(spec: &str, options: &LoadOptions, images: &mut Vec<Image>) -> Result<usize, ImageLoadError> {
    if let Some(at) = images.iter().position(|i| i.spec == spec) {
        return Ok(at);
    }
    let loaded = load_image(spec, options)?;
    images.push(Image { spec: spec.to_string(), loaded, executables: OnceLock::new() });
    Ok(images.len() - 1)
}

/// A `--workloads` container as the checks see it: what selects it, its image, its mounts.
struct Selected {
    namespace: String,
    labels: BTreeMap<String, String>,
    container: String,
    image: usize,
    mounts: Vec<String>,
}

/// What `lint` checks policies against: the `--image` images (every policy) and the
/// `--workloads` containers' images (the policies that select them), each loaded once.
#[derive(Default)]
pub struct Images {
    images: Vec<Image>,
    /// `--image` images (indexes into `images`).
    every_policy: Vec<usize>,
    containers: Vec<Selected>,
}

impl Images {
    /// Reads `--workloads` and loads every image once. Errors (an unreadable workload file, an
    /// image that cannot be read, named at the workload's `image:` field) are printed; the status
    /// is then 2.
    pub fn load(args: &ImageArgs, inputs: &InputArgs) -> Result<Images, Status> {
        let failed = |message: String| {
            eprintln!("armorc lint: {}", escape_controls(&message));
            Status::Usage
        };
        let mut out = Images { images: args.load().map_err(failed)?, ..Images::default() };
        out.every_policy = (0..out.images.len()).collect();
        let workloads = crate::compile::read_workloads(&args.workloads, inputs, "lint").map_err(|_| Status::Usage)?;
        let options = args.options();
        for w in &workloads.workloads {
            let namespace = w.namespace_or_default();
            for c in w.init_containers.iter().chain(&w.containers) {
                let described = format!("container {} of {} {namespace}/{}", c.name, w.kind, w.name);
                let (Some(spec), Some(at)) = (&c.image, &c.image_location) else {
                    eprintln!("{}: note: {described} names no image: not checked", c.location);
                    continue;
                };
                let image = load_once(spec, &options, &mut out.images)
                    .map_err(|e| failed(format!("{at}: image {spec} of {described}: cannot read the image: {e}")))?;
                out.containers.push(Selected {
                    namespace: namespace.to_string(),
                    labels: w.labels.clone(),
                    container: c.name.clone(),
                    image,
                    mounts: c.mounts.clone(),
                });
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The findings of one file's policies: each against the `--image` images and the images of
    /// the workload containers it selects, whose mounts are run-time paths.
    pub fn check_file(&self, file: &Arc<SourceFile>, policies: &[Policy]) -> Vec<Diagnostic> {
        let mut found = Vec::new();
        for p in policies {
            let mut chosen = self.every_policy.clone();
            let mut mounts: Vec<String> = Vec::new();
            for c in &self.containers {
                if selects_container(p, &c.namespace, &c.labels, &c.container) {
                    if !chosen.contains(&c.image) {
                        chosen.push(c.image);
                    }
                    mounts.extend(c.mounts.iter().cloned());
                }
            }
            let files: Vec<&dyn ImageFiles> = chosen.iter().map(|&i| &self.images[i] as &dyn ImageFiles).collect();
            found.extend(image_paths::check(p, file, &files, &mounts));
        }
        found
    }
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
