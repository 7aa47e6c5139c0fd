//! `armorc recommend`: policies for container images from the template library (docs/recommend.md).

use crate::Status;
use armorc_recommend::report::Format;
use armorc_recommend::run::{self, ImagesRead, Job, Loaded, Options, RunError};
use armorc_recommend::templates::cache::{self, CacheError};
use armorc_recommend::templates::{self, Library};
use armorc_recommend::{load_image, readcap, workload, ImageLoadError, Limits, LoadOptions};
use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Why `armorc recommend` stops: the library's typed errors, mapped here to one message line
/// and an exit status.
#[derive(Debug)]
enum Failure {
    /// A usage error found by the CLI itself (flags, labels, namespace, `-f` input).
    Usage(String),
    /// `-r` names a path outside `-o`.
    Report(RunError),
    /// A `-f` manifest holds an invalid workload.
    Workload(workload::WorkloadFileError),
    /// No cache directory for `update` (a usage error: nothing can be written).
    NoCacheDir,
    /// `recommend update` failed; the cache is unchanged.
    Update(CacheError),
    /// The template library (built-in, cache or directory) cannot be loaded.
    Templates(CacheError),
    /// Writing the output or the report failed.
    Run(RunError),
}

impl Failure {
    fn exit_code(&self) -> Status {
        match self {
            Failure::Usage(_) | Failure::Report(_) | Failure::Workload(_) | Failure::NoCacheDir => Status::Usage,
            Failure::Update(_) | Failure::Templates(_) | Failure::Run(_) => Status::Failure,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) => f.write_str(m),
            Failure::Report(e) | Failure::Run(e) => write!(f, "{e}"),
            Failure::Workload(e) => write!(f, "{e}"),
            Failure::NoCacheDir => write!(f, "{}", CacheError::NoCacheDir),
            Failure::Update(e) => write!(f, "{e}"),
            Failure::Templates(e) => write!(f, "templates: {e}"),
        }
    }
}

/// Prints the failure as one `armorc recommend[ update]: ...` line and returns its exit status.
fn fail(failure: Failure) -> Status {
    let command = if matches!(failure, Failure::Update(_)) { "armorc recommend update" } else { "armorc recommend" };
    eprintln!("{command}: {failure}");
    failure.exit_code()
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Images to recommend for (repeatable, comma-separated): registry references,
    /// `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE`.
    #[arg(short = 'i', long = "image", value_delimiter = ',')]
    images: Vec<String>,
    /// Kubernetes manifests (`-` for stdin): every workload's containers, selected by the
    /// workload's matchLabels plus kubearmor.io/container.name.
    #[arg(short = 'f', long = "manifest")]
    manifests: Vec<String>,
    /// Namespace of the generated policies (cluster templates: `namespace In [NS]`).
    #[arg(short = 'n', long = "namespace")]
    namespace: Option<String>,
    /// Selector labels `k=v` for -i images (split on the first `=`; repeatable, comma-separated).
    #[arg(short = 'l', long = "labels", value_delimiter = ',')]
    labels: Vec<String>,
    /// Output directory.
    #[arg(short = 'o', long = "outdir", default_value = "out")]
    outdir: PathBuf,
    /// Report file name, relative, joined under -o (its extension picks the format unless --format).
    #[arg(short = 'r', long = "report", default_value = "report.txt")]
    report: PathBuf,
    /// Only templates with one of these tags (case-insensitive; `-` and `_` alike), e.g. PCI-DSS.
    #[arg(short = 't', long = "tag", value_delimiter = ',')]
    tags: Vec<String>,
    /// Docker config.json for registry credentials.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Platform of multi-arch images: os/arch[/variant] (default linux/amd64).
    #[arg(long)]
    platform: Option<String>,
    /// Registry hosts (host[:port]) reached over plain HTTP (loopback registries).
    #[arg(long = "plain-http", num_args = 1.., value_delimiter = ',')]
    plain_http: Vec<String>,
    /// Report format (default: from the extension of -r, else text).
    #[arg(long, value_parser = ["text", "markdown", "json", "html"])]
    format: Option<String>,
    /// List every skipped template and why, and the evidence of every recommendation.
    #[arg(long)]
    explain: bool,
    /// Override every Block/Audit action (safe rollout): only `Audit` is accepted.
    #[arg(long, value_parser = ["Audit"])]
    action: Option<String>,
    /// Node labels `k=v` for host templates (written to <outdir>/host/).
    #[arg(long = "node-labels", value_delimiter = ',')]
    node_labels: Option<Vec<String>>,
    /// Template library: builtin, cache (filled by `update`), or a directory.
    #[arg(long)]
    templates: Option<String>,
    /// Match legacy (policy-templates) preconditions exactly as karmor does.
    #[arg(long = "legacy-karmor")]
    legacy_karmor: bool,
    /// For images that cannot be read, still write the generic templates.
    #[arg(long = "allow-generic")]
    allow_generic: bool,
    /// Beside each policy, an `armorc test` file (`*.armortest.yaml`) with cases derived from its
    /// rules, targeting the container it was written for: `armorc test OUTDIR` runs them.
    #[arg(long = "with-tests")]
    with_tests: bool,
    /// Most entries in one image's squashed file tree.
    #[arg(long = "max-entries", default_value_t = Limits::default().max_entries)]
    max_entries: usize,
    /// Longest path (bytes) accepted in a layer.
    #[arg(long = "max-path-bytes", default_value_t = Limits::default().max_path_bytes)]
    max_path_bytes: usize,
    /// Most symlinks followed while resolving one path.
    #[arg(long = "max-symlink-hops", default_value_t = Limits::default().max_symlink_hops)]
    max_symlink_hops: u32,
    /// Most uncompressed layer bytes per image.
    #[arg(long = "max-uncompressed-bytes", default_value_t = Limits::default().max_uncompressed_bytes)]
    max_uncompressed_bytes: u64,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Fetch the template repository into the cache (validated, then swapped in atomically).
    Update {
        /// Git URL or path of the template repository (default: the one used last time).
        #[arg(long)]
        source: Option<String>,
        /// Branch, tag or commit to check out (default: the remote HEAD).
        #[arg(long = "ref")]
        rev: Option<String>,
    },
}

/// `k=v` pairs, split on the first `=`.
fn parse_labels(what: &str, items: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for item in items {
        let (k, v) =
            item.split_once('=').ok_or_else(|| Failure::Usage(format!("{what} `{item}`: expected key=value")))?;
        if !armorc_recommend::render::valid_label_key(k) || !armorc_recommend::render::valid_label_value(v) {
            return Err(Failure::Usage(format!(
                "{what} `{item}`: not a valid Kubernetes label (key {k:?}, value {v:?})"
            )));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn load_library(choice: Option<&str>) -> Result<Library, CacheError> {
    let root = cache::cache_root();
    match choice {
        Some("builtin") => Ok(templates::builtin()?),
        Some("cache") => cache::load(&root.ok_or(CacheError::NoCacheDir)?),
        Some(dir) => Ok(templates::from_dir(std::path::Path::new(dir))?),
        // The cache once `update` filled it, else the built-in set.
        None => match root.filter(|r| cache::is_filled(r)) {
            Some(r) => cache::load(&r),
            None => Ok(templates::builtin()?),
        },
    }
}

pub fn run(args: Args) -> Status {
    match recommend(args) {
        Ok(code) => code,
        Err(failure) => fail(failure),
    }
}

fn update(source: Option<&str>, rev: Option<&str>) -> Result<Status, Failure> {
    let root = cache::cache_root().ok_or(Failure::NoCacheDir)?;
    if source.is_none() && !cache::is_filled(&root) {
        return Err(Failure::Usage(
            "update: no template repository known yet: pass --source URL (a git URL or path)".into(),
        ));
    }
    let info = cache::update(&root, source, rev).map_err(Failure::Update)?;
    println!("templates updated: {} at {}", info.location, info.commit.unwrap_or_default());
    Ok(Status::Success)
}

fn recommend(args: Args) -> Result<Status, Failure> {
    if let Some(Sub::Update { source, rev }) = &args.command {
        return update(source.as_deref(), rev.as_deref());
    }
    if args.images.is_empty() && args.manifests.is_empty() {
        return Err(Failure::Usage("nothing to do: pass -i IMAGE and/or -f MANIFEST".into()));
    }
    let labels = parse_labels("-l", &args.labels)?;
    let node_labels = args.node_labels.as_deref().map(|n| parse_labels("--node-labels", n)).transpose()?;
    if let Some(ns) = &args.namespace {
        if !templates::is_dns_label(ns) {
            return Err(Failure::Usage(format!("-n {ns:?}: a namespace must be a DNS-1123 label")));
        }
    }
    let report = run::report_path(&args.outdir, &args.report).map_err(Failure::Report)?;
    let mut jobs: Vec<Job> = Vec::new();
    for image in args.images.iter().filter(|i| !i.is_empty()) {
        // An image given twice is recommended for once.
        if !jobs.iter().any(|j| &j.image == image) {
            jobs.push(Job { image: image.clone(), workload: None });
        }
    }
    for m in &args.manifests {
        let text = if m == "-" {
            readcap::read_to_string_capped(std::io::stdin().lock(), readcap::MAX_MANIFEST_BYTES)
        } else {
            readcap::read_file_capped(std::path::Path::new(m), readcap::MAX_MANIFEST_BYTES)
        };
        let text = text.map_err(|e| Failure::Usage(format!("-f {m}: {e}")))?;
        let containers = workload::parse(m, &text).map_err(Failure::Workload)?;
        if containers.is_empty() {
            return Err(Failure::Usage(format!("-f {m}: no workload with containers found")));
        }
        jobs.extend(containers.into_iter().map(|c| Job { image: c.image.clone(), workload: Some(c) }));
    }
    let library = load_library(args.templates.as_deref()).map_err(Failure::Templates)?;
    let format = args.format.as_deref().and_then(Format::parse).unwrap_or_else(|| Format::from_path(&report));
    let opts = Options {
        out_dir: args.outdir.clone(),
        report: report.clone(),
        format,
        tags: args.tags.clone(),
        namespace: args.namespace.clone(),
        labels,
        node_labels,
        action: args.action.clone(),
        explain: args.explain,
        legacy_karmor: args.legacy_karmor,
        allow_generic: args.allow_generic,
        progress: std::io::stderr().is_terminal(),
        with_tests: args.with_tests,
    };
    let load_opts = LoadOptions {
        platform: args.platform.clone(),
        plain_http: args.plain_http.clone(),
        docker_config: args.config.clone(),
        limits: Limits {
            max_entries: args.max_entries,
            max_path_bytes: args.max_path_bytes,
            max_symlink_hops: args.max_symlink_hops,
            max_uncompressed_bytes: args.max_uncompressed_bytes,
        },
        ..LoadOptions::default()
    };
    let loader = |spec: &str, progress| -> Result<Loaded, ImageLoadError> {
        let opts = LoadOptions { progress, ..load_opts.clone() };
        Ok(load_image(spec, &opts)?.into())
    };
    let (report_data, read) = run::run(&jobs, &library, &opts, &loader).map_err(Failure::Run)?;
    for i in report_data.images.iter().filter(|i| i.error.is_some()) {
        // Load errors already name the image.
        let error = i.error.as_deref().unwrap_or("");
        eprintln!("armorc recommend: {}", armorc_recommend::report::escape_controls(error));
    }
    if format == Format::Text {
        print!("{}", report_data.render(Format::Text));
    }
    eprintln!("report written to {}", report.display());
    Ok(match read {
        ImagesRead::All => Status::Success,
        ImagesRead::SomeFailed => Status::Failure,
    })
}
