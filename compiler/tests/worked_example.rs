//! Reference §3.11 end to end: the worked example's policy as YAML, through the front-end,
//! composition (namespace posture file=block, network=audit) and BPF lowering, then the
//! consequences the reference lists, asked of the reference decision model.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

use armorc_compiler::compose::{self, ComposeOptions};
use armorc_compiler::lower::bpf;
use armorc_compiler::model::Model;
use armorc_compiler::query::parse_line;
use armorc_compiler::source::SourceFile;
use armorc_compiler::workload::Workloads;

const POLICY: &str = r#"apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: worked
  namespace: demo
spec:
  selector:
    matchLabels:
      app: demo
  process:
    matchDirectories:
      - dir: /usr/bin/
        recursive: true
        action: Allow
    matchPaths:
      - path: /usr/bin/apt
        action: Block
  file:
    matchDirectories:
      - dir: /etc/
        readOnly: true
        action: Block
    matchPaths:
      - path: /secret.txt
        ownerOnly: true
        fromSource:
          - path: /bin/cat
        action: Allow
  network:
    matchProtocols:
      - protocol: tcp
        fromSource:
          - path: /usr/bin/curl
        action: Block
  capabilities:
    matchCapabilities:
      - capability: net_raw
        action: Block
"#;

const WORKLOADS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: demo
  annotations:
    kubearmor-file-posture: block
    kubearmor-network-posture: audit
---
apiVersion: v1
kind: Pod
metadata:
  name: demo
  namespace: demo
  labels: {app: demo}
spec:
  containers: [{name: app, image: debian}]
"#;

#[test]
fn worked_example_consequences() {
    let checked = armorc_compiler::check_source(SourceFile::new("worked.yaml", POLICY));
    assert!(
        !checked.diagnostics.iter().any(|d| d.severity == armorc_compiler::diag::Severity::Error),
        "{:#?}",
        checked.diagnostics.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
    assert_eq!(checked.policies.len(), 1);
    let mut w = Workloads::default();
    w.read(&SourceFile::new("w.yaml", WORKLOADS)).unwrap();
    let c = compose::compose(&checked.policies, &w, &ComposeOptions::default());
    assert_eq!(c.targets.len(), 1);
    let target = &c.targets[0];
    let applied: Vec<_> = target.policies.iter().map(|&i| &checked.policies[i]).collect();
    let image = bpf::lower_target(target, &applied);
    assert_eq!(image.entries.len(), 12, "the reference's entry count");
    let model = Model::new(&image);

    let cases: [(&str, bool, &str); 12] = [
        (r#"{"op":"exec","path":"/usr/bin/apt"}"#, true, "rule"),
        (r#"{"op":"exec","path":"/usr/bin/ls"}"#, false, "rule"),
        (r#"{"op":"exec","path":"/opt/x"}"#, true, "posture"),
        (r#"{"op":"open","path":"/etc/passwd"}"#, false, "rule"),
        (r#"{"op":"write","path":"/etc/passwd"}"#, true, "rule"),
        (r#"{"op":"open","path":"/lib/x86_64-linux-gnu/libc.so.6"}"#, true, "posture"),
        (r#"{"op":"open","path":"/secret.txt","source":"/bin/cat","owner":true}"#, false, "rule"),
        (r#"{"op":"open","path":"/secret.txt","source":"/bin/cat","owner":false}"#, true, "rule"),
        (r#"{"op":"socket","type":"stream","protocol":"tcp","source":"/usr/bin/curl"}"#, true, "rule"),
        (r#"{"op":"socket","type":"stream","protocol":"tcp","source":"/usr/bin/wget"}"#, false, "default"),
        (r#"{"op":"capable","capability":"net_raw"}"#, true, "rule"),
        (r#"{"op":"capable","capability":"sys_admin"}"#, false, "default"),
    ];
    for (line, deny, by) in cases {
        let q = parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let d = model.decide(&q);
        assert_eq!((d.deny, d.by.name()), (deny, by), "{line}: {d:?}");
        if by == "rule" {
            let rule = &image.rules[d.rule.expect("a rule decided") as usize];
            assert_eq!(rule.policy, "KubeArmorPolicy/demo/worked");
            assert_eq!(rule.file, "worked.yaml");
        }
    }
}

/// Alert fields in the provenance table: severity, tags, message and action resolve rule >
/// section > spec (as in the IR) and survive the file format.
#[test]
fn provenance_carries_alert_fields() {
    const ALERTS: &str = r#"apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: alerts
  namespace: demo
spec:
  selector:
    matchLabels:
      app: demo
  severity: 3
  tags: [spec-tag]
  message: spec message
  action: Block
  process:
    severity: 7
    tags: [MITRE, T1059]
    matchPaths:
      - path: /bin/bash
        message: no shells
      - path: /usr/bin/id
        action: Allow
  file:
    matchPaths:
      - path: /etc/shadow
        severity: 9
"#;
    let checked = armorc_compiler::check_source(SourceFile::new("alerts.yaml", ALERTS));
    assert!(
        !checked.diagnostics.iter().any(|d| d.severity == armorc_compiler::diag::Severity::Error),
        "{:#?}",
        checked.diagnostics.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
    let mut w = Workloads::default();
    w.read(&SourceFile::new("w.yaml", WORKLOADS)).unwrap();
    let c = compose::compose(&checked.policies, &w, &ComposeOptions::default());
    let target = &c.targets[0];
    let applied: Vec<_> = target.policies.iter().map(|&i| &checked.policies[i]).collect();
    let image = bpf::lower_target(target, &applied);
    let image = armorc_compiler::image::MapImage::decode(&image.encode()).unwrap();
    let rule_of = |text: &str| {
        let e = image.entries.iter().find(|e| e.main_text() == text).unwrap_or_else(|| panic!("no entry {text}"));
        &image.rules[e.value.rule as usize]
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let bash = rule_of("/bin/bash");
    assert_eq!((bash.at.as_str(), bash.line), ("spec.process.matchPaths[0]", 18));
    assert_eq!(bash.severity, 7);
    assert_eq!(bash.tags, strings(&["MITRE", "T1059"]));
    assert_eq!(bash.message, "no shells");
    assert_eq!(bash.action, "Block");

    let id = rule_of("/usr/bin/id");
    assert_eq!((id.severity, id.message.as_str(), id.action.as_str()), (7, "spec message", "Allow"));
    assert_eq!(id.tags, strings(&["MITRE", "T1059"]));

    let shadow = rule_of("/etc/shadow");
    assert_eq!((shadow.severity, shadow.message.as_str(), shadow.action.as_str()), (9, "spec message", "Block"));
    assert_eq!(shadow.tags, strings(&["spec-tag"]));
}
