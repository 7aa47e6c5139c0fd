//! Reference §3.11 end to end: the worked example's policy as YAML, through the front-end,
//! composition (namespace posture file=block, network=audit) and BPF lowering, then the
//! consequences the reference lists, asked of the reference decision model.

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
