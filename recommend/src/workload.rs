//! `-f` manifests: every workload kind's containers (init containers flagged) and the labels a
//! policy should select them by.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    /// `Deployment ns/name` style description.
    pub workload: String,
    /// Workload name (for directories and policy names).
    pub name: String,
    pub namespace: Option<String>,
    pub container: String,
    pub image: String,
    pub init: bool,
    /// `spec.selector.matchLabels` (a bare Pod's labels).
    pub labels: BTreeMap<String, String>,
}

fn labels_of(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

/// Why a `-f` manifest cannot be used. `file` is the manifest (`-` for stdin), `workload` the
/// workload as `Kind [ns/]name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    #[error("{file}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Yaml { file: String, location: Option<(usize, usize)>, message: String },
    #[error("{file}: {kind} without metadata.name")]
    NoName { file: String, kind: String },
    #[error("{file}: {workload}: namespace {namespace:?} is not a DNS-1123 label")]
    Namespace { file: String, workload: String, namespace: String },
    #[error("{file}: {workload}: selector label {key:?}={value:?} is not a valid Kubernetes label")]
    Label { file: String, workload: String, key: String, value: String },
    #[error("{file}: {workload}: a container without name")]
    ContainerWithoutName { file: String, workload: String },
    #[error("{file}: {workload}: container name {container:?} is not a DNS-1123 label")]
    ContainerName { file: String, workload: String, container: String },
    #[error("{file}: {workload}: container {container} without image")]
    ContainerWithoutImage { file: String, workload: String, container: String },
}

fn collect(doc: &serde_json::Value, file: &str, out: &mut Vec<Container>) -> Result<(), WorkloadError> {
    let kind = doc["kind"].as_str().unwrap_or("");
    if kind == "List" || kind.ends_with("List") {
        for item in doc["items"].as_array().into_iter().flatten() {
            collect(item, file, out)?;
        }
        return Ok(());
    }
    let name = doc["metadata"]["name"].as_str().unwrap_or("").to_string();
    let namespace = doc["metadata"]["namespace"].as_str().map(str::to_string);
    let (pod_spec, labels) = match kind {
        "Pod" => (&doc["spec"], labels_of(&doc["metadata"]["labels"])),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
            (&doc["spec"]["template"]["spec"], labels_of(&doc["spec"]["selector"]["matchLabels"]))
        }
        "ReplicationController" => (&doc["spec"]["template"]["spec"], labels_of(&doc["spec"]["selector"])),
        "Job" => (&doc["spec"]["template"]["spec"], labels_of(&doc["spec"]["template"]["metadata"]["labels"])),
        "CronJob" => (
            &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            labels_of(&doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]),
        ),
        _ => return Ok(()),
    };
    if name.is_empty() {
        return Err(WorkloadError::NoName { file: file.to_string(), kind: kind.to_string() });
    }
    let workload = format!("{kind} {}{name}", namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default());
    // Everything that ends up in a selector or name must be valid Kubernetes syntax.
    if let Some(ns) = &namespace {
        if !crate::templates::is_dns_label(ns) {
            return Err(WorkloadError::Namespace { file: file.to_string(), workload, namespace: ns.clone() });
        }
    }
    for (k, v) in &labels {
        if !crate::render::valid_label_key(k) || !crate::render::valid_label_value(v) {
            return Err(WorkloadError::Label { file: file.to_string(), workload, key: k.clone(), value: v.clone() });
        }
    }
    for (field, init) in [("initContainers", true), ("containers", false)] {
        for c in pod_spec[field].as_array().into_iter().flatten() {
            let cname = c["name"].as_str().ok_or_else(|| WorkloadError::ContainerWithoutName {
                file: file.to_string(),
                workload: workload.clone(),
            })?;
            if !crate::templates::is_dns_label(cname) {
                return Err(WorkloadError::ContainerName {
                    file: file.to_string(),
                    workload,
                    container: cname.to_string(),
                });
            }
            let image = c["image"].as_str().ok_or_else(|| WorkloadError::ContainerWithoutImage {
                file: file.to_string(),
                workload: workload.clone(),
                container: cname.to_string(),
            })?;
            out.push(Container {
                workload: workload.clone(),
                name: name.clone(),
                namespace: namespace.clone(),
                container: cname.to_string(),
                image: image.to_string(),
                init,
                labels: labels.clone(),
            });
        }
    }
    Ok(())
}

/// Parse a (multi-document) manifest stream; `file` names it in errors (`-` for stdin).
pub fn parse(file: &str, text: &str) -> Result<Vec<Container>, WorkloadError> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).map_err(|e| WorkloadError::Yaml {
        file: file.to_string(),
        location: e.location().map(|l| (l.line() as usize, l.column() as usize)),
        message: e.without_snippet().to_string().lines().next().unwrap_or("invalid YAML").to_string(),
    })?;
    let mut out = Vec::new();
    for d in &docs {
        collect(d, file, &mut out)?;
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
    }

    #[test]
    fn hostile_names_and_labels_are_errors() {
        let bad = [
            "kind: Pod\nmetadata: {name: p, labels: {app: \"a: b\"}}\nspec: {containers: [{name: c, image: i}]}\n",
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: \"c]\\n x\", image: i}]}\n",
            "kind: Pod\nmetadata: {name: p, namespace: \"a\\nb\"}\nspec: {containers: [{name: c, image: i}]}\n",
        ];
        for text in bad {
            assert!(parse("m.yaml", text).is_err(), "{text}");
        }
        let err = parse("m.yaml", "kind: Pod\nmetadata: {name: p\n").unwrap_err();
        assert!(err.to_string().starts_with("m.yaml:"), "{err}");
    }
}
