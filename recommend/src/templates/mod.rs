//! The template library: our layout (`<name>/meta.yaml` + `<name>/policy.yaml.hbs`, see
//! docs/templates.md), the kubearmor/policy-templates release layout (`metadata.yaml` + `yaml:`,
//! converted on load by `legacy`), and where a library comes from (built-in, git cache, directory).

pub mod cache;
pub mod legacy;
pub mod yamltree;

use crate::render::RenderError;
use armorc_grammar::precondition::{self, Expr};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_templates.rs"));
}

/// Which policy kind a template produces (decides the selector and the output directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PolicyKind {
    KubeArmorPolicy,
    KubeArmorClusterPolicy,
    KubeArmorHostPolicy,
}

impl PolicyKind {
    fn parse(s: &str) -> Option<PolicyKind> {
        match s {
            "KubeArmorPolicy" => Some(PolicyKind::KubeArmorPolicy),
            "KubeArmorClusterPolicy" => Some(PolicyKind::KubeArmorClusterPolicy),
            "KubeArmorHostPolicy" => Some(PolicyKind::KubeArmorHostPolicy),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub title: String,
    pub url: String,
}

/// Precondition in the legacy (karmor) form, kept for `--legacy-karmor` and the difference list.
#[derive(Clone, Debug)]
pub struct LegacyInfo {
    pub preconditions: Vec<String>,
    /// Why the preconditions could not be translated (the template is then skipped unless
    /// `--legacy-karmor`).
    pub untranslatable: Option<legacy::LegacyError>,
}

#[derive(Clone, Debug)]
pub struct Template {
    pub name: String,
    pub summary: String,
    pub description: String,
    pub references: Vec<Reference>,
    pub tags: Vec<String>,
    pub severity: u8,
    pub kind: PolicyKind,
    /// Our precondition (for legacy templates: the translation; `Const(false)` when untranslatable).
    pub precondition: Expr,
    /// Cluster templates: their own `selector.matchExpressions` (JSON values); the renderer adds
    /// `namespace In [-n]`.
    pub cluster_expressions: Vec<serde_json::Value>,
    /// Handlebars source of the policy (docs/templates.md lists the variables and helpers).
    pub body: String,
    /// Where the template came from inside its library (for messages).
    pub origin: String,
    pub legacy: Option<LegacyInfo>,
    /// Set when a test render fails validation: the template is never written (the reason shows
    /// in `--explain` and the library notes).
    pub invalid: Option<RenderError>,
}

impl Template {
    /// Generic templates apply to every image (precondition `true`); `--allow-generic` emits them
    /// for images that could not be read.
    pub fn is_generic(&self) -> bool {
        matches!(self.precondition, Expr::Const(true, _))
    }
}

/// Where the library was loaded from; printed in every report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SourceInfo {
    /// `builtin`, `cache` or `dir`.
    pub kind: String,
    /// Repository URL (cache), directory (dir) or `armorc <version>` (builtin).
    pub location: String,
    /// Commit of the cached checkout, when known.
    pub commit: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Library {
    pub source: SourceInfo,
    /// `sha256:` over every file of the library (path and text, in path order): identifies the
    /// exact template set, also for the built-in set and directories, which have no commit.
    pub digest: String,
    pub templates: Vec<Template>,
    /// Things skipped while loading (e.g. Kyverno templates of the legacy layout).
    pub notes: Vec<String>,
}

/// `file:line:column` or `file`.
fn file_at(file: &str, location: &Option<(usize, usize)>) -> String {
    match location {
        Some((line, column)) => format!("{file}:{line}:{column}"),
        None => file.to_string(),
    }
}

/// Why a template library could not be loaded. Every message names the file inside the library
/// (`file`, `origin`: path relative to the library root) and, when known, line and column.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {message}", file_at(file, location))]
    Yaml { file: String, location: Option<(usize, usize)>, message: String },
    #[error("{file}: name `{name}` is not a DNS-1123 label")]
    Name { file: String, name: String },
    #[error("{file}: name `{name}` differs from its directory `{dir}`")]
    NameDiffers { file: String, name: String, dir: String },
    #[error("{file}: severity {severity} is outside 1..10")]
    Severity { file: String, severity: String },
    #[error("{file}: at least one tag is required")]
    NoTags { file: String },
    #[error("{}: precondition: {message}{}", file_at(file, location), offset.map(|o| format!(" (at offset {o})")).unwrap_or_default())]
    Precondition { file: String, location: Option<(usize, usize)>, offset: Option<usize>, message: String },
    #[error("{file}: missing {body}")]
    MissingBody { file: String, body: String },
    #[error("{file}: no `kind:` line naming a KubeArmor policy kind")]
    NoKind { file: String },
    #[error("{location}: no templates found (expected */meta.yaml or metadata.yaml)")]
    NoTemplates { location: String },
    #[error("{origin}: template name `{name}` is also used by {previous}")]
    DuplicateName { origin: String, name: String, previous: String },
    #[error("{location}: no usable template; e.g. {origin}: {error}")]
    NoUsableTemplate { location: String, origin: String, error: Box<RenderError> },
    #[error("{}: {error}", path.display())]
    Io { path: std::path::PathBuf, error: std::io::Error },
    #[error("{}: larger than {limit} bytes", path.display())]
    FileTooLarge { path: std::path::PathBuf, limit: u64 },
    /// Legacy layout: a rule's `yaml:` names no file of the library.
    #[error("{file}: rule `{rule}`: policy file `{yaml}` not found")]
    RuleFileMissing { file: String, rule: String, yaml: String },
    #[error("{file}: rule `{rule}` has neither `yaml` nor `spec`")]
    RuleWithoutPolicy { file: String, rule: String },
    #[error("{origin}: unsupported kind `{kind}`")]
    UnsupportedKind { origin: String, kind: String },
    #[error("{origin}: rule name `{rule}` cannot be made a DNS-1123 label")]
    RuleName { origin: String, rule: String },
    #[error("{origin}: no `spec`")]
    NoSpec { origin: String },
    #[error("{origin}: severity {value} outside 1..10")]
    LegacySeverity { origin: String, value: String },
}

/// A serde-saphyr error as a load error at `file:line:column`.
pub(crate) fn yaml_error(file: &str, e: &serde_saphyr::Error) -> LoadError {
    let msg = e.without_snippet().to_string();
    LoadError::Yaml {
        file: file.to_string(),
        location: e.location().map(|l| (l.line() as usize, l.column() as usize)),
        message: msg.lines().next().unwrap_or("invalid YAML").to_string(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    summary: String,
    description: String,
    #[serde(default)]
    references: Vec<Reference>,
    tags: Vec<String>,
    severity: u8,
    precondition: String,
    #[serde(default)]
    cluster_expressions: Vec<serde_json::Value>,
}

/// A set of files (relative path -> text) to build a library from.
pub type FileSet = BTreeMap<String, String>;

/// Is `name` a DNS-1123 label (lower-case alphanumerics and `-`, at most 63)?
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// `kind:` of a template body (first top-level `kind:` line; handlebars never sits there).
fn body_kind(body: &str) -> Option<PolicyKind> {
    body.lines().find_map(|l| l.strip_prefix("kind:")).and_then(|k| PolicyKind::parse(k.trim().trim_matches('"')))
}

fn load_ours(files: &FileSet, meta_path: &str) -> Result<Template, LoadError> {
    let dir = meta_path.strip_suffix("meta.yaml").unwrap_or("");
    let text = &files[meta_path];
    let meta: Meta = serde_saphyr::from_str(text).map_err(|e| yaml_error(meta_path, &e))?;
    let dir_name = dir.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if !is_dns_label(&meta.name) {
        return Err(LoadError::Name { file: meta_path.to_string(), name: meta.name });
    }
    if !dir_name.is_empty() && dir_name != meta.name {
        return Err(LoadError::NameDiffers { file: meta_path.to_string(), name: meta.name, dir: dir_name.to_string() });
    }
    if !(1..=10).contains(&meta.severity) {
        return Err(LoadError::Severity { file: meta_path.to_string(), severity: meta.severity.to_string() });
    }
    if meta.tags.is_empty() {
        return Err(LoadError::NoTags { file: meta_path.to_string() });
    }
    let precondition = precondition::parse(&meta.precondition).map_err(|e| {
        // Point into the YAML file: find the expression text; fall back to the file.
        let at = text.find(meta.precondition.as_str()).map(|o| o + e.span.start);
        let (location, offset) = match at {
            Some(o) => {
                let line = text[..o].matches('\n').count() + 1;
                let col = text[..o].rsplit('\n').next().map_or(0, |s| s.chars().count()) + 1;
                (Some((line, col)), None)
            }
            None => (None, Some(e.span.start)),
        };
        LoadError::Precondition { file: meta_path.to_string(), location, offset, message: e.message.to_string() }
    })?;
    let body_path = format!("{dir}policy.yaml.hbs");
    let body = files
        .get(&body_path)
        .ok_or_else(|| LoadError::MissingBody { file: meta_path.to_string(), body: body_path.clone() })?
        .clone();
    let kind = body_kind(&body).ok_or_else(|| LoadError::NoKind { file: body_path.clone() })?;
    Ok(Template {
        name: meta.name,
        summary: meta.summary,
        description: meta.description,
        references: meta.references,
        tags: meta.tags,
        severity: meta.severity,
        kind,
        precondition,
        cluster_expressions: meta.cluster_expressions,
        body,
        origin: body_path,
        legacy: None,
        invalid: None,
    })
}

/// Build a library from files: every `meta.yaml` (our layout) and every `metadata.yaml` (legacy).
/// Every template is then test-rendered and validated; the first failure fails the load.
pub fn load_files(files: &FileSet, source: SourceInfo) -> Result<Library, LoadError> {
    let mut templates = Vec::new();
    let mut notes = Vec::new();
    for path in files.keys() {
        let file = path.rsplit('/').next().unwrap_or(path);
        if file == "meta.yaml" {
            templates.push(load_ours(files, path)?);
        } else if file == "metadata.yaml" {
            let (mut t, mut n) = legacy::load_metadata(files, path)?;
            templates.append(&mut t);
            notes.append(&mut n);
        }
    }
    if templates.is_empty() {
        return Err(LoadError::NoTemplates { location: source.location });
    }
    let mut seen = BTreeMap::new();
    for t in &templates {
        if let Some(prev) = seen.insert(t.name.clone(), t.origin.clone()) {
            return Err(LoadError::DuplicateName { origin: t.origin.clone(), name: t.name.clone(), previous: prev });
        }
    }
    templates.sort_by(|a, b| a.name.cmp(&b.name));
    for t in &mut templates {
        if let Err(e) = crate::render::self_check(t) {
            notes.push(format!("{}: template `{}` disabled: {e}", t.origin, t.name));
            t.invalid = Some(e);
        }
    }
    if templates.iter().all(|t| t.invalid.is_some()) {
        if let Some((t, error)) = templates.iter().find_map(|t| Some((t, Box::new(t.invalid.clone()?)))) {
            return Err(LoadError::NoUsableTemplate { location: source.location, origin: t.origin.clone(), error });
        }
    }
    Ok(Library { source, templates, notes, digest: files_digest(files) })
}

fn files_digest(files: &FileSet) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (path, text) in files {
        // Length-prefixed so that (path, text) boundaries cannot be confused.
        for part in [path.as_bytes(), text.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    }
    format!("sha256:{:x}", h.finalize())
}

/// The templates compiled into this binary.
pub fn builtin() -> Result<Library, LoadError> {
    let files: FileSet = builtin::BUILTIN.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
    load_files(
        &files,
        SourceInfo { kind: "builtin".into(), location: format!("armorc {}", env!("CARGO_PKG_VERSION")), commit: None },
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |error| LoadError::Io { path: path.to_path_buf(), error }
}

/// Test files beside templates (`*.armortest.yaml`, `armorc test`): not part of the library (never
/// read into it; `recommend/build.rs` leaves them out of the built-in set alike).
pub fn is_test_file(name: &str) -> bool {
    name.ends_with(".armortest.yaml") || name.ends_with(".armortest.yml")
}

/// Read every `.yaml`/`.hbs` file below `dir` (skipping `.git` and test files), bounded in size.
pub fn read_dir_files(dir: &Path) -> Result<FileSet, LoadError> {
    const MAX_FILE: u64 = crate::readcap::MAX_TEMPLATE_FILE_BYTES;
    let mut files = FileSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(io(&d))?;
        for entry in rd {
            let entry = entry.map_err(io(&d))?;
            let p = entry.path();
            let ft = entry.file_type().map_err(io(&p))?;
            if ft.is_dir() {
                if entry.file_name() != ".git" {
                    stack.push(p);
                }
            } else if ft.is_file()
                && p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "hbs")
                && !is_test_file(&entry.file_name().to_string_lossy())
            {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if len > MAX_FILE {
                    return Err(LoadError::FileTooLarge { path: p, limit: MAX_FILE });
                }
                // Capped again while reading: the file may have grown since the size check.
                let text = crate::readcap::read_file_capped(&p, MAX_FILE).map_err(io(&p))?;
                let rel = p.strip_prefix(dir).expect("below dir").to_string_lossy().replace('\\', "/");
                files.insert(rel, text);
            }
        }
    }
    Ok(files)
}

/// One template of our layout from its directory (`meta.yaml` + `policy.yaml.hbs`), checked as
/// a library checks it (`armorc test` renders it for the sample target). Errors name the files
/// by `dir`'s path.
pub fn load_template_dir(dir: &Path) -> Result<Template, LoadError> {
    const MAX_FILE: u64 = crate::readcap::MAX_TEMPLATE_FILE_BYTES;
    let mut files = FileSet::new();
    for name in ["meta.yaml", "policy.yaml.hbs"] {
        let path = dir.join(name);
        match crate::readcap::read_file_capped(&path, MAX_FILE) {
            Ok(text) => {
                files.insert(path.to_string_lossy().into_owned(), text);
            }
            // A missing body is the loader's MissingBody; a missing meta.yaml an I/O error.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != "meta.yaml" => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    load_ours(&files, &dir.join("meta.yaml").to_string_lossy())
}

/// Load a library from a directory (either layout).
pub fn from_dir(dir: &Path) -> Result<Library, LoadError> {
    let files = read_dir_files(dir)?;
    load_files(&files, SourceInfo { kind: "dir".into(), location: dir.display().to_string(), commit: None })
}

/// `-t` matching: case-insensitive, `-` and `_` alike; any requested tag matches.
pub fn normalize_tag(t: &str) -> String {
    t.trim().to_lowercase().replace('_', "-")
}

pub fn has_any_tag(t: &Template, wanted: &[String]) -> bool {
    wanted.is_empty() || t.tags.iter().any(|tag| wanted.iter().any(|w| normalize_tag(w) == normalize_tag(tag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_files_beside_templates_are_not_part_of_the_library() {
        // templates/ holds a policy.armortest.yaml beside every template: read from the
        // directory, the library is the built-in one (build.rs leaves them out alike).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let files = read_dir_files(&dir).unwrap();
        assert!(!files.keys().any(|k| is_test_file(k)), "{:?}", files.keys());
        assert!(!builtin::BUILTIN.iter().any(|(k, _)| is_test_file(k)));
        assert!(std::fs::read_dir(&dir).unwrap().flatten().any(|e| e.path().join("policy.armortest.yaml").is_file()));
        let (from_dir, builtin) = (from_dir(&dir).unwrap(), super::builtin().unwrap());
        assert_eq!(from_dir.digest, builtin.digest);
        assert_eq!(from_dir.templates.len(), builtin.templates.len());
        // One template loads from its own directory, by the paths it was read from.
        let t = load_template_dir(&dir.join("apk-exec")).unwrap();
        assert_eq!((t.name.as_str(), t.origin.ends_with("templates/apk-exec/policy.yaml.hbs")), ("apk-exec", true));
        let e = load_template_dir(&dir).unwrap_err();
        assert!(e.to_string().contains("meta.yaml"), "{e}");
    }

    #[test]
    fn tags_match_case_insensitively_with_dash_and_underscore_alike() {
        assert_eq!(normalize_tag("PCI-DSS"), normalize_tag("pci_dss"));
        assert_ne!(normalize_tag("PCI"), normalize_tag("PCI_DSS"));
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("a-1"));
        assert!(!is_dns_label("A"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
