//! Landlock in Kubernetes pods: per workload a strategic-merge patch that starts each container
//! through `armor-exec` (docs/runtime.md, "Landlock in Kubernetes pods"), and the ConfigMap of
//! its plans. A container is wrapped when the workload names its `command`: the patch replaces
//! it with `/armorc/bin/armor-exec --plan /armorc/plans/<container>.json -- <command...>` (`args`
//! untouched: the kubelet appends them). An init container copies the static `armor-exec` from
//! its image into an emptyDir mounted at /armorc/bin; the ConfigMap is mounted at /armorc/plans.
//! A container without `command` cannot be wrapped (armorc does not know the image's ENTRYPOINT,
//! which a `command` would replace): K005. Output is deterministic: workloads and containers in
//! name order.

use crate::codes::Code;
use crate::compose::{Enforcement, Finding, Target};
use crate::diag::Severity;
use crate::ir::Origin;
use crate::landlock::Plan;
use crate::lower::kube::{patch_head, path_part, q, q_list};
use crate::workload::{Workload, Workloads};
use std::collections::BTreeMap;

/// `armorc compile --armor-exec-image`'s default: what `scripts/armor-exec.sh --image` tags.
pub const DEFAULT_IMAGE: &str = concat!("localhost/armor-exec:", env!("CARGO_PKG_VERSION"));
/// Where the pod sees armor-exec and the plans.
pub const BIN_DIR: &str = "/armorc/bin";
pub const PLAN_DIR: &str = "/armorc/plans";
const BIN_VOLUME: &str = "armorc-bin";
const PLAN_VOLUME: &str = "armorc-plans";
const INIT_CONTAINER: &str = "armorc-install-armor-exec";
/// The API server's limit on a ConfigMap's data (bytes).
const CONFIGMAP_MAX: usize = 1024 * 1024;

/// The files (`patches/landlock/<namespace>/<workload>.yaml` and `..._plans.yaml`) and K005.
#[derive(Debug, Default)]
pub struct Patches {
    pub files: Vec<(String, String)>,
    pub findings: Vec<Finding>,
}

/// The ConfigMap of a workload's plans (`armorc-landlock-<workload>`).
pub fn configmap_name(workload: &str) -> String {
    format!("armorc-landlock-{workload}")
}

/// Patches for every workload among `targets` (container targets with their plans). Only
/// enforced targets whose plan applies something are wrapped; a workload with none gets no file.
/// Fails when a ConfigMap name or its data would exceed the API server's limits.
pub fn patches(targets: &[(Target, Plan)], workloads: &Workloads, image: &str) -> Result<Patches, String> {
    // (namespace, workload, kind) -> container -> plan
    let mut by_workload: BTreeMap<(&str, &str, &str), BTreeMap<&str, &Plan>> = BTreeMap::new();
    for (t, plan) in targets {
        let (Some(ns), Some(workload), Some(kind), Some(container)) =
            (&t.namespace, &t.workload, &t.workload_kind, &t.container)
        else {
            continue; // the host
        };
        if t.host || t.enforcement != Enforcement::Enabled || !applies_something(plan) {
            continue;
        }
        by_workload.entry((ns, workload, kind)).or_default().insert(container, plan);
    }
    let mut out = Patches::default();
    for ((ns, name, kind), plans) in by_workload {
        let Some(workload) = find_workload(workloads, ns, name, kind) else {
            continue;
        };
        let mut wrapped = Vec::new();
        for (container, plan) in plans {
            let Some(c) = workload.containers.iter().find(|c| c.name == container) else { continue };
            match &c.command {
                Some(command) => wrapped.push((container, command, plan)),
                None => out.findings.push(no_command(workload, container)),
            }
        }
        if wrapped.is_empty() {
            continue;
        }
        let configmap = configmap_name(name);
        if configmap.len() > 253 {
            return Err(format!(
                "{kind} {ns}/{name} ({}): the ConfigMap of its Landlock plans would be named {configmap}, longer than \
                 the 253 characters Kubernetes allows; shorten the workload's name",
                workload.location
            ));
        }
        let data: Vec<(String, String)> =
            wrapped.iter().map(|(c, _, plan)| (format!("{c}.json"), plan.encode())).collect();
        let size: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > CONFIGMAP_MAX {
            return Err(format!(
                "{kind} {ns}/{name} ({}): its Landlock plans take {size} bytes, more than the {CONFIGMAP_MAX} a \
                 ConfigMap may hold",
                workload.location
            ));
        }
        let base = format!("patches/landlock/{}/{}", path_part(ns), path_part(name));
        let patch = render_patch(ns, name, kind, &configmap, image, &wrapped);
        out.files.push((format!("{base}.yaml"), patch));
        out.files.push((format!("{base}_plans.yaml"), render_configmap(ns, name, kind, &configmap, &data)));
    }
    Ok(out)
}

/// The workload `(namespace, name, kind)` among `workloads`.
fn find_workload<'w>(workloads: &'w Workloads, ns: &str, name: &str, kind: &str) -> Option<&'w Workload> {
    workloads.workloads.iter().find(|w| w.namespace_or_default() == ns && w.name == name && w.kind == kind)
}

/// Whether armor-exec wraps the target's container in its pod, so that its plan applies there: the
/// container has a `command` (K005 otherwise).
pub fn wrapped(t: &Target, workloads: &Workloads) -> bool {
    let (Some(ns), Some(workload), Some(kind), Some(container)) =
        (&t.namespace, &t.workload, &t.workload_kind, &t.container)
    else {
        return false;
    };
    find_workload(workloads, ns, workload, kind)
        .and_then(|w| w.containers.iter().find(|c| &c.name == container))
        .is_some_and(|c| c.command.is_some())
}

/// Whether applying the plan restricts anything (armor-exec would otherwise run the command as is).
fn applies_something(plan: &Plan) -> bool {
    !plan.layers.is_empty() || !plan.drop_capabilities.is_empty() || plan.network.is_some()
}

fn no_command(w: &Workload, container: &str) -> Finding {
    let ns = w.namespace_or_default();
    let c = w.containers.iter().find(|c| c.name == container).expect("the caller found the container");
    Finding {
        code: Code::K005,
        severity: Severity::Warning,
        message: format!(
            "{} {ns}/{}: container {container} has no `command`: it is not wrapped with armor-exec, so its \
             Landlock plan is not applied in the pod (a wrapper would replace the image's ENTRYPOINT, which \
             armorc does not know); set `command` (the image's ENTRYPOINT) in the workload to wrap it",
            w.kind, w.name
        ),
        origin: Some(Origin {
            file: c.location.file.clone(),
            line: c.location.line,
            column: c.location.column,
            at: format!("container {container}"),
        }),
        related: Vec::new(),
    }
}

fn render_patch(
    ns: &str,
    workload: &str,
    kind: &str,
    configmap: &str,
    image: &str,
    wrapped: &[(&str, &Vec<String>, &Plan)],
) -> String {
    let mut out = String::new();
    let pad = patch_head(
        &mut out,
        &format!(
            "Generated by armorc: starts this workload's containers through armor-exec under their Landlock plans.\n\
             Apply with kustomize (patches:) or `kubectl patch --type strategic --patch-file`, together with\n\
             the ConfigMap {configmap} ({}_plans.yaml).",
            path_part(workload)
        ),
        ns,
        workload,
        kind,
    );
    let line = |out: &mut String, indent: usize, text: &str| {
        out.push_str(&pad);
        out.push_str(&" ".repeat(indent));
        out.push_str(text);
        out.push('\n');
    };
    let mount = |out: &mut String, volume: &str, path: &str, read_only: bool| {
        line(out, 6, &format!("- name: {}", q(volume)));
        line(out, 8, &format!("mountPath: {}", q(path)));
        if read_only {
            line(out, 8, "readOnly: true");
        }
    };
    line(&mut out, 0, "volumes:");
    line(&mut out, 2, &format!("- name: {}", q(BIN_VOLUME)));
    line(&mut out, 4, "emptyDir: {}");
    line(&mut out, 2, &format!("- name: {}", q(PLAN_VOLUME)));
    line(&mut out, 4, "configMap:");
    line(&mut out, 6, &format!("name: {}", q(configmap)));
    line(&mut out, 0, "initContainers:");
    line(&mut out, 2, &format!("- name: {}", q(INIT_CONTAINER)));
    line(&mut out, 4, &format!("image: {}", q(image)));
    line(&mut out, 4, &format!("command: {}", q_list(["/armor-exec", "--install", BIN_DIR])));
    line(&mut out, 4, "securityContext:");
    line(&mut out, 6, "allowPrivilegeEscalation: false");
    line(&mut out, 6, "capabilities:");
    line(&mut out, 8, "drop: [\"ALL\"]");
    line(&mut out, 6, "readOnlyRootFilesystem: true");
    line(&mut out, 6, "runAsNonRoot: true");
    line(&mut out, 6, "runAsUser: 65534");
    line(&mut out, 4, "volumeMounts:");
    mount(&mut out, BIN_VOLUME, BIN_DIR, false);
    line(&mut out, 0, "containers:");
    for (container, command, _) in wrapped {
        let plan = format!("{PLAN_DIR}/{container}.json");
        let exec = format!("{BIN_DIR}/armor-exec");
        let wrapper = [exec.as_str(), "--plan", plan.as_str(), "--"];
        line(&mut out, 2, &format!("- name: {}", q(container)));
        line(
            &mut out,
            4,
            &format!("command: {}", q_list(wrapper.into_iter().chain(command.iter().map(String::as_str)))),
        );
        line(&mut out, 4, "volumeMounts:");
        mount(&mut out, BIN_VOLUME, BIN_DIR, true);
        mount(&mut out, PLAN_VOLUME, PLAN_DIR, true);
    }
    out
}

fn render_configmap(ns: &str, workload: &str, kind: &str, configmap: &str, data: &[(String, String)]) -> String {
    let mut out = format!(
        "# Generated by armorc: the Landlock plans of {kind} {ns}/{workload}, one key per container, mounted at\n\
         # {PLAN_DIR} by {}.yaml's patch. Apply it with the workload (kustomize resources:).\n",
        path_part(workload)
    );
    out.push_str(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n  namespace: {}\ndata:\n",
        q(configmap),
        q(ns)
    ));
    for (key, plan) in data {
        out.push_str(&format!("  {}: {}\n", q(key), q(plan)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::Posture;
    use crate::source::SourceFile;

    fn plan(target: &str, layers: bool) -> Plan {
        let text = if layers {
            format!(
                r#"{{"version":1,"target":"{target}","abi":1,"layers":[{{"name":"deny execute","handled":["execute"],"grants":[{{"kind":"except","access":["execute"],"excluded":[{{"path":"/usr/bin/id","shallow":false,"rule":0}}]}}]}}],"drop_capabilities":[],"rules":[{{"policy":"KubeArmorPolicy/shop/p","at":"spec.process.matchPaths[0]","file":"p.yaml","line":1,"action":"Block"}}]}}"#
            )
        } else {
            format!(r#"{{"version":1,"target":"{target}","abi":0,"layers":[],"drop_capabilities":[],"rules":[]}}"#)
        };
        Plan::decode(text.as_bytes()).unwrap()
    }

    fn target(workload: &str, kind: &str, container: &str, enforcement: Enforcement) -> Target {
        Target {
            namespace: Some("shop".into()),
            workload: Some(workload.into()),
            workload_kind: Some(kind.into()),
            container: Some(container.into()),
            host: false,
            enforcement,
            posture: Posture::default(),
            policies: Vec::new(),
        }
    }

    const WORKLOADS: &str = "kind: Deployment
metadata: {name: web, namespace: shop}
spec: {template: {spec: {containers: [{name: nginx, command: [nginx, -g, 'daemon off;'], args: [-q]}, {name: logger}]}}}
---
kind: Pod
metadata: {name: empty, namespace: shop}
spec: {containers: [{name: c, command: [sh]}, {name: audited, command: [sh]}]}
";

    #[test]
    fn wraps_containers_with_a_command_and_warns_for_the_others() {
        let mut w = Workloads::default();
        w.read(&SourceFile::new("w.yaml", WORKLOADS)).unwrap();
        let targets = vec![
            (target("web", "Deployment", "nginx", Enforcement::Enabled), plan("shop/web/nginx", true)),
            (target("web", "Deployment", "logger", Enforcement::Enabled), plan("shop/web/logger", true)),
            // nothing to apply, or not enforced: neither wrapped nor warned about
            (target("empty", "Pod", "c", Enforcement::Enabled), plan("shop/empty/c", false)),
            (target("empty", "Pod", "audited", Enforcement::Audited), plan("shop/empty/audited", true)),
        ];
        let out = patches(&targets, &w, "registry.example/armor-exec:1").unwrap();
        let names: Vec<&str> = out.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["patches/landlock/shop/web.yaml", "patches/landlock/shop/web_plans.yaml"]);
        let patch = &out.files[0].1;
        assert!(
            patch.contains(r#"command: ["/armorc/bin/armor-exec", "--plan", "/armorc/plans/nginx.json", "--", "nginx", "-g", "daemon off;"]"#),
            "{patch}"
        );
        assert!(patch.contains(r#"image: "registry.example/armor-exec:1""#), "{patch}");
        assert!(!patch.contains("logger") && !patch.contains("args"), "{patch}");
        let configmap = &out.files[1].1;
        assert!(configmap.contains(r#"name: "armorc-landlock-web""#), "{configmap}");
        assert!(configmap.contains(&format!("  \"nginx.json\": {}\n", q(&targets[0].1.encode()))), "{configmap}");
        let [k005] = &out.findings[..] else { panic!("{:?}", out.findings) };
        assert_eq!(k005.code, Code::K005);
        assert!(k005.message.contains("Deployment shop/web: container logger has no `command`"), "{}", k005.message);
        let origin = k005.origin.as_ref().unwrap();
        assert_eq!((origin.file.as_str(), origin.line), ("w.yaml", 3));
    }

    #[test]
    fn names_over_the_limits_are_errors() {
        let long = "w".repeat(250);
        let text = format!("kind: Pod\nmetadata: {{name: {long}, namespace: shop}}\nspec: {{containers: [{{name: c, command: [sh]}}]}}\n");
        let mut w = Workloads::default();
        w.read(&SourceFile::new("w.yaml", text)).unwrap();
        let targets = vec![(target(&long, "Pod", "c", Enforcement::Enabled), plan("shop/x/c", true))];
        let e = patches(&targets, &w, DEFAULT_IMAGE).unwrap_err();
        assert!(e.contains("w.yaml:1:1") && e.contains("longer than the 253 characters"), "{e}");
    }
}
