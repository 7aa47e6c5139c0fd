//! Kubernetes workloads, read once for every command that takes manifests (`armorc compile
//! --workloads`, `armorc test`, `armorc recommend -f`): the pods (labels, annotations, selector,
//! containers and init containers with their images) of Pod, Deployment, StatefulSet, DaemonSet,
//! ReplicaSet, ReplicationController, Job and CronJob documents, and Namespace annotations; `List`
//! and `*List` documents hold objects in `items`. Other kinds are skipped and counted. Read with
//! the front-end's spanned YAML tree, so every error names file, line and column.

use crate::source::SourceFile;
use crate::yaml::{self, Node};
use std::collections::BTreeMap;

/// Kinds whose pods we read.
pub const WORKLOAD_KINDS: [&str; 8] =
    ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"];

/// Where a document was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub kind: String,
    pub name: String,
    /// `metadata.namespace` as written (see `namespace_or_default`).
    pub namespace: Option<String>,
    /// Pod labels (the pod template's for controllers).
    pub labels: BTreeMap<String, String>,
    /// Pod annotations (the pod template's for controllers).
    pub annotations: BTreeMap<String, String>,
    /// The labels the workload selects its pods by: `spec.selector.matchLabels` (Deployment,
    /// StatefulSet, DaemonSet, ReplicaSet), `spec.selector` (ReplicationController), else the pod
    /// labels. Every pod carries them, so a policy selecting by them selects exactly these pods.
    pub selector: BTreeMap<String, String>,
    /// `spec.containers[]`, in order.
    pub containers: Vec<Container>,
    /// `spec.initContainers[]`, in order.
    pub init_containers: Vec<Container>,
    pub location: Location,
}

impl Workload {
    /// The namespace the workload runs in: `default` when absent (as kubectl applies it without `-n`).
    pub fn namespace_or_default(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// One container of a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    /// Optional in the API: controllers' templates may leave it to be filled in later.
    pub image: Option<String>,
    /// Where the `image:` value is (errors about the image point there).
    pub image_location: Option<Location>,
    /// `volumeMounts[].mountPath`, in order: paths that exist at run time whatever the image holds.
    pub mounts: Vec<String>,
    /// `command` (the image's ENTRYPOINT replaced); None when absent, null or empty (the API
    /// server then runs the image's ENTRYPOINT).
    pub command: Option<Vec<String>>,
    pub location: Location,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Namespace {
    pub annotations: BTreeMap<String, String>,
    pub location: Option<Location>,
}

/// Everything read from `--workloads`.
#[derive(Clone, Debug, Default)]
pub struct Workloads {
    pub workloads: Vec<Workload>,
    /// By name; a Namespace seen more than once has its annotations merged (later wins per key).
    pub namespaces: BTreeMap<String, Namespace>,
    /// Documents of other kinds (or without kind).
    pub skipped: usize,
    pub notes: Vec<String>,
}

/// A workload document we could not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: error: {message}")]
pub struct WorkloadError {
    pub location: Location,
    pub message: String,
}

impl Workloads {
    /// Reads every document of one file. Stops at the first error.
    pub fn read(&mut self, file: &SourceFile) -> Result<(), WorkloadError> {
        for doc in yaml::Documents::new(&file.text) {
            if let Some(issue) = doc.issues.first() {
                return Err(error(file, issue.span.start, issue.message.clone()));
            }
            let Some(root) = doc.root else { continue };
            if root.is_null() {
                continue;
            }
            self.document(file, &root)?;
        }
        Ok(())
    }

    fn document(&mut self, file: &SourceFile, root: &Node) -> Result<(), WorkloadError> {
        if root.as_map().is_none() {
            return Err(error(
                file,
                root.span.start,
                format!("a Kubernetes object must be a mapping, found {}", root.type_name()),
            ));
        }
        // `kind: List` (kubectl get -o yaml) holds objects in `items`.
        let kind = match root.get("kind") {
            Some(k) => string(file, k, "kind")?,
            None => {
                self.skipped += 1;
                return Ok(());
            }
        };
        if kind.ends_with("List") {
            for item in root.get("items").and_then(Node::as_seq).unwrap_or(&[]) {
                self.document(file, item)?;
            }
            return Ok(());
        }
        let location = location(file, root.span.start);
        let metadata = root.get("metadata");
        let name = |what: &str| -> Result<String, WorkloadError> {
            let n = metadata
                .and_then(|m| m.get("name"))
                .ok_or_else(|| error(file, root.span.start, format!("{what} without metadata.name")))?;
            let s = string(file, n, "metadata.name")?;
            let kind = if what == "Namespace" { NameKind::Label } else { NameKind::Subdomain };
            check_name(file, n, &s, kind)?;
            Ok(s)
        };
        if kind == "Namespace" {
            let name = name("Namespace")?;
            let annotations = string_map(file, metadata.and_then(|m| m.get("annotations")), "metadata.annotations")?;
            match self.namespaces.get_mut(&name) {
                Some(ns) => {
                    let before = ns.location.as_ref().map(|l| l.to_string()).unwrap_or_default();
                    self.notes.push(format!(
                        "{location}: Namespace {name} also defined at {before}: annotations merged, later values win per key"
                    ));
                    ns.annotations.extend(annotations);
                    ns.location = Some(location);
                }
                None => {
                    self.namespaces.insert(name, Namespace { annotations, location: Some(location) });
                }
            }
            return Ok(());
        }
        if !WORKLOAD_KINDS.contains(&kind.as_str()) {
            self.skipped += 1;
            return Ok(());
        }
        let name = name(&kind)?;
        let namespace = match metadata.and_then(|m| m.get("namespace")) {
            Some(n) => {
                let s = string(file, n, "metadata.namespace")?;
                check_name(file, n, &s, NameKind::Label)?;
                Some(s)
            }
            None => None,
        };
        // The pod: the object itself, a controller's template, or a CronJob's job template's template.
        let pod = match kind.as_str() {
            "Pod" => Some(root),
            "CronJob" => path(root, &["spec", "jobTemplate", "spec", "template"]),
            _ => path(root, &["spec", "template"]),
        };
        let Some(pod) = pod else {
            return Err(error(file, root.span.start, format!("{kind} {name} has no pod template (spec.template)")));
        };
        let pod_meta = pod.get("metadata");
        let labels = string_map(file, pod_meta.and_then(|m| m.get("labels")), "labels")?;
        let annotations = string_map(file, pod_meta.and_then(|m| m.get("annotations")), "annotations")?;
        let selector = match kind.as_str() {
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
                let at = path(root, &["spec", "selector", "matchLabels"]);
                string_map(file, at, "spec.selector.matchLabels")?
            }
            "ReplicationController" => string_map(file, path(root, &["spec", "selector"]), "spec.selector")?,
            _ => labels.clone(),
        };
        let spec = pod.get("spec");
        // Names are unique across init and app containers, as the API server requires.
        let mut names = Vec::new();
        let mut containers_of = |field: &str| -> Result<Vec<Container>, WorkloadError> {
            let mut out = Vec::new();
            for c in spec.and_then(|s| s.get(field)).and_then(Node::as_seq).unwrap_or(&[]) {
                let n = c.get("name").ok_or_else(|| error(file, c.span.start, "container without a name".into()))?;
                let s = string(file, n, "container name")?;
                check_name(file, n, &s, NameKind::Label)?;
                if names.contains(&s) {
                    return Err(error(
                        file,
                        n.span.start,
                        format!("container name {s} appears twice in {kind} {name}"),
                    ));
                }
                names.push(s.clone());
                let image_node = c.get("image").filter(|i| !i.is_null());
                let image = image_node.map(|i| string(file, i, "container image")).transpose()?;
                let image_location = image_node.map(|i| self::location(file, i.span.start));
                let mut mounts = Vec::new();
                for m in c.get("volumeMounts").and_then(Node::as_seq).unwrap_or(&[]) {
                    if let Some(p) = m.get("mountPath") {
                        mounts.push(string(file, p, "volumeMounts[].mountPath")?);
                    }
                }
                let command = string_list(file, c.get("command"), "container command")?.filter(|c| !c.is_empty());
                let location = self::location(file, c.span.start);
                out.push(Container { name: s, image, image_location, mounts, command, location });
            }
            Ok(out)
        };
        let init_containers = containers_of("initContainers")?;
        let containers = containers_of("containers")?;
        if containers.is_empty() {
            return Err(error(file, pod.span.start, format!("{kind} {name} has no containers (spec.containers)")));
        }
        self.workloads.push(Workload {
            kind,
            name,
            namespace,
            labels,
            annotations,
            selector,
            containers,
            init_containers,
            location,
        });
        Ok(())
    }
}

fn path<'a>(mut node: &'a Node, keys: &[&str]) -> Option<&'a Node> {
    for k in keys {
        node = node.get(k)?;
    }
    Some(node)
}

fn location(file: &SourceFile, offset: usize) -> Location {
    let lc = file.line_col(offset);
    Location { file: file.name.clone(), line: lc.line, column: lc.column }
}

fn error(file: &SourceFile, offset: usize, message: String) -> WorkloadError {
    WorkloadError { location: location(file, offset), message }
}

fn string(file: &SourceFile, node: &Node, what: &str) -> Result<String, WorkloadError> {
    node.as_str()
        .map(String::from)
        .ok_or_else(|| error(file, node.span.start, format!("{what} must be a string, found {}", node.type_name())))
}

/// A list of strings (`command`); None when absent or null.
fn string_list(file: &SourceFile, node: Option<&Node>, what: &str) -> Result<Option<Vec<String>>, WorkloadError> {
    let Some(node) = node.filter(|n| !n.is_null()) else { return Ok(None) };
    let Some(items) = node.as_seq() else {
        return Err(error(
            file,
            node.span.start,
            format!("{what} must be a list of strings, found {}", node.type_name()),
        ));
    };
    items.iter().map(|i| string(file, i, what)).collect::<Result<Vec<_>, _>>().map(Some)
}

/// What a name is, as Kubernetes checks it: workload names are DNS-1123 subdomains, namespace
/// and container names DNS-1123 labels (at most 63 characters, no dots). Names become file and
/// profile names, so this also keeps `/` and `..` out of them.
#[derive(Clone, Copy)]
enum NameKind {
    Subdomain,
    Label,
}

fn check_name(file: &SourceFile, node: &Node, name: &str, kind: NameKind) -> Result<(), WorkloadError> {
    use crate::check::patterns::{dns1123_label, dns1123_subdomain};
    let (ok, what) = match kind {
        NameKind::Subdomain => (dns1123_subdomain(name), "a lower-case DNS-1123 subdomain"),
        NameKind::Label => (dns1123_label(name), "a lower-case DNS-1123 label: at most 63 characters, no dots"),
    };
    if ok {
        Ok(())
    } else {
        Err(error(file, node.span.start, format!("{name:?} is not a valid Kubernetes name ({what})")))
    }
}

/// Labels and annotations: string values; YAML numbers and booleans are rejected as the API server does.
fn string_map(file: &SourceFile, node: Option<&Node>, what: &str) -> Result<BTreeMap<String, String>, WorkloadError> {
    let mut out = BTreeMap::new();
    let Some(node) = node else { return Ok(out) };
    let Some(entries) = node.as_map() else {
        return Err(error(file, node.span.start, format!("{what} must be a mapping, found {}", node.type_name())));
    };
    for e in entries {
        if e.value.is_null() {
            out.insert(e.key.clone(), String::new());
            continue;
        }
        let v = e.value.as_str().ok_or_else(|| {
            error(
                file,
                e.value.span.start,
                format!("{what}.{} must be a string, found {} (quote it)", e.key, e.value.type_name()),
            )
        })?;
        out.insert(e.key.clone(), v.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(containers: &[Container]) -> Vec<&str> {
        containers.iter().map(|c| c.name.as_str()).collect()
    }

    fn read(text: &str) -> Result<Workloads, WorkloadError> {
        let mut w = Workloads::default();
        w.read(&SourceFile::new("w.yaml", text))?;
        Ok(w)
    }

    #[test]
    fn reads_every_workload_kind_and_skips_others() {
        let text = r#"
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a, labels: {app: p}, annotations: {kubearmor-policy: audited}}
spec: {containers: [{name: c1}, {name: c2}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, labels: {ignored: "yes"}}
spec:
  template:
    metadata: {labels: {app: d}}
    spec: {containers: [{name: web}]}
---
kind: CronJob
metadata: {name: cj, namespace: b}
spec: {jobTemplate: {spec: {template: {metadata: {labels: {app: cj}}, spec: {containers: [{name: job}]}}}}}
---
kind: Service
metadata: {name: s}
---
kind: ConfigMap
"#;
        let w = read(text).unwrap();
        assert_eq!(w.workloads.len(), 3);
        assert_eq!(w.skipped, 2);
        let p = &w.workloads[0];
        assert_eq!((p.namespace_or_default(), names(&p.containers)), ("a", vec!["c1", "c2"]));
        assert_eq!(p.annotations["kubearmor-policy"], "audited");
        let d = &w.workloads[1];
        assert_eq!((d.namespace.as_deref(), d.namespace_or_default()), (None, "default"));
        assert_eq!(d.labels.get("app").map(String::as_str), Some("d"));
        assert!(!d.labels.contains_key("ignored"));
        assert_eq!(d.location.line, 7);
        assert_eq!(names(&w.workloads[2].containers), vec!["job"]);
    }

    #[test]
    fn namespaces_merge_later_wins_with_a_note() {
        let text = "kind: Namespace\nmetadata: {name: a, annotations: {kubearmor-file-posture: block, x: '1'}}\n---\nkind: Namespace\nmetadata: {name: a, annotations: {kubearmor-file-posture: audit}}\n";
        let w = read(text).unwrap();
        let ns = &w.namespaces["a"];
        assert_eq!(ns.annotations["kubearmor-file-posture"], "audit");
        assert_eq!(ns.annotations["x"], "1");
        assert_eq!(w.notes.len(), 1);
        assert!(w.notes[0].contains("w.yaml:4:1"), "{}", w.notes[0]);
    }

    #[test]
    fn errors_name_the_position() {
        let e = read("kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{image: x}]}}}\n")
            .unwrap_err();
        assert_eq!((e.location.line, e.location.column), (3, 39));
        assert!(e.message.contains("container without a name"));
        let e = read("kind: Pod\nmetadata: {name: ../etc}\nspec: {containers: [{name: c}]}\n").unwrap_err();
        assert!(e.message.contains("not a valid Kubernetes name"), "{e}");
        let e = read("kind: Pod\nmetadata: {name: p, labels: {a: 1}}\nspec: {containers: [{name: c}]}\n").unwrap_err();
        assert!(e.to_string().starts_with("w.yaml:2:"), "{e}");
        // Container and namespace names are labels: no dots, at most 63 characters.
        let long = "c".repeat(64);
        for (container, namespace) in [("dot.dot", "n"), (long.as_str(), "n"), ("c", "a.b"), ("c", long.as_str())] {
            let text = format!("kind: Pod\nmetadata: {{name: p.q, namespace: {namespace}}}\nspec: {{containers: [{{name: {container}}}]}}\n");
            let e = read(&text).unwrap_err();
            assert!(e.message.contains("DNS-1123 label"), "{container} {namespace}: {e}");
        }
        let ok = format!("kind: Pod\nmetadata: {{name: p.q}}\nspec: {{containers: [{{name: {}}}]}}\n", "c".repeat(63));
        assert!(read(&ok).is_ok());
        let e = read("kind: Pod\nmetadata: {name: p\n").unwrap_err();
        assert!(e.message.contains("invalid YAML"), "{e}");
    }

    #[test]
    fn commands_are_read() {
        let text = "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, command: [sh, -c, 'echo hi']}, {name: b, command: []}, {name: c, command: ~}]}\n";
        let w = read(text).unwrap();
        let commands: Vec<_> = w.workloads[0].containers.iter().map(|c| c.command.clone()).collect();
        assert_eq!(commands, vec![Some(vec!["sh".to_string(), "-c".into(), "echo hi".into()]), None, None]);
        let e = read("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, command: sh}]}\n").unwrap_err();
        assert_eq!(
            (e.location.line, e.location.column, e.message.as_str()),
            (3, 40, "container command must be a list of strings, found string")
        );
        let e = read("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, command: [sh, {x: 1}]}]}\n")
            .unwrap_err();
        assert_eq!((e.location.line, e.location.column), (3, 45), "{e}");
        assert!(e.message.contains("must be a string, found"), "{e}");
    }

    #[test]
    fn list_items_are_read() {
        let w = read("kind: List\nitems:\n- kind: Pod\n  metadata: {name: p}\n  spec: {containers: [{name: c}]}\n")
            .unwrap();
        assert_eq!(w.workloads.len(), 1);
        let w = read("kind: PodList\nitems:\n- kind: Pod\n  metadata: {name: p}\n  spec: {containers: [{name: c}]}\n")
            .unwrap();
        assert_eq!(w.workloads.len(), 1);
    }

    #[test]
    fn selectors_images_and_init_containers() {
        let text = r#"
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: fe}}
    spec:
      initContainers: [{name: migrate, image: 'busybox:1'}]
      containers: [{name: nginx, image: 'nginx:1.25'}, {name: php, image: ~}]
---
kind: ReplicationController
metadata: {name: rc}
spec: {selector: {app: rc}, template: {metadata: {labels: {app: rc, v: '1'}}, spec: {containers: [{name: c}]}}}
---
kind: Job
metadata: {name: j}
spec: {template: {metadata: {labels: {job: j}}, spec: {containers: [{name: c, image: i}]}}}
"#;
        let w = read(text).unwrap();
        let [web, rc, job] = &w.workloads[..] else { panic!("{:?}", w.workloads) };
        assert_eq!(web.selector, BTreeMap::from([("app".to_string(), "web".to_string())]));
        assert_eq!(web.labels.len(), 2);
        assert_eq!((names(&web.init_containers), names(&web.containers)), (vec!["migrate"], vec!["nginx", "php"]));
        assert_eq!(web.containers[0].image.as_deref(), Some("nginx:1.25"));
        let at = web.containers[0].image_location.as_ref().unwrap();
        assert_eq!((at.line, at.column), (10, 41));
        assert_eq!((web.containers[1].image.as_ref(), web.containers[1].image_location.as_ref()), (None, None));
        assert_eq!(web.containers[0].command, None);
        assert_eq!(rc.selector, BTreeMap::from([("app".to_string(), "rc".to_string())]));
        assert_eq!(job.selector, job.labels);
        // Volume mounts: paths the container has at run time.
        let w = read("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, volumeMounts: [{name: d, mountPath: /data}, {name: e, mountPath: /var/cache/x}]}]}\n").unwrap();
        assert_eq!(w.workloads[0].containers[0].mounts, vec!["/data", "/var/cache/x"]);
        let e =
            read("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, volumeMounts: [{mountPath: [x]}]}]}\n")
                .unwrap_err();
        assert!(e.message.contains("mountPath must be a string"), "{e}");
        // Init and app containers share one name space.
        let e = read("kind: Pod\nmetadata: {name: p}\nspec: {initContainers: [{name: c}], containers: [{name: c}]}\n")
            .unwrap_err();
        assert!(e.message.contains("appears twice"), "{e}");
    }
}
