//! One `armorc recommend` run: load each image once, decide and render templates per job, build
//! each output directory in a temporary sibling and swap it in (stale policies disappear, other
//! files in `-o` stay), then write the report last, atomically.

use crate::armortest;
use crate::image::ImageLoadError;
use crate::index::{FileIndex, OsRelease};
use crate::matching::{self, Decision, Mode};
use crate::render::{self, dns_name, RenderTarget};
use crate::report::{Difference, Distro, Format, ImageEntry, PolicyEntry, RecommendReport, Skipped, TemplatesInfo};
use crate::templates::legacy::KarmorCounts;
use crate::templates::{Library, PolicyKind};
use crate::workload;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An image as the matcher needs it (from `load_image`, or built in memory by tests).
pub struct Loaded {
    pub reference: String,
    pub digest: String,
    pub platform: String,
    pub index: FileIndex,
    pub os_release: Option<OsRelease>,
}

impl From<crate::image::LoadedImage> for Loaded {
    fn from(l: crate::image::LoadedImage) -> Self {
        Loaded {
            reference: l.reference,
            digest: l.digest,
            platform: l.platform,
            index: l.index,
            os_release: l.os_release,
        }
    }
}

/// Why a run could not write its output (a failed image is not one: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("-r: empty report name")]
    EmptyReportName,
    /// `-r` is absolute or climbs out with `..` (`name`: as given, control characters escaped).
    #[error("-r {}: the report is written under -o; give a file name or a relative path without `..`", name.escape_debug())]
    ReportNameEscapes { name: String },
    /// A report path given by a library caller that is not below `out_dir`.
    #[error("{}: the report must be inside the output directory {}", report.display(), out_dir.display())]
    ReportNotUnderOutDir { report: PathBuf, out_dir: PathBuf },
    /// The report's directory, once created, resolves outside `-o` (a symlinked subdirectory).
    #[error("{}: the report would be written outside {}", report.display(), out_dir.display())]
    ReportOutside { report: PathBuf, out_dir: PathBuf },
    #[error("{}: exists and is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |error| RunError::Io { path: path.to_path_buf(), error }
}

/// One image to recommend for: from `-i`, or one container of a `-f` workload.
#[derive(Clone, Debug)]
pub struct Job {
    pub image: String,
    pub workload: Option<workload::ManifestContainer>,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub out_dir: PathBuf,
    /// The report file: inside `out_dir` (see `report_path`), else the run is refused.
    pub report: PathBuf,
    pub format: Format,
    pub tags: Vec<String>,
    pub namespace: Option<String>,
    /// `-l`: used as the selector for `-i` images.
    pub labels: BTreeMap<String, String>,
    /// `--node-labels`: enables host templates.
    pub node_labels: Option<BTreeMap<String, String>>,
    pub action: Option<String>,
    pub explain: bool,
    pub legacy_karmor: bool,
    pub allow_generic: bool,
    pub progress: bool,
    /// `--with-tests`: an `armorc test` file beside each written policy (`armortest`).
    pub with_tests: bool,
}

/// Short, readable image name for directories and policy names (karmor used RepoTags[0]).
pub fn image_display(spec: &str) -> String {
    for prefix in ["oci:", "oci-archive:", "docker-archive:"] {
        if let Some(rest) = spec.strip_prefix(prefix) {
            let (path, tag) = match rest.rsplit_once(':') {
                Some((p, t)) if !t.contains('/') => (p, Some(t)),
                _ => (rest, None),
            };
            let base = Path::new(path).file_name().map_or(path.to_string(), |b| b.to_string_lossy().to_string());
            return tag.map_or(base.clone(), |t| format!("{base}:{t}"));
        }
    }
    let spec = spec.strip_prefix("docker://").unwrap_or(spec);
    match spec.split_once("@sha256:") {
        Some((repo, hex)) => format!("{repo}@sha256:{}", hex.chars().take(8).collect::<String>()),
        None => spec.to_string(),
    }
}

/// Last path segment of the repository, without tag or digest (`reg:5000/team/app:1` -> `app`).
pub fn repository_last_segment(spec: &str) -> String {
    let display = image_display(spec);
    let no_digest = display.split('@').next().unwrap_or(&display);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    let name = last.split(':').next().unwrap_or(last);
    dns_name(name)
}

/// `-r NAME` joined under `-o`: NAME must be a relative path without `..` (docs/recommend.md), so
/// the report can never land outside the output directory.
pub fn report_path(out_dir: &Path, name: &Path) -> Result<PathBuf, RunError> {
    use std::path::Component;
    if name.as_os_str().is_empty() {
        return Err(RunError::EmptyReportName);
    }
    if !name.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        || name.components().all(|c| c == Component::CurDir)
    {
        return Err(RunError::ReportNameEscapes { name: name.display().to_string() });
    }
    Ok(out_dir.join(name))
}

/// The report's directory, once created, must still be inside `-o` (a symlinked subdirectory
/// could point elsewhere).
fn check_report_inside(out_dir: &Path, report: &Path) -> Result<(), RunError> {
    let outside = || RunError::ReportOutside { report: report.to_path_buf(), out_dir: out_dir.to_path_buf() };
    let rel = report.strip_prefix(out_dir).map_err(|_| outside())?;
    report_path(out_dir, rel)?;
    let parent = report.parent().unwrap_or(out_dir);
    let (Ok(real_out), Ok(real_parent)) = (out_dir.canonicalize(), parent.canonicalize()) else {
        return Err(outside());
    };
    if !real_parent.starts_with(&real_out) {
        return Err(outside());
    }
    Ok(())
}

/// Write `text` to `path` atomically (temp file in the same directory, then rename).
pub fn write_atomic(path: &Path, text: &str) -> Result<(), RunError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    tmp.write_all(text.as_bytes()).map_err(io(path))?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

/// Build `out/<dir>` in a temporary sibling, then swap it in: readers see the old or the new
/// directory, never a mix (two plain renames where the filesystem cannot exchange).
fn replace_dir(out: &Path, dir: &str, files: &[(String, String)]) -> Result<(), RunError> {
    let target = out.join(dir);
    let tmp = tempfile::Builder::new().prefix(&format!(".{dir}.new-")).tempdir_in(out).map_err(io(out))?;
    for (name, text) in files {
        let file = tmp.path().join(name);
        std::fs::write(&file, text).map_err(io(&file))?;
    }
    let shown = |error| RunError::Io { path: target.clone(), error };
    match std::fs::symlink_metadata(&target) {
        Ok(m) if m.is_dir() => match armorc_compiler::outputs::exchange_dirs(tmp.path(), &target) {
            // The temporary directory now holds the old content; dropping it deletes it.
            Ok(()) => return Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP)) => {}
            Err(e) => return Err(shown(e)),
        },
        Ok(_) => return Err(RunError::NotADirectory { path: target }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let built = tmp.keep();
            return std::fs::rename(&built, &target).map_err(shown);
        }
        Err(e) => return Err(shown(e)),
    }
    let old = tempfile::Builder::new().prefix(&format!(".{dir}.old-")).tempdir_in(out).map_err(io(out))?;
    let old_path = old.path().join("d");
    std::fs::rename(&target, &old_path).map_err(shown)?;
    std::fs::rename(tmp.keep(), &target).map_err(shown)?;
    drop(old);
    Ok(())
}

/// Loads one image; the second argument reports layer bytes to the progress bar (terminal only).
pub type LoadFn<'a> = dyn Fn(&str, Option<crate::image::ProgressFn>) -> Result<Loaded, ImageLoadError> + 'a;

/// What a finished run says about its images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagesRead {
    /// Every image was read.
    All,
    /// At least one image could not be read (the report names it; the others were written).
    SomeFailed,
}

/// Run every job; returns the report and whether every image was read.
pub fn run(
    jobs: &[Job],
    lib: &Library,
    opts: &Options,
    load: &LoadFn,
) -> Result<(RecommendReport, ImagesRead), RunError> {
    // Refused before anything is loaded or written (the CLI already checked `-r` the same way).
    let rel = opts
        .report
        .strip_prefix(&opts.out_dir)
        .map_err(|_| RunError::ReportNotUnderOutDir { report: opts.report.clone(), out_dir: opts.out_dir.clone() })?;
    report_path(&opts.out_dir, rel)?;
    std::fs::create_dir_all(&opts.out_dir).map_err(io(&opts.out_dir))?;
    let bar = opts.progress.then(|| {
        let b = indicatif::ProgressBar::new(jobs.len() as u64);
        b.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("style"));
        b
    });
    let mode = if opts.legacy_karmor { Mode::LegacyKarmor } else { Mode::Ours };
    let mut cache: BTreeMap<String, Result<(Loaded, KarmorCounts), ImageLoadError>> = BTreeMap::new();
    let mut dirs: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut host_files: Vec<(String, String)> = Vec::new();
    let mut images = Vec::new();
    let mut failed = false;
    // Indexes are dropped after the last job that uses them, so memory stays at one image (plus
    // shared ones) at a time.
    let last_use: BTreeMap<&str, usize> = jobs.iter().enumerate().map(|(n, j)| (j.image.as_str(), n)).collect();
    let mut dir_owner: BTreeMap<String, String> = BTreeMap::new();
    for (job_no, job) in jobs.iter().enumerate() {
        if let Some(b) = &bar {
            b.set_message(job.image.clone());
        }
        let loaded = cache.entry(job.image.clone()).or_insert_with(|| {
            let progress: Option<crate::image::ProgressFn> = bar.clone().map(|b| {
                let image = job.image.clone();
                std::sync::Arc::new(move |p: crate::image::Progress| {
                    b.set_message(format!(
                        "{image} {}/{}",
                        indicatif::HumanBytes(p.bytes_done),
                        indicatif::HumanBytes(p.bytes_total)
                    ))
                }) as crate::image::ProgressFn
            });
            load(&job.image, progress).map(|l| {
                let counts = matching::karmor_counts_for(&lib.templates, &l.index);
                (l, counts)
            })
        });
        let display = image_display(&job.image);
        let namespace = job.workload.as_ref().and_then(|w| w.namespace.clone()).or_else(|| opts.namespace.clone());
        let mut notes = Vec::new();
        let (dir, name_base, labels) = match &job.workload {
            Some(w) => {
                let mut labels = w.labels.clone();
                labels.insert("kubearmor.io/container.name".into(), format!("[{}]", w.container));
                if w.init {
                    notes.push(format!(
                        "{} is an init container: KubeArmor may not enforce policies on short-lived init containers",
                        w.container
                    ));
                }
                let dir = dns_name(&format!(
                    "{}{}",
                    namespace.as_deref().map(|n| format!("{n}-")).unwrap_or_default(),
                    w.name
                ));
                (dir, format!("{}-{}", w.name, w.container), labels)
            }
            None => {
                let dir = dns_name(&format!(
                    "{}{display}",
                    namespace.as_deref().map(|n| format!("{n}-")).unwrap_or_default()
                ));
                let labels = if opts.labels.is_empty() {
                    let seg = repository_last_segment(&job.image);
                    notes.push(format!(
                        "no -l/-f given: policies select the container named `{seg}` (kubearmor.io/container.name); pass -l or -f to select your pods"
                    ));
                    BTreeMap::from([("kubearmor.io/container.name".to_string(), format!("[{seg}]"))])
                } else {
                    opts.labels.clone()
                };
                (dir, display.clone(), labels)
            }
        };
        // Two different images (or workloads) must not share a directory: the later one gets a
        // hash suffix.
        let owner = match &job.workload {
            Some(w) => format!("workload {}", w.workload),
            None => format!("image {}", job.image),
        };
        let dir = match dir_owner.get(&dir) {
            Some(o) if *o != owner => {
                let hash = Sha256::digest(owner.as_bytes());
                let suffixed = dns_name(&format!("{dir}-{:02x}{:02x}{:02x}{:02x}", hash[0], hash[1], hash[2], hash[3]));
                notes.push(format!("directory `{dir}` is used by {o}; this one is written to `{suffixed}`"));
                suffixed
            }
            _ => dir,
        };
        dir_owner.insert(dir.clone(), owner);
        let target = RenderTarget {
            name_base,
            namespace: namespace.clone(),
            labels: labels.clone(),
            node_labels: opts.node_labels.clone().unwrap_or_default(),
            action: opts.action.clone(),
        };
        let mut entry = ImageEntry {
            image: job.image.clone(),
            digest: None,
            platform: None,
            distro: None,
            workload: job.workload.as_ref().map(|w| w.workload.clone()),
            container: job.workload.as_ref().map(|w| w.container.clone()),
            init_container: job.workload.as_ref().is_some_and(|w| w.init),
            output_dir: opts.out_dir.join(&dir).display().to_string(),
            selector: labels,
            policies: Vec::new(),
            skipped: Vec::new(),
            legacy_differences: Vec::new(),
            notes,
            error: None,
        };
        let empty = FileIndex::new();
        let no_counts = KarmorCounts::new();
        let (index, files, generic_only) = match loaded {
            Ok((l, counts)) => {
                entry.digest = Some(l.digest.clone());
                entry.platform = Some(l.platform.clone());
                entry.distro = l
                    .os_release
                    .clone()
                    .or_else(|| l.index.os_release())
                    .map(|o| Distro { id: o.id, version_id: o.version_id });
                (&l.index, &*counts, false)
            }
            Err(e) => {
                failed = true;
                entry.error = Some(e.to_string());
                if !opts.allow_generic {
                    entry.notes.push(
                        "no policies written for this image (pass --allow-generic to get generic templates anyway)"
                            .into(),
                    );
                    images.push(entry);
                    if let Some(b) = &bar {
                        b.inc(1);
                    }
                    continue;
                }
                entry.notes.push("image could not be read: only generic templates (--allow-generic)".into());
                (&empty, &no_counts, true)
            }
        };
        let file_prefix = job.workload.as_ref().map(|w| format!("{}-", dns_name(&w.container))).unwrap_or_default();
        // The pod `--with-tests` cases run in: the workload container, or the image's container.
        let test_pod = armortest::TestPod {
            namespace: namespace.clone().unwrap_or_else(|| "default".into()),
            name: job.workload.as_ref().map_or_else(|| dns_name(&display), |w| w.name.clone()),
            container: job
                .workload
                .as_ref()
                .map_or_else(|| repository_last_segment(&job.image), |w| w.container.clone()),
            image: job.image.clone(),
            labels: target
                .labels
                .iter()
                .filter(|(k, _)| *k != "kubearmor.io/container.name")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let mut written = Vec::new();
        for t in &lib.templates {
            // Legacy `OPTSCAN` templates translate to `true`, so they are generic too.
            if generic_only && !t.is_generic() {
                entry.skipped.push(Skipped {
                    template: t.name.clone(),
                    reason: "image unreadable and template not generic".into(),
                });
                continue;
            }
            if !generic_only {
                if let Some((ours, karmor)) = matching::legacy_difference(t, index, files) {
                    entry.legacy_differences.push(Difference { template: t.name.clone(), ours, karmor });
                }
            }
            let evidence = match matching::decide(t, index, files, &opts.tags, mode) {
                Decision::Recommend(ev) => ev,
                Decision::Skip(reason) => {
                    // karmor itself would have crashed on this template (an invalid Go regexp): say
                    // so without --explain.
                    let crash = t
                        .legacy
                        .as_ref()
                        .filter(|_| mode == Mode::LegacyKarmor && !generic_only)
                        .and_then(|l| crate::templates::legacy::karmor_decide(&l.preconditions, files).err());
                    if let Some(e) = crash.filter(|_| crate::templates::has_any_tag(t, &opts.tags)) {
                        entry.notes.push(format!("template {} skipped: {e}", t.name));
                    }
                    entry.skipped.push(Skipped { template: t.name.clone(), reason });
                    continue;
                }
            };
            if t.kind == PolicyKind::KubeArmorHostPolicy && opts.node_labels.is_none() {
                entry.skipped.push(Skipped {
                    template: t.name.clone(),
                    reason: "host policy: pass --node-labels to emit it".into(),
                });
                continue;
            }
            let rendered = match render::render(t, &target) {
                Ok(r) => r,
                Err(e) => {
                    entry.skipped.push(Skipped { template: t.name.clone(), reason: format!("not written: {e}") });
                    continue;
                }
            };
            // Host policies are per node, not per image: one shared `host/` directory.
            let rel = if t.kind == PolicyKind::KubeArmorHostPolicy {
                let f = format!("{}.yaml", rendered.name);
                host_files.push((f.clone(), rendered.text.clone()));
                format!("host/{f}")
            } else {
                let f = format!("{file_prefix}{}.yaml", t.name);
                if opts.with_tests {
                    match armortest::test_file(&f, &rendered.text, &test_pod) {
                        Ok(test) => written.push((format!("{file_prefix}{}.armortest.yaml", t.name), test)),
                        Err(why) => entry.notes.push(format!("{f}: no test file written: {why}")),
                    }
                }
                written.push((f.clone(), rendered.text.clone()));
                format!("{dir}/{f}")
            };
            entry.policies.push(PolicyEntry {
                file: rel,
                name: rendered.name,
                template: t.name.clone(),
                kind: format!("{:?}", t.kind),
                summary: t.summary.clone(),
                tags: t.tags.clone(),
                severity: t.severity,
                action: rendered.action,
                evidence,
            });
        }
        dirs.entry(dir).or_default().extend(written);
        entry.policies.sort_by(|a, b| a.file.cmp(&b.file));
        images.push(entry);
        if let Some(b) = &bar {
            b.inc(1);
        }
        if last_use.get(job.image.as_str()) == Some(&job_no) {
            cache.remove(&job.image);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for (dir, files) in &dirs {
        replace_dir(&opts.out_dir, dir, files)?;
    }
    if opts.node_labels.is_some() {
        host_files.sort();
        host_files.dedup_by(|a, b| a.0 == b.0);
        replace_dir(&opts.out_dir, "host", &host_files)?;
    }
    let report = RecommendReport {
        version: 1,
        templates: TemplatesInfo {
            source: if lib.source.kind == "builtin" { "builtin".into() } else { lib.source.location.clone() },
            commit: lib.source.commit.clone(),
            digest: lib.digest.clone(),
            kind: lib.source.kind.clone(),
            legacy_karmor: opts.legacy_karmor,
            notes: lib.notes.clone(),
        },
        images,
        explain: opts.explain,
    };
    if let Some(parent) = opts.report.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    check_report_inside(&opts.out_dir, &opts.report)?;
    write_atomic(&opts.report, &report.render(opts.format))?;
    Ok((report, if failed { ImagesRead::SomeFailed } else { ImagesRead::All }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert_eq!(image_display("ubuntu:18.04"), "ubuntu:18.04");
        assert_eq!(image_display(&format!("repo@sha256:{}", "ab".repeat(32))), "repo@sha256:abababab");
        assert_eq!(image_display("oci:/tmp/x/layout:v1"), "layout:v1");
        assert_eq!(repository_last_segment("registry:5000/team/app:1"), "app");
        assert_eq!(repository_last_segment("nginx"), "nginx");
        assert_eq!(image_display("r@sha256:ééééééééé"), "r@sha256:éééééééé");
    }
}
