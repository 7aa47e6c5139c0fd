//! `armorc lint`: check the inputs (src/collect.rs), with `--image`/`--workloads` also against images
//! (src/lint_image.rs), and render one report; the exit status from `--deny`.

use crate::collect::{collect_with, FileCheck, InputArgs, Mode};
use crate::lint_image::{ImageArgs, Images};
use crate::{plural, write_stdout, Status};
use armorc_compiler::render::{self, Format};

const AFTER_LONG_HELP: &str = "\
Checks KubeArmorPolicy, KubeArmorHostPolicy and KubeArmorClusterPolicy documents. Errors are what
the Kubernetes API server would reject (or invalid YAML); warnings are accepted by the API server
but suspicious, ineffective, or enforced differently than written. Documents of other kinds are
counted as skipped. Every code is explained in docs/diagnostics.md.

Inputs:
  FILE    read as named (a symlink is followed); it may hold several YAML documents
  DIR     every *.yaml and *.yml below it, recursively, in sorted order; symlinks inside it are
          followed only with --follow
  -       standard input, reported as file `-`

Formats (--format):
  human   file:line:col, the source lines with the span underlined, code, severity, help, and a
          summary line (default)
  json    exactly one object: {\"version\":1,\"summary\":{\"files\",\"documents\",\"skipped\",
          \"errors\",\"warnings\",\"suppressed\"},\"diagnostics\":[{\"code\",\"severity\",\"file\",
          \"line\",\"column\",\"end_line\",\"end_column\",\"message\",\"help\"}]}; 1-based lines and
          columns (Unicode scalar values, end exclusive)
  sarif   SARIF 2.1.0 for code scanning; URIs relative to the git top-level (uriBaseId SRCROOT)
  github  GitHub Actions annotations (::error file=...,line=...,col=...::message)
With json, sarif and github, standard output carries only that format; notes go to stderr.

Images (--image, repeatable; the image-access flags of `armorc recommend`):
  IMAGE   a registry reference (nginx:1.27, registry.example/app@sha256:...), oci:DIR[:TAG],
          oci-archive:FILE[:TAG] or docker-archive:FILE; read without extraction or a daemon
  Every path rule (process and file, matchPaths and matchDirectories, fromSource paths) and every
  execname is checked against the images: I001 the path goes through a symlink (the kernel sees
  the resolved path), I002 it exists in no image (paths under /proc, /sys, /dev, /run, /tmp and
  /var/run excepted), I003/I004 a matchPaths entry that is a directory or a matchDirectories
  entry that is not (errors), I005 an execname no executable has. --docker-config FILE holds
  registry credentials (recommend's -c), --platform os/arch[/variant] picks from multi-arch
  images, --plain-http HOST reaches a loopback registry. An image that cannot be read is exit 2.
  --workloads PATH (Pod, Deployment, ...; repeatable): each policy is also checked against the
  images of the containers and init containers it selects (compile's selection); their
  volumeMounts are run-time paths. A workload file or image that cannot be read is exit 2, at the
  workload file's line and column.
  Example:
      armorc lint policies/ --image debian:bookworm --image oci:build/app-layout:v1
      policies/ls.yaml:8:15: warning[I001]: path `/bin/ls` goes through the symlink `/bin` ->
      `usr/bin` in image `debian:bookworm`: the kernel sees `/usr/bin/ls`, ...

Suppressions:
  # armorc: ignore[CODE] reason      at the end of the line of a finding, or on its own line
  # armorc: ignore[S101,L008] reason  directly above it (several codes separated by commas)
  armorc.toml in the current directory (or --config FILE):
      ignore = [\"L008\"]               codes ignored everywhere
      exclude = [\"vendor\", \"charts/**\"] globs, as --exclude
  An exclude glob without `/` matches any file or directory name; one with `/` matches the
  whole path as given (`**` spans directories). Suppressed findings are counted in the summary.

Exit status:
  0  no finding reaches --deny
  1  a finding reaches --deny (default: error), or no KubeArmor document was found
     (unless --allow-empty)
  2  usage, configuration or I/O error, an image or --workloads file that cannot be read
     (wins over 1)";

#[derive(clap::Args)]
#[command(after_long_help = AFTER_LONG_HELP)]
pub struct Args {
    /// Files or directories to lint; `-` reads standard input.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Human)]
    pub format: FormatArg,
    /// Lowest severity that makes the exit status 1.
    #[arg(long, value_enum, default_value_t = DenyArg::Error)]
    pub deny: DenyArg,
    /// Exit 0 instead of 1 when no KubeArmor document is found (for hooks that pass every
    /// changed YAML file).
    #[arg(long)]
    pub allow_empty: bool,
    /// Findings printed per file, in every format; the rest are counted (0 = print all).
    #[arg(long, value_name = "N", default_value_t = render::MAX_FINDINGS_PER_FILE)]
    pub max_findings: usize,
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub images: ImageArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    Human,
    Json,
    Sarif,
    Github,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyArg {
    Warning,
    Error,
}

pub fn run(args: Args) -> Status {
    // Images first: one that cannot be read stops the run before anything is printed.
    let images = match Images::load(&args.images, &args.inputs) {
        Ok(images) => images,
        Err(status) => return status,
    };
    let check = |file: &_, policies: &[_]| images.check_file(file, policies);
    let extra: Option<FileCheck<'_>> = if images.is_empty() { None } else { Some(&check) };
    let mode = Mode { suppress: true, keep_ir: false };
    let outcome = match collect_with(&args.paths, &args.inputs, mode, extra) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("armorc lint: {message}");
            return Status::Usage;
        }
    };
    let format = match args.format {
        FormatArg::Human => Format::Human,
        FormatArg::Json => Format::Json,
        FormatArg::Sarif => Format::Sarif,
        FormatArg::Github => Format::Github,
    };
    let mut options = render::Options::detect(env!("CARGO_PKG_VERSION"));
    options.max_findings = args.max_findings;
    let text = render::render(format, &outcome.report, &options);
    outcome.print_notes();
    if let Err(e) = write_stdout(&text) {
        eprintln!("armorc lint: cannot write output: {e}");
        return Status::Usage;
    }
    if format != Format::Human && !outcome.report.diagnostics.is_empty() {
        eprintln!("{}", render::human::summary(&outcome.report));
    }
    if !outcome.io_errors.is_empty() {
        return Status::Usage;
    }
    if outcome.report.documents == 0 && !args.allow_empty {
        eprintln!(
            "armorc lint: no KubeArmor document found ({} read, {} other documents skipped)",
            plural(outcome.report.files, "file"),
            outcome.report.skipped
        );
        return Status::Failure;
    }
    let denied = match args.deny {
        DenyArg::Error => outcome.report.errors() > 0,
        DenyArg::Warning => !outcome.report.diagnostics.is_empty(),
    };
    if denied {
        Status::Failure
    } else {
        Status::Success
    }
}
