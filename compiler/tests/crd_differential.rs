//! Differential test: our schema-level verdict (any error whose code `is_schema_level()`) must equal
//! the verdict of KubeArmor's CRD schema (nulls pruned, `metadata` dropped, unknown properties
//! forbidden) checked by the `jsonschema` crate, for every KubeArmor document of the corpus and for
//! a deterministic set of schema-guided mutations.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use armorc_compiler::{check_source, codes::Code, diag::Severity, source::SourceFile};
use common::mutate::{self, FieldIndex, Mutation};
use common::oracle::CrdOracle;
use common::{is_kubearmor_kind, load_yaml_docs, yaml_files, LoadError};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Deliberate differences from the CRD, each documented in docs/diagnostics.md under
/// "Differences from the CRD". An entry excludes every corpus file whose path, or mutation whose
/// detail, contains the first string.
const DELIBERATE_DIFFERENCES: &[(&str, &str)] = &[
    // "Pattern semantics are Go's regexp": `.` matches `\r` and U+2028 for the API server (and us),
    // not in the ECMAScript dialect the jsonschema crate uses.
    (r#"= "/a\rb""#, "regex dialect: Go's `.` matches \\r"),
    ("/a\u{2028}b", "regex dialect: Go's `.` matches U+2028"),
];

/// Truth for ../shared/corpus/policy-templates, established outside the project (issue 2).
const CORPUS_DUPLICATE_KEY_FILES: usize = 12;
const CORPUS_CRD_REJECTED_FILES: usize = 41;

/// At least this many mutations must be applied and compared.
const MIN_MUTATIONS: usize = 1_000;
/// Attempts made (one per mutation family in turn); not every seed has a place for every family.
const MUTATION_ATTEMPTS: usize = 2_520;
const SEED: [u8; 32] = *b"armorc-crd-differential-seed-v1!";

/// Mutations the brief names: each (kind, detail substring) must be drawn at least once.
const REQUIRED_COVERAGE: &[(&str, &str)] = &[
    ("KubeArmorPolicy", "action = \"block\""),
    ("", "severity = 0"),
    ("", "severity = 11"),
    ("", "severity = \"5\""),
    ("", "delete "),
    ("KubeArmorHostPolicy", "delete spec.nodeSelector"),
    ("KubeArmorHostPolicy", "fromSource"),
    ("", "path = \"bin/sh\""),
    ("", "path = \"/bin/sh/\""),
    ("", "aaaaaaaaaa"),
    ("", "dir = \"/etc\""),
    ("", "allowedArgs = [20 items]"),
    ("", "allowedArgs = [21 items]"),
    ("", "protocol = \"xtcp\""),
    ("", "protocol = \"Tcp\""),
    ("", "protocol = \"tcp,udp\""),
    ("", "capability = \"cap_net_raw\""),
    ("", " = null"),
    ("KubeArmorPolicy", "key = \"namespace\""),
    ("KubeArmorClusterPolicy", "key = \"namespace\""),
    ("", " -> "),
];

/// Hand-written seeds covering what the corpus lacks (cluster policies, host devices, allowedArgs,
/// syscalls, DNS). Each must be valid per the CRD (checked below).
const SYNTHETIC_SEEDS: &[&str] = &[
    r#"apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: full-ksp
  namespace: default
spec:
  severity: 5
  tags: [MITRE, T1059]
  message: full policy
  selector:
    matchLabels:
      app: web
    matchExpressions:
      - key: label
        operator: In
        values: [app=web]
  process:
    severity: 3
    matchPaths:
      - path: /bin/sh
        allowedArgs: [-c, ls]
        fromSource:
          - path: /usr/bin/bash
      - execname: curl
    matchDirectories:
      - dir: /usr/sbin/
        recursive: true
        ownerOnly: false
    matchPatterns:
      - pattern: /tmp/*/sh
    action: Block
  file:
    matchPaths:
      - path: /etc/shadow
        readOnly: true
    matchDirectories:
      - dir: /etc/
        recursive: true
        action: Audit
  network:
    matchProtocols:
      - protocol: raw
        fromSource:
          - path: /bin/ping
    matchDNSQueries:
      - domain: example.com
  capabilities:
    matchCapabilities:
      - capability: net_raw
  syscalls:
    matchSyscalls:
      - syscall: [mount, umount2]
        fromSource:
          - path: /bin/mount
    matchPaths:
      - path: /etc/
        recursive: true
        syscall: [unlink]
  presets:
    - name: filelessExec
      action: Audit
  action: Block
"#,
    r#"apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: host-hardening
spec:
  nodeSelector:
    matchLabels:
      kubernetes.io/hostname: node1
  severity: 5
  process:
    matchPaths:
      - path: /usr/bin/passwd
        allowedArgs: [--help]
  file:
    matchDirectories:
      - dir: /etc/ssh/
        recursive: true
  network:
    matchProtocols:
      - protocol: icmp
        fromSource:
          - path: /bin/ping
  capabilities:
    matchCapabilities:
      - capability: sys_admin
        fromSource:
          - path: /usr/bin/mount
  device:
    matchDevice:
      - class: USB
        level: 1
  action: Audit
"#,
    r#"apiVersion: security.kubearmor.com/v1
kind: KubeArmorClusterPolicy
metadata:
  name: cluster-block-shells
spec:
  selector:
    matchExpressions:
      - key: namespace
        operator: NotIn
        values: [kube-system]
      - key: label
        operator: In
        values: [tier=frontend]
  process:
    matchPaths:
      - path: /bin/bash
        allowedArgs: [-i]
    matchDirectories:
      - dir: /bin/
  file:
    matchPaths:
      - path: /etc/passwd
        ownerOnly: true
  network:
    matchProtocols:
      - protocol: tcp
  action: Block
"#,
];

/// A document of another kind that starts the multi-document variants (counted as skipped).
const STREAM_PREFIX: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n";

/// Our front-end's view of one text: schema-level errors and the number of KubeArmor documents.
struct Ours {
    schema_errors: Vec<String>,
    documents: usize,
}

fn ours(name: &str, text: &str) -> Ours {
    let checked = check_source(SourceFile::new(name, text));
    let schema_errors = checked
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error && d.code.is_schema_level())
        .map(|d| {
            let at = d.span.map(|s| d.file.line_col(s.start)).map(|lc| format!("{}:{}", lc.line, lc.column));
            format!("{} {} {}", d.code, at.unwrap_or_else(|| "1:1".into()), d.message)
        })
        .collect();
    Ours { schema_errors, documents: checked.documents }
}

fn deliberate(name: &str) -> Option<&'static str> {
    DELIBERATE_DIFFERENCES.iter().find(|(key, _)| name.contains(key)).map(|(_, why)| *why)
}

fn oracle(corpus: &Path) -> CrdOracle {
    CrdOracle::load(&corpus.join("crds"))
}

/// The harness itself: the oracle accepts our seeds and rejects the issue's named faults. This
/// does not depend on the front-end, so it shows the oracle is able to fail.
#[test]
fn oracle_sanity() {
    let Some(corpus) = common::corpus_dir() else { return };
    let oracle = oracle(&corpus);
    for seed in SYNTHETIC_SEEDS {
        let errors = oracle.check_text(seed).expect("seed loads").expect("seed is a KubeArmor kind");
        assert!(errors.is_empty(), "seed rejected by the CRD: {errors:?}\n{seed}");
    }
    let ksp = SYNTHETIC_SEEDS[0];
    let bad = [
        ("lowercase action", ksp.replace("  action: Block\n", "  action: block\n")),
        ("app under selector", ksp.replace("  selector:\n", "  selector:\n    app: web\n")),
        ("recurive typo", ksp.replace("recursive: true", "recurive: true")),
        ("severity 11", ksp.replace("severity: 5", "severity: 11")),
        ("severity string", ksp.replace("severity: 5", "severity: \"5\"")),
        ("dir without slash", ksp.replace("dir: /etc/", "dir: /etc")),
        ("path with trailing slash", ksp.replace("path: /etc/shadow", "path: /etc/shadow/")),
        ("protocol Tcp", ksp.replace("protocol: raw", "protocol: Tcp")),
        (
            "host without nodeSelector",
            SYNTHETIC_SEEDS[1].replace("  nodeSelector:\n    matchLabels:\n      kubernetes.io/hostname: node1\n", ""),
        ),
        (
            "host capability without fromSource",
            SYNTHETIC_SEEDS[1].replace(
                "      - capability: sys_admin\n        fromSource:\n          - path: /usr/bin/mount\n",
                "      - capability: sys_admin\n",
            ),
        ),
        ("namespace key in KSP", ksp.replace("key: label", "key: namespace")),
    ];
    for (what, text) in &bad {
        let errors = oracle.check_text(text).expect("loads").expect("kind");
        assert!(!errors.is_empty(), "oracle accepted {what}:\n{text}");
    }
    let nulls = ksp.replace("  message: full policy\n", "  message: null\n  apparmor: ~\n");
    let errors = oracle.check_text(&nulls).expect("loads").expect("kind");
    assert!(errors.is_empty(), "nulls must count as absent: {errors:?}");
}

#[test]
fn corpus_verdicts_match_crd() {
    let Some(corpus) = common::corpus_dir() else { return };
    let oracle = oracle(&corpus);
    let root = corpus.join("policy-templates");
    let (mut duplicate_key_files, mut rejected, mut accepted, mut ksp_files) = (Vec::new(), 0, 0, 0);
    let mut mismatches = Vec::new();
    let mut excluded = Vec::new();
    for file in yaml_files(&root) {
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        let crd_errors = match oracle.check_text(&text) {
            Err(LoadError::DuplicateKey(_)) => {
                // Outside the oracle's reach, but we must still see the duplicate key (Y002).
                let checked = check_source(SourceFile::new(name.as_str(), text.as_str()));
                if !checked.diagnostics.iter().any(|d| d.code == Code::Y002 && d.severity == Severity::Error) {
                    mismatches.push(format!("{name}: duplicate key not reported as Y002"));
                }
                duplicate_key_files.push(name);
                continue;
            }
            Err(LoadError::Other(e)) => panic!("{name}: the reference YAML loader refuses it: {e}"),
            Ok(None) => continue,
            Ok(Some(errors)) => errors,
        };
        let loaded: Vec<Value> = load_yaml_docs(&text).unwrap();
        let expected_docs = loaded.iter().filter(|d| is_kubearmor_kind(d)).count();
        ksp_files += loaded.iter().any(|d| d["kind"] == "KubeArmorPolicy") as usize;
        let oracle_invalid = !crd_errors.is_empty();
        if oracle_invalid {
            rejected += 1;
        } else {
            accepted += 1;
        }
        let ours = ours(&name, &text);
        let ours_invalid = !ours.schema_errors.is_empty();
        if ours.documents != expected_docs || ours_invalid != oracle_invalid {
            if let Some(why) = deliberate(&name) {
                excluded.push(format!("{name}: {why}"));
                continue;
            }
            mismatches.push(format!(
                "{name}: CRD {} ({} docs), ours {} ({} docs)\n    CRD: {:?}\n    ours: {:?}",
                verdict(oracle_invalid),
                expected_docs,
                verdict(ours_invalid),
                ours.documents,
                crd_errors,
                ours.schema_errors
            ));
        }
    }
    eprintln!(
        "corpus: {ksp_files} KubeArmorPolicy files without duplicate keys; of all KubeArmor files the CRD accepts {accepted}, rejects {rejected}; \
         {} files with duplicate keys excluded; {} deliberate differences excluded",
        duplicate_key_files.len(),
        excluded.len()
    );
    excluded.iter().for_each(|e| eprintln!("  excluded: {e}"));
    assert_eq!(duplicate_key_files.len(), CORPUS_DUPLICATE_KEY_FILES, "duplicate-key files: {duplicate_key_files:#?}");
    assert_eq!(rejected, CORPUS_CRD_REJECTED_FILES, "the oracle disagrees with the established truth");
    assert!(
        mismatches.is_empty(),
        "{} corpus files where our schema-level verdict differs from the CRD:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn verdict(invalid: bool) -> &'static str {
    if invalid {
        "rejects"
    } else {
        "accepts"
    }
}

/// Seeds: corpus KubeArmor documents the CRD accepts (one per file), plus the synthetic seeds.
fn seeds(corpus: &Path, oracle: &CrdOracle) -> Vec<Value> {
    let mut out = Vec::new();
    for text in SYNTHETIC_SEEDS {
        out.extend(load_yaml_docs(text).unwrap());
    }
    for file in yaml_files(&corpus.join("policy-templates")) {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let Ok(docs) = load_yaml_docs(&text) else { continue };
        for doc in docs {
            if oracle.errors(&doc).is_some_and(|e| e.is_empty()) {
                out.push(doc);
            }
        }
    }
    out
}

/// Render a mutated document as block YAML, or as JSON, which is YAML too. `None` when
/// the text does not load back to the same value (an emitter limit, not a front-end verdict).
fn render(doc: &Value, as_json: bool) -> Option<String> {
    let text = if as_json { serde_json::to_string_pretty(doc).ok()? } else { serde_saphyr::to_string(doc).ok()? };
    let back = load_yaml_docs(&text).ok()?;
    (back.len() == 1 && &back[0] == doc).then_some(text)
}

#[derive(Default)]
struct Tally {
    applied: usize,
    crd_rejects: usize,
    mismatches: usize,
    excluded: usize,
}

#[test]
fn mutations_match_crd() {
    let Some(corpus) = common::corpus_dir() else { return };
    let oracle = oracle(&corpus);
    let fields = FieldIndex::new(&oracle.schemas);
    let seeds = seeds(&corpus, &oracle);
    assert!(seeds.len() > SYNTHETIC_SEEDS.len(), "no corpus seeds");

    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
    let choice = (0..seeds.len(), proptest::num::u32::ANY, proptest::num::u32::ANY, 0u8..8);
    let mut tally: BTreeMap<&str, Tally> = mutate::KINDS.iter().map(|k| (*k, Tally::default())).collect();
    let (mut not_applicable, mut emitter_skips) = (0, 0);
    let mut mismatches = Vec::new();
    let mut compared = 0;
    let mut drawn: Vec<(String, String)> = Vec::new();

    for attempt in 0..MUTATION_ATTEMPTS {
        let kind = attempt % mutate::KINDS.len();
        let (seed_index, site, variant, format) = choice.new_tree(&mut runner).expect("strategy").current();
        // The synthetic seeds carry the fields the corpus lacks: give them a fair share.
        let seed = if attempt % 3 == 0 { &seeds[seed_index % SYNTHETIC_SEEDS.len()] } else { &seeds[seed_index] };
        let kind_name = seed["kind"].as_str().unwrap().to_string();
        let schema = &oracle.schemas[&kind_name];
        let Some(Mutation { kind: family, detail, doc }) = mutate::mutate(seed, schema, &fields, kind, site, variant)
        else {
            not_applicable += 1;
            continue;
        };
        let Some(mut text) = render(&doc, format == 0) else {
            emitter_skips += 1;
            continue;
        };
        // 1 in 8: inside a stream, after a Deployment and a valid cluster policy, so findings must
        // stay with their document.
        let expected_documents = if format == 1 {
            text = format!("{STREAM_PREFIX}---\n{}---\n{text}", SYNTHETIC_SEEDS[2]);
            2
        } else {
            1
        };
        let crd_errors = oracle.errors(&doc).expect("mutations keep the kind");
        let ours = ours(&format!("mutation-{attempt}.yaml"), &text);
        drawn.push((kind_name.clone(), detail.clone()));
        let t = tally.get_mut(family).unwrap();
        t.applied += 1;
        compared += 1;
        t.crd_rejects += !crd_errors.is_empty() as usize;
        if crd_errors.is_empty() != ours.schema_errors.is_empty() || ours.documents != expected_documents {
            if deliberate(&detail).is_some() {
                t.excluded += 1;
                continue;
            }
            t.mismatches += 1;
            mismatches.push(format!(
                "#{attempt} {kind_name} {family}: {detail}\n  CRD {}: {crd_errors:?}\n  ours {} ({} docs): {:?}\n{}",
                verdict(!crd_errors.is_empty()),
                verdict(!ours.schema_errors.is_empty()),
                ours.documents,
                ours.schema_errors,
                indent(&text)
            ));
        }
    }

    eprintln!("mutation mix ({compared} compared, {not_applicable} not applicable to their seed, {emitter_skips} skipped by the emitter; 1 in 8 rendered as JSON, 1 in 8 inside a 3-document stream):");
    eprintln!("  {:<20} {:>8} {:>12} {:>10} {:>9}", "family", "applied", "CRD rejects", "mismatch", "excluded");
    for (family, t) in &tally {
        eprintln!("  {family:<20} {:>8} {:>12} {:>10} {:>9}", t.applied, t.crd_rejects, t.mismatches, t.excluded);
    }
    assert!(compared >= MIN_MUTATIONS, "only {compared} mutations compared");
    for (kind, needle) in REQUIRED_COVERAGE {
        let n = drawn.iter().filter(|(k, d)| k.contains(kind) && d.contains(needle)).count();
        eprintln!("  covered {n:>4} x {kind} {needle}");
        assert!(n > 0, "no mutation of {kind} with {needle:?} was drawn");
    }
    for (family, t) in &tally {
        assert!(t.applied >= 20, "mutation family {family} applied only {} times", t.applied);
        if *family != "valid_change" && *family != "null_insertion" {
            assert!(t.crd_rejects > 0, "family {family} never produced a document the CRD rejects");
        }
    }
    assert!(
        tally["valid_change"].crd_rejects < tally["valid_change"].applied,
        "valid changes should mostly stay valid"
    );
    let shown: Vec<&String> = mismatches.iter().take(30).collect();
    assert!(
        mismatches.is_empty(),
        "{} of {compared} mutations where our schema-level verdict differs from the CRD (first {}):\n{}",
        mismatches.len(),
        shown.len(),
        shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    | {l}\n")).collect()
}

#[test]
fn synthetic_seeds_are_accepted_by_us() {
    // The seeds are valid per the CRD; the front-end must not report schema-level errors for them.
    for (i, seed) in SYNTHETIC_SEEDS.iter().enumerate() {
        let ours = ours(&format!("seed-{i}.yaml"), seed);
        assert_eq!(ours.documents, 1, "seed {i} not counted as a KubeArmor document");
        assert!(ours.schema_errors.is_empty(), "seed {i}: {:?}", ours.schema_errors);
    }
}
