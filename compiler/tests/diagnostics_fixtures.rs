//! Every code of `Code::ALL` has a failing and a passing fixture (`<CODE>-fail.yaml`,
//! `<CODE>-pass.yaml`) in its family's directory under compiler/tests/fixtures and a
//! `### <CODE> (<severity>)` section in docs/diagnostics.md. The failing fixture produces the
//! code; the passing one produces no finding at all. A code without either fixture or without a
//! section fails the test, and so does a fixture named after no code or in another family's
//! directory.
//!
//! Families are run the way armorc runs them (`family`):
//! - Y, S, L (front-end), fixtures/diagnostics: `inputs::from_bytes` (Y003), then `check_source`.
//!   `armorc lint` runs over this directory too (tests/lint_cli.rs, with a snapshot), so it holds
//!   front-end fixtures only.
//! - C (composition), fixtures/diagnostics-compose: `check_source` (which must be clean), then
//!   `compose` against the workload docs/diagnostics.md "Composition (C)" assumes (`DEPLOY`,
//!   default options).
//! - D (divergence), fixtures/diagnostics-divergence: as C, then the three lowerings of every
//!   target and `divergence::analyze` (with the Landlock plan where it applies), as `armorc
//!   compile --target all` does. A first line
//!   `# compile: --default-posture P` sets the default posture.
//! - K (Landlock), fixtures/diagnostics-landlock: as C, then `lower::landlock` of every target
//!   and `lower::landlock_patch` over the plans, as `armorc compile --target landlock` does (same
//!   posture line). A K fixture with workload documents of its own is composed against them
//!   instead of `DEPLOY` (K005 is about a workload).
//! - I (images), fixtures/diagnostics-image: `check_source` (which must be clean), then
//!   `image_paths::check` of every policy against the image docs/diagnostics.md "Images (I)"
//!   describes (`IMAGE`, a table read by `Table`), as `armorc lint --image` does with a loaded
//!   image (tests/lint_image_cli.rs runs real OCI layouts).
//!
//! Codes in `EXEMPT` have no fixture; each names the test that covers it instead.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

use armorc_compiler::codes::Code;
use armorc_compiler::compose::{self, compose, ComposeOptions, Posture};
use armorc_compiler::diag::Severity;
use armorc_compiler::divergence::Landlock;
use armorc_compiler::image_paths::{self, ImageFiles, Kind};
use armorc_compiler::lower::{apparmor, bpf, landlock, landlock_patch};
use armorc_compiler::workload::Workloads;
use armorc_compiler::{check_source, inputs, source::SourceFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Codes without a fixture pair, why, and the file (relative to the workspace root) that tests
/// them; that file must mention `[CODE]`.
const EXEMPT: &[(Code, &str, &str)] = &[(
    Code::C002,
    "produced by the armorc CLI (src/compile.rs compares each map image with --capacity), not by \
     this crate, and needs a compile run with --capacity; tested end to end there",
    "tests/compile_cli.rs",
)];

/// The workload of docs/diagnostics.md "Composition (C)" (`--workloads deploy.yaml`).
const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: nginx, command: [nginx, -g, 'daemon off;']}]
";

/// The image of docs/diagnostics.md "Images (I)": one entry a line, `DIR/`, `FILE`, `FILE*`
/// (executable) or `LINK -> TARGET`; parent directories are implied.
const IMAGE: &str = "/bin -> usr/bin
/etc/
/etc/passwd
/run/
/usr/bin/dash*
/usr/bin/ls*
/usr/bin/sh -> dash
/var/run -> /run
";

/// `IMAGE` as an `ImageFiles`: the entries, symlinks resolved one component at a time.
struct Table(BTreeMap<String, Kind>, Vec<String>);

impl Table {
    fn parse(text: &str) -> Table {
        let mut entries = BTreeMap::new();
        let mut executables = Vec::new();
        for line in text.lines() {
            let (path, kind) = match line.split_once(" -> ") {
                Some((link, target)) => (link, Kind::Symlink(target.into())),
                None if line.ends_with('/') => (line.trim_end_matches('/'), Kind::Dir),
                None if line.ends_with('*') => {
                    let path = line.trim_end_matches('*');
                    executables.push(path.rsplit('/').next().unwrap().to_string());
                    (path, Kind::File)
                }
                None => (line, Kind::File),
            };
            let mut parent = path;
            while let Some((p, _)) = parent.rsplit_once('/').filter(|(p, _)| !p.is_empty()) {
                entries.entry(p.to_string()).or_insert(Kind::Dir);
                parent = p;
            }
            entries.insert(path.to_string(), kind);
        }
        Table(entries, executables)
    }
}

impl ImageFiles for Table {
    fn name(&self) -> &str {
        "IMAGE"
    }
    fn lookup(&self, path: &str) -> Option<Kind> {
        if path == "/" {
            return Some(Kind::Dir);
        }
        self.0.get(path).cloned()
    }
    fn has_executable_named(&self, name: &str) -> bool {
        self.1.iter().any(|e| e == name)
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn docs() -> String {
    std::fs::read_to_string(root().join("docs/diagnostics.md")).expect("docs/diagnostics.md")
}

#[derive(Default)]
struct Pair {
    fail: Option<Vec<u8>>,
    pass: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runner {
    FrontEnd,
    Compose,
    Divergence,
    Landlock,
    Image,
}

/// Where a code's fixtures live (under compiler/tests/fixtures) and how they are run.
fn family(code: Code) -> (&'static str, Runner) {
    match code.as_str().as_bytes()[0] {
        b'Y' | b'S' | b'L' => ("diagnostics", Runner::FrontEnd),
        b'C' => ("diagnostics-compose", Runner::Compose),
        b'D' => ("diagnostics-divergence", Runner::Divergence),
        b'K' => ("diagnostics-landlock", Runner::Landlock),
        b'I' => ("diagnostics-image", Runner::Image),
        _ => panic!("{code}: no fixture directory for this family; add one in `family` or list the code in EXEMPT"),
    }
}

const DIRS: [&str; 5] =
    ["diagnostics", "diagnostics-compose", "diagnostics-divergence", "diagnostics-landlock", "diagnostics-image"];

/// The fixtures per code; panics on a file named after no code or in another family's directory.
fn fixtures() -> BTreeMap<Code, Pair> {
    let mut out: BTreeMap<Code, Pair> = BTreeMap::new();
    for dir in DIRS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
        for e in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let (code, fail) = match (name.strip_suffix("-fail.yaml"), name.strip_suffix("-pass.yaml")) {
                (Some(c), _) => (c, true),
                (_, Some(c)) => (c, false),
                _ => panic!("unexpected fixture name {dir}/{name} (expected <CODE>-fail.yaml or <CODE>-pass.yaml)"),
            };
            let code = Code::parse(code).unwrap_or_else(|| panic!("fixture {dir}/{name} names no code of Code::ALL"));
            assert_eq!(family(code).0, dir, "fixture {dir}/{name} is in another family's directory");
            let pair = out.entry(code).or_default();
            let slot = if fail { &mut pair.fail } else { &mut pair.pass };
            *slot = Some(std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn exemption(code: Code) -> Option<&'static (Code, &'static str, &'static str)> {
    EXEMPT.iter().find(|(c, _, _)| *c == code)
}

/// The codes a fixture produces (with the messages, for failures).
fn run(code: Code, name: &str, bytes: &[u8]) -> Vec<(Code, String)> {
    // Bytes -> source as armorc reads every input; text that is not UTF-8 is reported, not checked.
    let loaded = inputs::from_bytes(name, bytes.to_vec());
    if let Some(d) = loaded.not_utf8 {
        return vec![(d.code, d.message)];
    }
    let checked = check_source(loaded.source);
    let front: Vec<(Code, String)> = checked.diagnostics.iter().map(|d| (d.code, d.message.clone())).collect();
    match family(code).1 {
        Runner::FrontEnd => {
            if name.ends_with("-pass.yaml") {
                assert_eq!(checked.documents, 1, "{name}: one KubeArmor document");
                assert_eq!(checked.policies.len(), 1, "{name}: normalized");
            }
            front
        }
        Runner::Image => {
            assert!(front.is_empty(), "{name}: image fixtures must lint clean, got {front:#?}");
            assert!(!checked.policies.is_empty(), "{name}: no normalized policy");
            let table = Table::parse(IMAGE);
            let file = SourceFile::new(name, String::from_utf8_lossy(bytes));
            let policies: &[&dyn ImageFiles] = &[&table];
            checked
                .policies
                .iter()
                .flat_map(|p| image_paths::check(p, &file, policies, &[]))
                .map(|d| (d.code, d.message))
                .collect()
        }
        Runner::Compose | Runner::Divergence | Runner::Landlock => {
            assert!(front.is_empty(), "{name}: composition fixtures must lint clean, got {front:#?}");
            assert!(!checked.policies.is_empty(), "{name}: no normalized policy");
            let mut workloads = Workloads::default();
            if family(code).1 == Runner::Landlock {
                workloads
                    .read(&SourceFile::new(name, String::from_utf8_lossy(bytes)))
                    .expect("the fixture's workloads");
            }
            if workloads.workloads.is_empty() {
                workloads.read(&SourceFile::new("deploy.yaml", DEPLOY)).expect("DEPLOY reads");
            }
            let mut options = ComposeOptions::default();
            let text = String::from_utf8_lossy(bytes);
            if let Some(p) = text.lines().next().and_then(|l| l.strip_prefix("# compile: --default-posture ")) {
                options.posture = compose::parse_posture(p.trim(), Posture::default()).unwrap();
            }
            let composed = compose(&checked.policies, &workloads, &options);
            let mut found: Vec<(Code, String)> =
                composed.findings.iter().map(|f| (f.code, f.message.clone())).collect();
            if family(code).1 == Runner::Divergence {
                for target in &composed.targets {
                    let applied: Vec<_> = target.policies.iter().map(|&i| &checked.policies[i]).collect();
                    let image = bpf::lower_target(target, &applied);
                    let profile = apparmor::lower_target(target, &applied);
                    // As compile: the Landlock plan where it applies (the host, a wrapped container).
                    let lowered = landlock::lower_target(target, &applied).unwrap_or_else(|e| panic!("{name}: {e}"));
                    let warned = lowered.warned_rules();
                    let plan = (target.host || landlock_patch::wrapped(target, &workloads))
                        .then_some(Landlock { plan: &lowered.plan, warned: &warned });
                    let divergences = armorc_compiler::divergence::analyze(target, &applied, &image, &profile, plan)
                        .unwrap_or_else(|e| panic!("{name}: not analysed: {e:?}"));
                    found.extend(divergences.iter().map(|d| (d.code, d.message())));
                }
            }
            if family(code).1 == Runner::Landlock {
                let mut plans = Vec::new();
                for target in &composed.targets {
                    let applied: Vec<_> = target.policies.iter().map(|&i| &checked.policies[i]).collect();
                    let lowered = landlock::lower_target(target, &applied).unwrap_or_else(|e| panic!("{name}: {e}"));
                    found.extend(lowered.findings.iter().map(|f| (f.code, f.message.clone())));
                    plans.push((target.clone(), lowered.plan));
                }
                let patched = landlock_patch::patches(&plans, &workloads, landlock_patch::DEFAULT_IMAGE)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                found.extend(patched.findings.iter().map(|f| (f.code, f.message.clone())));
            }
            found
        }
    }
}

#[test]
fn every_code_has_a_failing_and_a_passing_fixture() {
    let mut fixtures = fixtures();
    let mut missing = Vec::new();
    for &code in Code::ALL {
        let pair = fixtures.remove(&code).unwrap_or_default();
        if let Some((_, reason, tested_in)) = exemption(code) {
            assert!(pair.fail.is_none() && pair.pass.is_none(), "{code} has fixtures: remove it from EXEMPT");
            assert!(!reason.is_empty());
            let text = std::fs::read_to_string(root().join(tested_in)).unwrap_or_else(|e| panic!("{tested_in}: {e}"));
            assert!(
                text.contains(&format!("[{code}]")),
                "{code} is exempt as tested in {tested_in}, which never names it"
            );
            continue;
        }
        for (kind, bytes) in [("fail", &pair.fail), ("pass", &pair.pass)] {
            if bytes.is_none() {
                missing.push(format!("{}/{code}-{kind}.yaml", family(code).0));
            }
        }
        if let Some(bytes) = &pair.fail {
            let name = format!("{code}-fail.yaml");
            let found = run(code, &name, bytes);
            assert!(found.iter().any(|(c, _)| *c == code), "{name} should produce {code}, got {found:#?}");
        }
        if let Some(bytes) = &pair.pass {
            let name = format!("{code}-pass.yaml");
            let found = run(code, &name, bytes);
            assert!(found.is_empty(), "{name} should be clean, got {found:#?}");
        }
    }
    assert!(missing.is_empty(), "missing fixtures under compiler/tests/fixtures: {missing:?}");
    assert!(fixtures.is_empty(), "fixtures of codes missing from Code::ALL: {:?}", fixtures.keys());
}

#[test]
fn every_code_is_documented_with_its_severity() {
    let doc = docs();
    let missing: Vec<String> = Code::ALL
        .iter()
        .map(|&code| {
            let severity = match code.default_severity() {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            format!("### {code} ({severity})")
        })
        .filter(|heading| !doc.lines().any(|l| l == heading))
        .collect();
    assert!(missing.is_empty(), "docs/diagnostics.md lacks these sections: {missing:?}");
}

#[test]
fn image_fixtures_use_the_documented_image() {
    assert!(docs().contains(&format!("```text\n{IMAGE}```")), "IMAGE differs from docs/diagnostics.md");
}

#[test]
fn composition_fixtures_use_the_documented_workload() {
    assert!(docs().contains(&format!("```yaml\n{DEPLOY}```")), "DEPLOY differs from docs/diagnostics.md");
}
