//! The run report: one data model, four renderings (text, Markdown, JSON, HTML) that carry the
//! same facts. JSON follows the schema (version 1) with extra fields.

mod html;
mod markdown;
mod text;

use crate::matching::Evidence;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
    Html,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "text" | "txt" => Some(Format::Text),
            "markdown" | "md" => Some(Format::Markdown),
            "json" => Some(Format::Json),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }

    /// From the report file's extension; text otherwise.
    pub fn from_path(p: &std::path::Path) -> Format {
        p.extension().and_then(|e| e.to_str()).and_then(|e| Format::parse(&e.to_lowercase())).unwrap_or(Format::Text)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TemplatesInfo {
    /// `builtin`, the repository URL, or the directory.
    pub source: String,
    pub commit: Option<String>,
    /// Digest of the template files (see `templates::Library::digest`).
    pub digest: String,
    /// `builtin`, `cache` or `dir`.
    pub kind: String,
    pub legacy_karmor: bool,
    /// Library loading notes (skipped non-KubeArmor rules, disabled templates).
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Distro {
    pub id: String,
    pub version_id: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PolicyEntry {
    /// Path relative to the output directory.
    pub file: String,
    pub name: String,
    pub template: String,
    pub kind: String,
    pub summary: String,
    pub tags: Vec<String>,
    pub severity: u8,
    pub action: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub template: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Difference {
    pub template: String,
    /// Our (translated) precondition's result.
    pub ours: bool,
    pub karmor: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImageEntry {
    pub image: String,
    pub digest: Option<String>,
    pub platform: Option<String>,
    pub distro: Option<Distro>,
    /// `Deployment ns/name` for -f workloads.
    pub workload: Option<String>,
    pub container: Option<String>,
    pub init_container: bool,
    pub output_dir: String,
    pub selector: BTreeMap<String, String>,
    pub policies: Vec<PolicyEntry>,
    pub skipped: Vec<Skipped>,
    pub legacy_differences: Vec<Difference>,
    pub notes: Vec<String>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RecommendReport {
    pub version: u32,
    pub templates: TemplatesInfo,
    pub images: Vec<ImageEntry>,
    /// Whether `--explain` was given (skipped lists are always in JSON; text formats show them
    /// only with --explain).
    pub explain: bool,
}

impl RecommendReport {
    /// Policies per tag and per severity over all images (the HTML summary, checked by tests).
    pub fn counts(&self) -> (BTreeMap<String, usize>, BTreeMap<u8, usize>) {
        let mut tags = BTreeMap::new();
        let mut sev = BTreeMap::new();
        for p in self.images.iter().flat_map(|i| &i.policies) {
            for t in &p.tags {
                *tags.entry(t.clone()).or_insert(0) += 1;
            }
            *sev.entry(p.severity).or_insert(0) += 1;
        }
        (tags, sev)
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => text::render(self),
            Format::Markdown => markdown::render(self),
            Format::Json => serde_json::to_string_pretty(self).expect("report serializes") + "\n",
            Format::Html => html::render(self),
        }
    }
}

/// Text for a terminal or a Markdown table (one definition, in the compiler's renderers).
pub use armorc_compiler::render::escape_controls;

/// The facts every human format prints for one image, as (key, value) rows.
pub(crate) fn image_facts(r: &RecommendReport, i: &ImageEntry) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if let Some(w) = &i.workload {
        rows.push(("Workload", w.clone()));
    }
    rows.push(("Container", i.image.clone()));
    if let Some(c) = &i.container {
        rows.push(("Container Name", format!("{c}{}", if i.init_container { " (init container)" } else { "" })));
    }
    rows.push(("Digest", i.digest.clone().unwrap_or_else(|| "-".into())));
    let (os, arch) = match &i.platform {
        Some(p) => {
            let mut it = p.splitn(2, '/');
            (it.next().unwrap_or("-").to_string(), it.next().unwrap_or("-").to_string())
        }
        None => ("-".into(), "-".into()),
    };
    rows.push(("OS", os));
    rows.push(("Arch", arch));
    rows.push((
        "Distro",
        i.distro.as_ref().map_or("-".into(), |d| format!("{} {}", d.id, d.version_id).trim().to_string()),
    ));
    rows.push(("Output Directory", i.output_dir.clone()));
    let sel: Vec<String> = i.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    rows.push(("Selector", if sel.is_empty() { "-".into() } else { sel.join(", ") }));
    rows.push((
        "policy-template version",
        format!(
            "{} ({}, {}){}",
            r.templates.source,
            r.templates.commit.as_deref().map_or("no commit".to_string(), |c| format!("commit {c}")),
            r.templates.digest,
            if r.templates.legacy_karmor { " [legacy-karmor matching]" } else { "" }
        ),
    ));
    if let Some(e) = &i.error {
        rows.push(("Error", e.clone()));
    }
    rows
}
