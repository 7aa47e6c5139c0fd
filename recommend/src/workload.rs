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

fn collect(doc: &serde_json::Value, file: &str, out: &mut Vec<Container>) -> Result<(), String> {
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
        return Err(format!("{file}: {kind} without metadata.name"));
    }
    let workload = format!("{kind} {}{name}", namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default());
    // Everything that ends up in a selector or name must be valid Kubernetes syntax.
    if let Some(ns) = &namespace {
        if !crate::templates::is_dns_label(ns) {
            return Err(format!("{file}: {workload}: namespace {ns:?} is not a DNS-1123 label"));
        }
    }
    for (k, v) in &labels {
        if !crate::render::valid_label_key(k) || !crate::render::valid_label_value(v) {
            return Err(format!("{file}: {workload}: selector label {k:?}={v:?} is not a valid Kubernetes label"));
        }
    }
    for (field, init) in [("initContainers", true), ("containers", false)] {
        for c in pod_spec[field].as_array().into_iter().flatten() {
            let cname = c["name"].as_str().ok_or_else(|| format!("{file}: {workload}: a container without name"))?;
            if !crate::templates::is_dns_label(cname) {
                return Err(format!("{file}: {workload}: container name {cname:?} is not a DNS-1123 label"));
            }
            let image =
                c["image"].as_str().ok_or_else(|| format!("{file}: {workload}: container {cname} without image"))?;
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
pub fn parse(file: &str, text: &str) -> Result<Vec<Container>, String> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).map_err(|e| {
        let loc = e.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default();
        format!("{file}{loc}: {}", e.without_snippet().to_string().lines().next().unwrap_or("invalid YAML"))
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
        assert!(err.starts_with("m.yaml:"), "{err}");
    }
}
