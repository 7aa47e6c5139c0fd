//! A compiled bundle: `armorc compile` output (OUT/index.json and the artifacts it names), and
//! the target a command runs as (`NS/WORKLOAD/CONTAINER` or the host).

use anyhow::{anyhow, bail, Context, Result};
use armorc_compiler::compose::target_name;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// index.json, as far as the loader reads it.
#[derive(Debug, Deserialize)]
struct Index {
    version: u32,
    targets: Vec<TargetEntry>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TargetEntry {
    pub namespace: Option<String>,
    pub workload: Option<String>,
    pub container: Option<String>,
    pub host: bool,
    pub enforcement: String,
    /// Relative to OUT.
    pub bpf: Option<String>,
    pub apparmor: Option<String>,
    pub apparmor_map: Option<String>,
    pub apparmor_profile: Option<String>,
    /// The Landlock plan (docs/landlock-plan.md), relative to OUT.
    #[serde(default)]
    pub landlock: Option<String>,
    #[serde(default)]
    pub policies: Vec<String>,
    /// Pod template labels (containers) or node labels (the host) the target was compiled for;
    /// `None` in bundles written before the node agent (they match no running container).
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

impl TargetEntry {
    /// The artifact `enforcer` applies for this target (index.json path), or `None` if the bundle
    /// was compiled without it; `none` needs nothing.
    pub fn artifact_of(&self, enforcer: crate::enforcer::Enforcer) -> Option<&str> {
        use crate::enforcer::Enforcer;
        match enforcer {
            Enforcer::Bpf => self.bpf.as_deref(),
            Enforcer::Apparmor => self.apparmor.as_deref(),
            Enforcer::Landlock => self.landlock.as_deref(),
            Enforcer::None => Some(""),
        }
    }

    /// `NS/WORKLOAD/CONTAINER` or `host`.
    pub fn name(&self) -> String {
        let (namespace, workload, container) =
            (self.namespace.as_deref(), self.workload.as_deref(), self.container.as_deref());
        target_name(self.host, namespace, workload, container)
    }
}

/// Which target of a bundle: `--target NS/WORKLOAD/CONTAINER` or `--host`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Container { namespace: String, workload: String, container: String },
    Host,
}

impl Selector {
    pub fn parse_target(s: &str) -> Result<Selector> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts[..] {
            [ns, w, c] if !ns.is_empty() && !w.is_empty() && !c.is_empty() => {
                Ok(Selector::Container { namespace: ns.into(), workload: w.into(), container: c.into() })
            }
            _ => bail!("--target {s:?}: expected NAMESPACE/WORKLOAD/CONTAINER (as in index.json), or use --host"),
        }
    }
}

pub struct Bundle {
    pub dir: PathBuf,
    targets: Vec<TargetEntry>,
}

/// index.json is small (a line per field per target); a cap keeps a wrong path from being read whole.
const MAX_INDEX_BYTES: u64 = 256 << 20;

impl Bundle {
    pub fn open(dir: &Path) -> Result<Bundle> {
        let path = dir.join("index.json");
        let file = std::fs::File::open(&path)
            .with_context(|| format!("{}: not an `armorc compile` output directory", dir.display()))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_INDEX_BYTES), &mut text)
            .with_context(|| format!("reading {}", path.display()))?;
        let index: Index =
            serde_json::from_str(&text).with_context(|| format!("{}: not an armorc index", path.display()))?;
        if index.version != 1 {
            bail!("{}: index version {} (this loader reads version 1)", path.display(), index.version);
        }
        Ok(Bundle { dir: dir.to_path_buf(), targets: index.targets })
    }

    pub fn targets(&self) -> &[TargetEntry] {
        &self.targets
    }

    pub fn find(&self, sel: &Selector) -> Result<&TargetEntry> {
        let found = self.targets.iter().find(|t| match sel {
            Selector::Host => t.host,
            Selector::Container { namespace, workload, container } => {
                !t.host
                    && t.namespace.as_deref() == Some(namespace)
                    && t.workload.as_deref() == Some(workload)
                    && t.container.as_deref() == Some(container)
            }
        });
        found.ok_or_else(|| {
            let known: Vec<String> = self.targets.iter().map(TargetEntry::name).collect();
            let what = match sel {
                Selector::Host => "no host target (compile with --node-labels)".to_string(),
                Selector::Container { namespace, workload, container } => {
                    format!("no target {namespace}/{workload}/{container}")
                }
            };
            anyhow!("{}: {what}; targets: {}", self.dir.display(), known.join(", "))
        })
    }

    /// An artifact path of a target (relative in index.json) under OUT.
    pub fn artifact(&self, t: &TargetEntry, rel: &Option<String>, what: &str) -> Result<PathBuf> {
        let rel =
            rel.as_deref().ok_or_else(|| anyhow!("target {} has no {what} (compile with --target all)", t.name()))?;
        Ok(self.dir.join(rel))
    }
}
