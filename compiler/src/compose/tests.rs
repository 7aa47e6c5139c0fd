//! Composition tests over hand-built IR and workloads.

use super::*;
use crate::ir::{Origin, Policy, PolicyKind, Rule, RuleTarget as T};
use crate::source::SourceFile;

fn origin(at: &str) -> Origin {
    Origin { file: "p.yaml".into(), line: 3, column: 1, at: at.into() }
}

fn policy(kind: PolicyKind, name: &str, namespace: Option<&str>, selector: Selector, rules: Vec<Rule>) -> Policy {
    Policy {
        kind,
        name: name.into(),
        namespace: namespace.map(String::from),
        origin: origin(""),
        selector,
        rules,
        apparmor: vec![],
        presets: vec![],
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn ksp(
    name: &str,
    ns: &str,
    match_labels: &[(&str, &str)],
    expressions: Vec<Expression>,
    containers: &[&str],
) -> Policy {
    policy(
        PolicyKind::KubeArmorPolicy,
        name,
        Some(ns),
        Selector::Namespaced {
            match_labels: labels(match_labels),
            expressions,
            containers: containers.iter().map(|s| s.to_string()).collect(),
        },
        vec![],
    )
}

fn expr(key: ExpressionKey, operator: Operator, values: &[&str]) -> Expression {
    Expression { key, operator, values: values.iter().map(|s| s.to_string()).collect() }
}

fn workloads(text: &str) -> Workloads {
    let mut w = Workloads::default();
    w.read(&SourceFile::new("w.yaml", text)).unwrap();
    w
}

const WORKLOADS: &str = r#"
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {template: {metadata: {labels: {app: web, tier: front}}, spec: {containers: [{name: nginx}, {name: sidecar}]}}}
---
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}, annotations: {kubearmor-policy: audited}}
spec: {containers: [{name: pg}]}
---
kind: Pod
metadata: {name: off, namespace: other, labels: {app: web}, annotations: {kubearmor-policy: disabled}}
spec: {containers: [{name: c}]}
---
kind: Pod
metadata: {name: dns, namespace: kube-system, labels: {app: web}}
spec: {containers: [{name: c}]}
---
kind: Namespace
metadata: {name: shop, annotations: {kubearmor-file-posture: Block, kubearmor-network-posture: bogus}}
"#;

fn names(c: &Composition, policy: usize) -> Vec<String> {
    c.targets
        .iter()
        .filter(|t| t.policies.contains(&policy))
        .map(|t| {
            if t.host {
                "host".into()
            } else {
                format!(
                    "{}/{}/{}",
                    t.namespace.as_deref().unwrap(),
                    t.workload.as_deref().unwrap(),
                    t.container.as_deref().unwrap()
                )
            }
        })
        .collect()
}

#[test]
fn match_labels_namespace_and_container_names() {
    let w = workloads(WORKLOADS);
    let policies = vec![
        ksp("all-shop", "shop", &[], vec![], &[]),
        ksp("web", "shop", &[("app", "web")], vec![], &[]),
        ksp("nginx-only", "shop", &[("app", "web")], vec![], &["nginx"]),
        ksp("wrong-ns", "nope", &[], vec![], &[]),
        ksp("two-labels", "shop", &[("app", "web"), ("tier", "back")], vec![], &[]),
    ];
    let c = compose(&policies, &w, &ComposeOptions::default());
    assert_eq!(names(&c, 0), vec!["shop/db/pg", "shop/web/nginx", "shop/web/sidecar"]);
    assert_eq!(names(&c, 1), vec!["shop/web/nginx", "shop/web/sidecar"]);
    assert_eq!(names(&c, 2), vec!["shop/web/nginx"]);
    assert!(names(&c, 3).is_empty());
    assert!(names(&c, 4).is_empty());
    let c001: Vec<_> = c.findings.iter().filter(|f| f.code == Code::C001).collect();
    assert_eq!(c001.len(), 2);
    assert!(c001[0].message.contains("KubeArmorPolicy/nope/wrong-ns"));
    // Targets are sorted and there is no host without --node-labels.
    assert_eq!(c.targets.len(), 5);
    assert!(!c.targets.iter().any(|t| t.host));
}

#[test]
fn label_expressions_follow_kubearmor_order_quirks() {
    let l = labels(&[("app", "web")]);
    let e = |op, v: &[&str]| expr(ExpressionKey::Label, op, v);
    assert!(label_expressions_match(&[], &l));
    assert!(label_expressions_match(&[e(Operator::In, &["app=web", "app=x"])], &l));
    assert!(!label_expressions_match(&[e(Operator::In, &["app=x"])], &l));
    // NotIn decides alone when present (the In result is ignored).
    assert!(label_expressions_match(&[e(Operator::NotIn, &["app=db"]), e(Operator::In, &["app=x"])], &l));
    assert!(!label_expressions_match(&[e(Operator::NotIn, &["app=web"]), e(Operator::In, &["app=web"])], &l));
    // NotIn after an In is ignored.
    assert!(label_expressions_match(&[e(Operator::In, &["app=web"]), e(Operator::NotIn, &["app=web"])], &l));
    assert!(!label_expressions_match(&[e(Operator::In, &["app"])], &l));
}

#[test]
fn cluster_policies_by_namespace() {
    let w = workloads(WORKLOADS);
    let csp = |name: &str, expressions| {
        policy(PolicyKind::KubeArmorClusterPolicy, name, None, Selector::Cluster { expressions }, vec![])
    };
    let policies = vec![
        csp("in-other", vec![expr(ExpressionKey::Namespace, Operator::In, &["other"])]),
        csp("not-shop", vec![expr(ExpressionKey::Namespace, Operator::NotIn, &["shop"])]),
        csp(
            "in-then-notin",
            vec![
                expr(ExpressionKey::Namespace, Operator::In, &["shop"]),
                expr(ExpressionKey::Namespace, Operator::NotIn, &["shop"]),
            ],
        ),
        csp(
            "ns-and-label",
            vec![
                expr(ExpressionKey::Namespace, Operator::In, &["shop"]),
                expr(ExpressionKey::Label, Operator::In, &["app=db"]),
            ],
        ),
    ];
    let c = compose(&policies, &w, &ComposeOptions::default());
    assert_eq!(names(&c, 0), vec!["other/off/c"]);
    assert_eq!(names(&c, 1), vec!["kube-system/dns/c", "other/off/c"]);
    assert_eq!(names(&c, 2).len(), 3);
    assert_eq!(names(&c, 3), vec!["shop/db/pg"]);
}

#[test]
fn posture_enforcement_and_namespace_annotations() {
    let w = workloads(WORKLOADS);
    let options = ComposeOptions {
        posture: parse_posture("file=audit,network=block", Posture::default()).unwrap(),
        host_posture: Some(parse_posture("block", Posture::default()).unwrap()),
        node_labels: Some(labels(&[("kubernetes.io/hostname", "n1")])),
    };
    let c = compose(&[], &w, &options);
    let get = |ns: &str, wl: &str| {
        c.targets.iter().find(|t| t.namespace.as_deref() == Some(ns) && t.workload.as_deref() == Some(wl)).unwrap()
    };
    let web = get("shop", "web");
    // Namespace annotation (case-insensitive) overrides file; an invalid value falls back to the global one.
    assert_eq!(
        web.posture,
        Posture { file: PostureAction::Block, network: PostureAction::Block, capabilities: PostureAction::Audit }
    );
    assert!(c.notes.iter().any(|n| n.contains("kubearmor-network-posture") && n.contains("bogus")));
    assert_eq!(web.enforcement, Enforcement::Enabled);
    assert_eq!(get("shop", "db").enforcement, Enforcement::Audited);
    assert!(matches!(&get("other", "off").enforcement, Enforcement::Disabled(r) if r.contains("disabled")));
    assert!(matches!(&get("kube-system", "dns").enforcement, Enforcement::Disabled(r) if r.contains("untracked")));
    assert_eq!(get("other", "off").posture.network, PostureAction::Block);
    let host = c.targets.last().unwrap();
    assert!(host.host);
    assert_eq!(
        host.posture,
        Posture { file: PostureAction::Block, network: PostureAction::Block, capabilities: PostureAction::Block }
    );
}

#[test]
fn posture_and_label_parsing_errors() {
    assert!(parse_posture("deny", Posture::default()).is_err());
    assert_eq!(
        parse_posture("file=block,proc=audit", Posture::default()),
        Err(PostureError::UnknownCategory("proc".into()))
    );
    assert_eq!(
        parse_posture("file=block,proc=audit", Posture::default()).unwrap_err().to_string(),
        r#"unknown posture category "proc" (file, network, capabilities)"#
    );
    assert_eq!(parse_labels("=b"), Err(LabelsError::EmptyKey("=b".into())));
    assert!(parse_labels("a=b,c").is_err());
    assert_eq!(parse_labels("a=b, c=d").unwrap(), labels(&[("a", "b"), ("c", "d")]));
}

#[test]
fn host_policies_by_node_selector() {
    let node = labels(&[("kubernetes.io/hostname", "worker-1"), ("role", "gpu")]);
    assert!(host_matches(&labels(&[("role", "gpu")]), &node));
    assert!(!host_matches(&labels(&[("role", "cpu")]), &node));
    assert!(!host_matches(&labels(&[]), &node));
    assert!(host_matches(&labels(&[("kubernetes.io/hostname", "*")]), &node));
    assert!(host_matches(&labels(&[("kubernetes.io/hostname", "a,worker-1")]), &node));
    assert!(host_matches(&labels(&[("kubernetes.io/hostnamereg", "work*1")]), &node));
    assert!(!host_matches(&labels(&[("kubernetes.io/hostnamereg", "x*")]), &node));

    let hsp = |name: &str, sel: &[(&str, &str)]| {
        policy(PolicyKind::KubeArmorHostPolicy, name, None, Selector::Host { node_labels: labels(sel) }, vec![])
    };
    let policies = vec![hsp("gpu", &[("role", "gpu")]), hsp("cpu", &[("role", "cpu")])];
    let none = compose(&policies, &Workloads::default(), &ComposeOptions::default());
    assert!(none.targets.is_empty());
    assert!(none.findings.iter().all(|f| f.message.contains("no --node-labels")));
    let c =
        compose(&policies, &Workloads::default(), &ComposeOptions { node_labels: Some(node), ..Default::default() });
    assert_eq!(c.targets.len(), 1);
    assert_eq!(c.targets[0].policies, vec![0]);
    assert_eq!(c.findings.len(), 1);
    assert!(c.findings[0].message.contains("KubeArmorHostPolicy/-/cpu"));
}

#[test]
fn allow_under_another_policys_block_directory_is_reported_once() {
    let w = workloads(WORKLOADS);
    let rule = |target: T, action: Action, at: &str| Rule {
        target,
        source: None,
        action,
        severity: 0,
        tags: vec![],
        message: String::new(),
        origin: origin(at),
    };
    let mut block = ksp("block-etc", "shop", &[("app", "web")], vec![], &[]);
    block.rules = vec![
        rule(
            T::FileDir { dir: "/etc/".into(), recursive: false, read_only: false, owner_only: false, pts_false: false },
            Action::Block,
            "spec.file.matchDirectories[0]",
        ),
        rule(
            T::ProcessDir { dir: "/usr/".into(), recursive: true, owner_only: false, pts_false: false },
            Action::Block,
            "spec.process.matchDirectories[0]",
        ),
    ];
    let mut allow = ksp("allow", "shop", &[], vec![], &[]);
    allow.rules = vec![
        rule(
            T::FilePath { path: "/etc/hostname".into(), read_only: false, owner_only: false, pts_false: false },
            Action::Allow,
            "spec.file.matchPaths[0]",
        ),
        // Not a direct child of a non-recursive directory: no conflict.
        rule(
            T::FilePath { path: "/etc/ssl/x".into(), read_only: false, owner_only: false, pts_false: false },
            Action::Allow,
            "spec.file.matchPaths[1]",
        ),
        // Another category: no conflict.
        rule(
            T::ProcessPath { path: "/etc/hostname".into(), owner_only: false, pts_false: false, allowed_args: vec![] },
            Action::Allow,
            "spec.process.matchPaths[0]",
        ),
        rule(
            T::ProcessPath { path: "/usr/bin/ls".into(), owner_only: false, pts_false: false, allowed_args: vec![] },
            Action::Allow,
            "spec.process.matchPaths[1]",
        ),
    ];
    let c = compose(&[block, allow], &w, &ComposeOptions::default());
    let c003: Vec<_> = c.findings.iter().filter(|f| f.code == Code::C003).collect();
    assert_eq!(c003.len(), 2, "{c003:#?}");
    assert!(
        c003[0].message.contains("/etc/hostname") && c003[0].message.contains("in 2 target(s)"),
        "{}",
        c003[0].message
    );
    assert_eq!(c003[0].origin.as_ref().unwrap().at, "spec.file.matchPaths[0]");
    assert_eq!(c003[0].related[0].0.at, "spec.file.matchDirectories[0]");
    assert!(c003[1].message.contains("/usr/bin/ls"));
}

#[test]
fn under_directory() {
    assert!(under("/etc/a", "/etc/", false));
    assert!(under("/etc/a/", "/etc/", false));
    assert!(!under("/etc/a/b", "/etc/", false));
    assert!(under("/etc/a/b", "/etc/", true));
    assert!(!under("/etc/", "/etc/", true));
    assert!(!under("/etcx", "/etc/", true));
}

#[test]
fn allow_after_block_of_the_same_path_is_reported_in_that_order_only() {
    let w = workloads(WORKLOADS);
    let rule = |action: Action| Rule {
        target: T::ProcessPath { path: "/bin/sleep".into(), owner_only: false, pts_false: false, allowed_args: vec![] },
        source: None,
        action,
        severity: 0,
        tags: vec![],
        message: String::new(),
        origin: origin("spec.process.matchPaths[0]"),
    };
    let mut block = ksp("block", "shop", &[("app", "web")], vec![], &[]);
    block.rules = vec![rule(Action::Block)];
    let mut allow = ksp("allow", "shop", &[("app", "web")], vec![], &[]);
    allow.rules = vec![rule(Action::Allow)];
    let c = compose(&[block.clone(), allow.clone()], &w, &ComposeOptions::default());
    let c003: Vec<_> = c.findings.iter().filter(|f| f.code == Code::C003).collect();
    assert_eq!(c003.len(), 1);
    assert!(
        c003[0].message.contains("comes after a Block of the same path")
            && c003[0].message.contains("last writer wins"),
        "{}",
        c003[0].message
    );
    // Allow first, Block last: both enforcers deny.
    let c = compose(&[allow, block], &w, &ComposeOptions::default());
    assert!(!c.findings.iter().any(|f| f.code == Code::C003));
}
