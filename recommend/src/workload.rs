//! `-f` manifests: every container (init containers flagged) of the workloads the compiler's
//! reader finds (`armorc_compiler::workload`, shared with `armorc compile --workloads`), and the
//! labels a policy should select them by.

use armorc_compiler::source::SourceFile;
use armorc_compiler::workload::{Workload, WorkloadError, Workloads};
use std::collections::BTreeMap;

/// One container of a `-f` workload, with what a recommendation for it needs to know.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestContainer {
    /// `Deployment ns/name` style description.
    pub workload: String,
    /// Workload name (for directories and policy names).
    pub name: String,
    pub namespace: Option<String>,
    pub container: String,
    pub image: String,
    pub init: bool,
    /// The workload's selector labels (`spec.selector.matchLabels`, a bare Pod's labels).
    pub labels: BTreeMap<String, String>,
}

/// Why a `-f` manifest cannot be used. `file` is the manifest (`-` for stdin), `workload` the
/// workload as `Kind [ns/]name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadFileError {
    /// Not a readable workload (YAML, names, shape), as `armorc compile --workloads` reports it.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error("{file}: {workload}: selector label {key:?}={value:?} is not a valid Kubernetes label")]
    Label { file: String, workload: String, key: String, value: String },
    #[error("{file}: {workload}: container {container} without image")]
    ContainerWithoutImage { file: String, workload: String, container: String },
}

fn containers_of(w: &Workload, file: &str, out: &mut Vec<ManifestContainer>) -> Result<(), WorkloadFileError> {
    let namespace = w.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default();
    let workload = format!("{} {namespace}{}", w.kind, w.name);
    // Selector labels end up in policies: they must be valid Kubernetes syntax.
    for (k, v) in &w.selector {
        if !crate::render::valid_label_key(k) || !crate::render::valid_label_value(v) {
            return Err(WorkloadFileError::Label {
                file: file.to_string(),
                workload,
                key: k.clone(),
                value: v.clone(),
            });
        }
    }
    let all = w.init_containers.iter().map(|c| (c, true)).chain(w.containers.iter().map(|c| (c, false)));
    for (c, init) in all {
        let image = c.image.clone().ok_or_else(|| WorkloadFileError::ContainerWithoutImage {
            file: file.to_string(),
            workload: workload.clone(),
            container: c.name.clone(),
        })?;
        out.push(ManifestContainer {
            workload: workload.clone(),
            name: w.name.clone(),
            namespace: w.namespace.clone(),
            container: c.name.clone(),
            image,
            init,
            labels: w.selector.clone(),
        });
    }
    Ok(())
}

/// Parse a (multi-document) manifest stream; `file` names it in errors (`-` for stdin).
pub fn parse(file: &str, text: &str) -> Result<Vec<ManifestContainer>, WorkloadFileError> {
    let mut workloads = Workloads::default();
    workloads.read(&SourceFile::new(file, text))?;
    let mut out = Vec::new();
    for w in &workloads.workloads {
        containers_of(w, file, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_with_init_and_two_containers() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web, tier: fe}}\n    spec:\n      initContainers: [{name: migrate, image: 'busybox:1'}]\n      containers:\n        - {name: nginx, image: 'nginx:1.25'}\n        - {name: php, image: 'php:8'}\n---\nkind: CronJob\nmetadata: {name: backup}\nspec: {jobTemplate: {spec: {template: {metadata: {labels: {job: b}}, spec: {containers: [{name: b, image: 'alpine'}]}}}}}\n";
        let c = parse("m.yaml", text).unwrap();
        assert_eq!(c.len(), 4);
        assert!(c[0].init && c[0].container == "migrate");
        assert_eq!(c[1].labels, BTreeMap::from([("app".to_string(), "web".to_string())]));
        assert_eq!(c[3].workload, "CronJob backup");
        assert_eq!(c[3].labels, BTreeMap::from([("job".to_string(), "b".to_string())]));
    }

    #[test]
    fn hostile_names_and_labels_are_errors() {
        let bad = [
            "kind: Pod\nmetadata: {name: p, labels: {app: \"a: b\"}}\nspec: {containers: [{name: c, image: i}]}\n",
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: \"c]\\n x\", image: i}]}\n",
            "kind: Pod\nmetadata: {name: p, namespace: \"a\\nb\"}\nspec: {containers: [{name: c, image: i}]}\n",
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n",
        ];
        for text in bad {
            assert!(parse("m.yaml", text).is_err(), "{text}");
        }
        let err = parse("m.yaml", "kind: Pod\nmetadata: {name: p\n").unwrap_err();
        assert!(err.to_string().starts_with("m.yaml:"), "{err}");
    }
}
