//! The divergence analysis shares work across the targets of a run (parsed profile lines, pattern
//! answers, and each divergence's texts, made once and found again by what they are made of). On
//! a generated run whose containers share most of their policies (namespace-wide, tier and app
//! selectors over one small vocabulary of paths, as benches/gen_compile.py), every target's
//! divergences from one shared `Analyzer` (profiles from one `Lowering` recording their lines, as
//! `armorc compile` does) must equal a fresh analysis of that target alone.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

use armorc_compiler::codes::Code;
use armorc_compiler::compose::{compose, ComposeOptions};
use armorc_compiler::diag::Severity;
use armorc_compiler::divergence::{self, Analyzer};
use armorc_compiler::lower::{apparmor, bpf, landlock};
use armorc_compiler::workload::Workloads;
use armorc_compiler::{check_source, source::SourceFile};
use std::collections::BTreeSet;
use std::fmt::Write;

const BINARIES: [&str; 8] = ["sh", "bash", "curl", "apt", "nc", "python3", "tar", "su"];
const BIN_DIRS: [&str; 3] = ["/bin/", "/usr/bin/", "/usr/local/bin/"];
const FILE_DIRS: [&str; 6] = ["/etc/", "/etc/ssl/", "/var/log/", "/root/", "/tmp/", "/usr/lib/"];
const FILES: [&str; 6] = ["passwd", "shadow", "hosts", "token", "app.conf", "id_rsa"];
const PROTOCOLS: [&str; 5] = ["tcp", "udp", "icmp", "raw", "all"];
const CAPS: [&str; 3] = ["net_raw", "sys_admin", "chown"];
const NAMESPACES: usize = 4;
const DEPLOYMENTS: usize = 5;

/// A small deterministic generator (64-bit LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// One policy's YAML: 4 to 9 rules of the benchmark's shapes under one action.
fn policy(rng: &mut Rng, ns: &str, index: usize, selector: &str) -> String {
    // (section, field) -> list items
    let mut sections: std::collections::BTreeMap<(usize, &str), Vec<String>> = Default::default();
    for _ in 0..4 + rng.below(6) {
        let source = |rng: &mut Rng| {
            if rng.chance(20) {
                format!("        fromSource:\n          - path: {}{}\n", rng.pick(&BIN_DIRS), rng.pick(&BINARIES))
            } else {
                String::new()
            }
        };
        let owner = |rng: &mut Rng| if rng.chance(20) { "        ownerOnly: true\n" } else { "" };
        let read_only = |rng: &mut Rng| if rng.chance(15) { "        readOnly: true\n" } else { "" };
        let recursive = |rng: &mut Rng| if rng.chance(70) { "        recursive: true\n" } else { "" };
        let (section, field, item) = match rng.below(10) {
            0..=2 => (
                0,
                "matchPaths",
                format!("      - path: {}{}\n{}", rng.pick(&BIN_DIRS), rng.pick(&BINARIES), owner(rng)),
            ),
            3 => (0, "matchDirectories", format!("      - dir: {}\n{}", rng.pick(&BIN_DIRS), recursive(rng))),
            4 => (0, "matchPatterns", format!("      - pattern: /**/{}*\n", rng.pick(&BINARIES))),
            5 | 6 => {
                let (dir, file) = (rng.pick(&FILE_DIRS), rng.pick(&FILES));
                (1, "matchPaths", format!("      - path: {dir}{file}\n{}{}", owner(rng), read_only(rng)))
            }
            7 => (
                1,
                "matchDirectories",
                format!("      - dir: {}\n{}{}", rng.pick(&FILE_DIRS), recursive(rng), read_only(rng)),
            ),
            8 => (1, "matchPatterns", format!("      - pattern: {}**/*.conf\n", rng.pick(&FILE_DIRS))),
            _ if rng.chance(70) => (2, "matchProtocols", format!("      - protocol: {}\n", rng.pick(&PROTOCOLS))),
            _ => (3, "matchCapabilities", format!("      - capability: {}\n", rng.pick(&CAPS))),
        };
        let item = if field == "matchPatterns" { item } else { item + &source(rng) };
        sections.entry((section, field)).or_default().push(item);
    }
    let action = ["Block", "Block", "Allow", "Audit"][rng.below(4)];
    let mut out = format!(
        "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: p-{index:02}\n  \
         namespace: {ns}\nspec:\n{selector}"
    );
    for (i, name) in ["process", "file", "network", "capabilities"].iter().enumerate() {
        let fields: Vec<_> = sections.iter().filter(|((s, _), _)| *s == i).collect();
        if !fields.is_empty() {
            writeln!(out, "  {name}:").unwrap();
        }
        for ((_, field), items) in fields {
            writeln!(out, "    {field}:").unwrap();
            items.iter().for_each(|i| out.push_str(i));
        }
    }
    writeln!(out, "  action: {action}").unwrap();
    out
}

#[test]
fn a_shared_analyzer_agrees_with_each_target_alone() {
    let mut rng = Rng(16);
    let (mut policies, mut workloads) = (Vec::new(), Vec::new());
    for n in 0..NAMESPACES {
        let ns = format!("ns-{n}");
        // Half the namespaces block by default: file allow-lists are in force there.
        let posture = if n % 2 == 0 { "block" } else { "audit" };
        workloads.push(format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  annotations:\n    \
             kubearmor-file-posture: {posture}\n    kubearmor-network-posture: {posture}\n"
        ));
        for j in 0..20 {
            let selector = match j % 10 {
                0 | 1 => "  selector:\n    matchLabels: {}\n".to_string(),
                2..=5 => format!("  selector:\n    matchLabels:\n      tier: t{}\n", j % 2),
                _ => format!("  selector:\n    matchLabels:\n      app: app-{}\n", j % DEPLOYMENTS),
            };
            policies.push(policy(&mut rng, &ns, j, &selector));
        }
        for d in 0..DEPLOYMENTS {
            workloads.push(format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{d}\n  namespace: {ns}\nspec:\n  \
                 template:\n    metadata:\n      labels: {{app: app-{d}, tier: t{}}}\n    spec:\n      containers:\n        \
                 - {{name: main, image: app}}\n        - {{name: sidecar, image: proxy}}\n",
                d % 2
            ));
        }
    }
    let checked = check_source(SourceFile::new("generated.yaml", policies.join("---\n")));
    let errors: Vec<_> = checked.diagnostics.iter().filter(|d| d.severity == Severity::Error).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut read = Workloads::default();
    read.read(&SourceFile::new("workloads.yaml", workloads.join("---\n"))).unwrap();
    let composed = compose(&checked.policies, &read, &ComposeOptions::default());
    assert_eq!(composed.targets.len(), NAMESPACES * DEPLOYMENTS * 2);

    let mut lowering = apparmor::Lowering::new(&checked.policies).recording_lines();
    let mut analyzer = Analyzer::default();
    let (mut total, mut kinds) = (0, BTreeSet::new());
    for target in &composed.targets {
        let applied: Vec<_> = target.policies.iter().map(|&i| &checked.policies[i]).collect();
        let image = bpf::lower_target(target, &applied);
        let profile = lowering.lower(target, &target.policies);
        let lowered = landlock::lower_target(target, &applied).unwrap();
        let warned = lowered.warned_rules();
        let plan = Some(divergence::Landlock { plan: &lowered.plan, warned: &warned });
        let shared: Vec<divergence::Divergence> = analyzer
            .analyze(target, &applied, &image, &profile, plan)
            .unwrap()
            .into_iter()
            .map(|(_, d)| d.clone())
            .collect();
        let alone =
            divergence::analyze(target, &applied, &image, &apparmor::lower_target(target, &applied), plan).unwrap();
        assert_eq!(shared, alone, "{}", target.name());
        total += alone.len();
        kinds.extend(alone.iter().map(|d| d.code));
    }
    println!("{total} divergences of {} kinds in {} targets", kinds.len(), composed.targets.len());
    // The run is only a check if targets share divergences of several kinds.
    assert!(total >= 200 && kinds.len() >= 4 && kinds.contains(&Code::D010), "{total} divergences, kinds {kinds:?}");
}
