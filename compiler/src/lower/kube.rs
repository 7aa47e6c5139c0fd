//! What the Kubernetes patches of both lowerings share (`apparmor::patches`,
//! `landlock_patch::patches`): file names, YAML scalars, and a strategic-merge patch's head down
//! to its pod template's `spec`.

/// A file-name component: Kubernetes names are already safe; anything else is made so.
pub(crate) fn path_part(s: &str) -> String {
    let out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if out.is_empty() || out == "." || out == ".." {
        format!("_{out}")
    } else {
        out
    }
}

/// API group and the path from the object's `spec` to its pod template's `spec`.
fn kind_layout(kind: &str) -> (&'static str, &'static [&'static str]) {
    match kind {
        "Pod" => ("v1", &[]),
        "Job" => ("batch/v1", &["template", "spec"]),
        "CronJob" => ("batch/v1", &["jobTemplate", "spec", "template", "spec"]),
        "ReplicationController" => ("v1", &["template", "spec"]),
        // Deployment, StatefulSet, DaemonSet, ReplicaSet.
        _ => ("apps/v1", &["template", "spec"]),
    }
}

/// YAML double-quoted scalar (JSON string syntax is valid YAML).
pub(crate) fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string serializes")
}

/// A YAML flow sequence of double-quoted scalars.
pub(crate) fn q_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    format!("[{}]", items.into_iter().map(q).collect::<Vec<_>>().join(", "))
}

/// `comment` (each line prefixed `# `), then the workload's apiVersion, kind, metadata and the
/// keys down to its pod template's `spec:` into `out`; returns the pod spec's indentation.
pub(crate) fn patch_head(out: &mut String, comment: &str, ns: &str, workload: &str, kind: &str) -> String {
    let (api, path) = kind_layout(kind);
    for line in comment.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    out.push_str(&format!(
        "apiVersion: {api}\nkind: {}\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n",
        q(kind),
        q(workload),
        q(ns)
    ));
    let mut indent = 2;
    for step in path {
        out.push_str(&format!("{}{step}:\n", " ".repeat(indent)));
        indent += 2;
    }
    " ".repeat(indent)
}
