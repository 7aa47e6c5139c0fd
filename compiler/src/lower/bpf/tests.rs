//! Lowering tests over hand-built IR (independent of the front-end).

use super::*;
use crate::compose::{Posture, PostureAction};
use crate::image::*;
use crate::ir::{Origin, Policy, PolicyKind, Rule, RuleTarget as T, Selector};
use std::collections::BTreeMap;

fn origin(at: &str) -> Origin {
    Origin { file: "p.yaml".into(), line: 1, column: 1, at: at.into() }
}

fn rule(target: T, action: Action, source: Option<&str>, at: &str) -> Rule {
    Rule {
        target,
        source: source.map(String::from),
        action,
        severity: 0,
        tags: vec![],
        message: String::new(),
        origin: origin(at),
    }
}

fn policy(name: &str, rules: Vec<Rule>) -> Policy {
    Policy {
        kind: PolicyKind::KubeArmorPolicy,
        name: name.into(),
        namespace: Some("ns".into()),
        origin: origin(""),
        selector: Selector::Namespaced { match_labels: BTreeMap::new(), expressions: vec![], containers: vec![] },
        rules,
        apparmor: vec![],
        presets: vec![],
    }
}

fn target(posture: Posture) -> Target {
    Target {
        namespace: Some("ns".into()),
        workload: Some("web".into()),
        workload_kind: Some("Deployment".into()),
        container: Some("c".into()),
        host: false,
        enforcement: Enforcement::Enabled,
        posture,
        policies: vec![0],
    }
}

fn lower(policies: &[Policy], posture: Posture) -> MapImage {
    let refs: Vec<&Policy> = policies.iter().collect();
    lower_target(&target(posture), &refs)
}

/// `(kind, text without fields, source text, process, file)` rows, sorted by text for comparison.
fn rows(img: &MapImage) -> Vec<(u8, String, Option<String>, u16, u16)> {
    let mut v: Vec<_> = img
        .entries
        .iter()
        .map(|e| {
            (e.key.kind, e.main_text().to_string(), e.source_text().map(String::from), e.value.process, e.value.file)
        })
        .collect();
    v.sort();
    v
}

fn pdir(dir: &str, recursive: bool) -> T {
    T::ProcessDir { dir: dir.into(), recursive, owner_only: false, pts_false: false }
}
fn ppath(path: &str) -> T {
    T::ProcessPath { path: path.into(), owner_only: false, pts_false: false, allowed_args: vec![] }
}
fn fpath(path: &str, read_only: bool, owner_only: bool) -> T {
    T::FilePath { path: path.into(), read_only, owner_only, pts_false: false }
}
fn fdir(dir: &str, recursive: bool, read_only: bool) -> T {
    T::FileDir { dir: dir.into(), recursive, read_only, owner_only: false, pts_false: false }
}
fn proto(p: &str) -> T {
    T::Protocol { protocol: p.into(), known: Protocol::parse(p), pts_false: false }
}
fn cap(name: &str) -> T {
    T::Capability { name: name.into(), number: ir::capability_number(name) }
}

/// Reference §3.11: the worked map image, same key set and masks (modulo our key layout).
#[test]
fn worked_map_image_of_reference_3_11() {
    let p = policy(
        "worked",
        vec![
            rule(pdir("/usr/bin/", true), Action::Allow, None, "spec.process.matchDirectories[0]"),
            rule(ppath("/usr/bin/apt"), Action::Block, None, "spec.process.matchPaths[0]"),
            rule(fdir("/etc/", false, true), Action::Block, None, "spec.file.matchDirectories[0]"),
            rule(fpath("/secret.txt", false, true), Action::Allow, Some("/bin/cat"), "spec.file.matchPaths[0]"),
            rule(proto("tcp"), Action::Block, Some("/usr/bin/curl"), "spec.network.matchProtocols[0]"),
            rule(cap("net_raw"), Action::Block, None, "spec.capabilities.matchCapabilities[0]"),
        ],
    );
    let posture =
        Posture { file: PostureAction::Block, network: PostureAction::Audit, capabilities: PostureAction::Audit };
    let img = lower(&[p], posture);
    let s = |x: &str| Some(x.to_string());
    let mut expected = vec![
        (KIND_PATH, "/".to_string(), None, 0x0061, 0x00C4),
        (KIND_PATH, "/usr/".into(), None, 0x0061, 0),
        (KIND_PATH, "/usr/bin".into(), None, 0x0021, 0),
        (KIND_PATH, "/usr/bin/".into(), None, 0x0031, 0),
        (KIND_PATH, "/usr/bin/apt".into(), None, 0x0081, 0),
        (KIND_PATH, "/etc".into(), None, 0, 0x0084),
        (KIND_PATH, "/etc/".into(), None, 0, 0x0094),
        (KIND_PATH, "/secret.txt".into(), s("/bin/cat"), 0, 0x000E),
        (KIND_NET_PROTO, "tcp".into(), s("/usr/bin/curl"), 0x0080, 0),
        (KIND_CAPABILITY, "net_raw".into(), None, 0x0080, 0),
        (KIND_POSTURE, "posture:process".into(), None, POSTURE_BLOCK, 0),
        (KIND_POSTURE, "posture:file".into(), None, POSTURE_BLOCK, 0),
    ];
    expected.sort();
    assert_eq!(rows(&img), expected);
    assert_eq!(img.entries.len(), 12);
    // Keys: network and capability numbers as in §3.6.
    let tcp = img.entries.iter().find(|e| e.main_text() == "tcp").unwrap();
    assert_eq!(tcp.key, Key::number(KIND_NET_PROTO, 6, Some(b"/usr/bin/curl")));
    let raw = img.entries.iter().find(|e| e.main_text() == "net_raw").unwrap();
    assert_eq!(raw.key, Key::number(KIND_CAPABILITY, 13, None));
    // Canonical order and provenance.
    assert!(img.entries.windows(2).all(|w| w[0].key.to_bytes() < w[1].key.to_bytes()));
    let apt = img.entries.iter().find(|e| e.main_text() == "/usr/bin/apt").unwrap();
    assert_eq!(img.rules[apt.value.rule as usize].at, "spec.process.matchPaths[0]");
    assert_eq!(img.rules[apt.value.rule as usize].policy, "KubeArmorPolicy/ns/worked");
    assert_eq!(img.rules[apt.value.rule as usize].action, "Block");
    let usr_bin = img.entries.iter().find(|e| e.main_text() == "/usr/bin/").unwrap();
    assert_eq!(img.rules[usr_bin.value.rule as usize].action, "Allow");
    let post = img.entries.iter().find(|e| e.key.kind == KIND_POSTURE).unwrap();
    assert_eq!(post.value.rule, u32::MAX);
    // The file encoding round-trips and is stable.
    assert_eq!(MapImage::decode(&img.encode()).unwrap().encode(), img.encode());
}

#[test]
fn hint_carry_over_adopts_the_old_dir_value() {
    let p = policy(
        "carry",
        vec![
            rule(pdir("/a/", true), Action::Allow, None, "r0"),
            rule(pdir("/a/b/c/", false), Action::Block, None, "r1"),
        ],
    );
    let img = lower(&[p], Posture::default());
    let get = |t: &str| img.entries.iter().find(|e| e.main_text() == t).unwrap().value.process;
    assert_eq!(get("/a/b/c"), 0x81);
    assert_eq!(get("/a/b/c/"), 0x91);
    assert_eq!(get("/"), 0xC1);
    assert_eq!(get("/a/"), 0x71); // old DIR value | HINT
    assert_eq!(get("/a/b/"), 0x61); // carried over: DENY lost, as in KubeArmor
    assert_eq!(get("/a"), 0x21);
}

#[test]
fn existing_hint_is_kept_on_a_dir_entry() {
    let p = policy(
        "hint",
        vec![
            rule(fdir("/a/b/", true, false), Action::Block, None, "r0"),
            rule(fdir("/a/", false, false), Action::Allow, None, "r1"),
        ],
    );
    let img = lower(&[p], Posture::default());
    let get = |t: &str| img.entries.iter().find(|e| e.main_text() == t).unwrap().value.file;
    assert_eq!(get("/a/"), READ | WRITE | DIR | HINT);
}

#[test]
fn dir_root_writes_the_empty_path_and_no_hints() {
    let img =
        lower(&[policy("root", vec![rule(fdir("/", true, false), Action::Block, None, "r0")])], Posture::default());
    let r = rows(&img);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].1, "");
    assert_eq!(r[1].1, "/");
    assert_eq!(r[1].4, READ | WRITE | DIR | RECURSIVE | DENY);
}

#[test]
fn last_writer_wins_across_policies_and_audit_is_not_written() {
    let a = policy("a", vec![rule(ppath("/bin/sleep"), Action::Block, None, "r0")]);
    let b = policy(
        "b",
        vec![rule(ppath("/bin/sleep"), Action::Allow, None, "r0"), rule(ppath("/bin/x"), Action::Audit, None, "r1")],
    );
    let img = lower(&[a, b], Posture::default());
    let sleep = img.entries.iter().find(|e| e.main_text() == "/bin/sleep").unwrap();
    assert_eq!(sleep.value.process, EXEC);
    assert_eq!(img.rules[sleep.value.rule as usize].policy, "KubeArmorPolicy/ns/b");
    assert!(!img.entries.iter().any(|e| e.main_text() == "/bin/x"));
    // The allowlist turned on: process posture (from the file posture), audit by default.
    let post = img.entries.iter().find(|e| e.main_text() == "posture:process").unwrap();
    assert_eq!(post.value.process, POSTURE_AUDIT);
    // The overwritten rule is not in the provenance table.
    assert_eq!(img.rules.len(), 1);
}

#[test]
fn fusion_keeps_both_masks_for_process_and_file_rules() {
    let p = policy(
        "fuse",
        vec![
            rule(ppath("/bin/sh"), Action::Block, None, "r0"),
            rule(fpath("/bin/sh", true, false), Action::Allow, None, "r1"),
        ],
    );
    let img = lower(&[p], Posture::default());
    let sh: Vec<_> = img.entries.iter().filter(|e| e.main_text() == "/bin/sh").collect();
    assert_eq!(sh.len(), 1);
    assert_eq!((sh[0].value.process, sh[0].value.file), (EXEC | DENY, READ));
}

#[test]
fn protocol_all_expands_to_seven_socket_types_once_per_action_and_source() {
    let p = policy(
        "net",
        vec![
            rule(proto("all"), Action::Block, None, "r0"),
            rule(proto("all"), Action::Block, None, "r1"),
            rule(proto("all"), Action::Allow, Some("/bin/curl"), "r2"),
            rule(T::Protocol { protocol: "xtcp".into(), known: None, pts_false: true }, Action::Allow, None, "r3"),
            rule(
                T::Protocol { protocol: "udp".into(), known: Some(Protocol::Udp), pts_false: true },
                Action::Block,
                None,
                "r4",
            ),
        ],
    );
    let img = lower(&[p], Posture::default());
    let global: Vec<_> = img.entries.iter().filter(|e| e.key.kind == KIND_NET_TYPE && e.key.source == 0).collect();
    assert_eq!(global.len(), 7);
    assert!(global.iter().all(|e| e.value.process == DENY));
    let mut nums: Vec<u32> = global.iter().map(|e| e.key.len).collect();
    nums.sort();
    assert_eq!(nums, vec![1, 2, 3, 4, 5, 6, 10]);
    let sourced =
        img.entries.iter().filter(|e| e.key.kind == KIND_NET_TYPE && e.key.source == source_hash(b"/bin/curl")).count();
    assert_eq!(sourced, 7);
    let udp = img.entries.iter().find(|e| e.main_text() == "udp").unwrap();
    assert_eq!(udp.value.process, DENY | PTS);
    assert_eq!(udp.key, Key::number(KIND_NET_PROTO, 17, None));
    // The unknown protocol turned the network allowlist on but wrote no key.
    assert!(img.entries.iter().any(|e| e.main_text() == "posture:network"));
    assert_eq!(img.entries.len(), 7 + 7 + 1 + 1);
}

#[test]
fn execname_args_pts_and_owner() {
    let p = policy(
        "proc",
        vec![
            rule(
                T::ProcessExecname { name: "ls".into(), owner_only: true, pts_false: true, allowed_args: vec![] },
                Action::Block,
                None,
                "r0",
            ),
            rule(
                T::ProcessPath {
                    path: "/bin/ping".into(),
                    owner_only: false,
                    pts_false: false,
                    allowed_args: vec!["-c".into(), "1".into()],
                },
                Action::Block,
                Some("/bin/bash"),
                "r1",
            ),
        ],
    );
    let img = lower(&[p], Posture::default());
    let ls = img.entries.iter().find(|e| e.main_text() == "ls").unwrap();
    assert_eq!(ls.key, Key::path(KIND_EXECNAME, b"ls", None));
    assert_eq!(ls.value.process, EXEC | OWNER | PTS | DENY);
    let ping = img.entries.iter().find(|e| e.key.kind == KIND_PATH).unwrap();
    assert_eq!(ping.value.process, EXEC | ARGSET | DENY);
    assert_eq!(ping.source_text(), Some("/bin/bash"));
    let args: Vec<_> = img.entries.iter().filter(|e| e.key.kind == KIND_ARG).collect();
    assert_eq!(args.len(), 2);
    for a in &args {
        assert_eq!(a.main_text(), "/bin/ping");
        assert_eq!(a.key.path_a, hash_a(b"/bin/ping"));
        assert_eq!(a.key.path_b, hash_a(a.arg_text().unwrap().as_bytes()));
        assert_eq!(a.key.source, source_hash(b"/bin/bash"));
    }
    // Block only: no allowlist, no posture key.
    assert!(!img.entries.iter().any(|e| e.key.kind == KIND_POSTURE));
}

#[test]
fn dns_suffixes_and_capabilities_on_host() {
    let mut p = policy(
        "dns",
        vec![
            rule(T::Dns { domain: "example.com".into() }, Action::Allow, None, "r0"),
            rule(cap("net_raw"), Action::Block, None, "r1"),
        ],
    );
    let img = lower(
        std::slice::from_ref(&p),
        Posture { file: PostureAction::Audit, network: PostureAction::Block, capabilities: PostureAction::Audit },
    );
    let mut dns: Vec<_> =
        img.entries.iter().filter(|e| e.key.kind == KIND_DNS).map(|e| e.main_text().to_string()).collect();
    dns.sort();
    assert_eq!(
        dns,
        vec![
            "example.com",
            "example.com.cluster.local",
            "example.com.domain.name",
            "example.com.ns.svc.cluster.local",
            "example.com.svc.cluster.local"
        ]
    );
    let post = img.entries.iter().find(|e| e.main_text() == "posture:dns").unwrap();
    assert_eq!(post.value.process, POSTURE_BLOCK);
    assert!(img.entries.iter().any(|e| e.key.kind == KIND_CAPABILITY));

    // Host: no namespace suffix, capability rules not enforced.
    p.kind = PolicyKind::KubeArmorHostPolicy;
    p.namespace = None;
    let mut t = target(Posture::default());
    t.host = true;
    let img = lower_target(&t, &[&p]);
    assert_eq!(img.target, "host");
    assert_eq!(img.entries.iter().filter(|e| e.key.kind == KIND_DNS).count(), 4);
    assert!(!img.entries.iter().any(|e| e.key.kind == KIND_CAPABILITY));
}

#[test]
fn patterns_are_ignored_and_unknown_capability_is_chown() {
    let p = policy(
        "pat",
        vec![
            rule(
                T::FilePattern { pattern: "/etc/*".into(), read_only: false, owner_only: false },
                Action::Block,
                None,
                "r0",
            ),
            rule(T::Capability { name: "nett_raw".into(), number: None }, Action::Block, None, "r1"),
        ],
    );
    let img = lower(&[p], Posture::default());
    assert_eq!(img.entries.len(), 1);
    assert_eq!(img.entries[0].key, Key::number(KIND_CAPABILITY, 0, None));
}

#[test]
fn audited_and_disabled_targets_are_empty() {
    let p = policy("x", vec![rule(ppath("/bin/sh"), Action::Block, None, "r0")]);
    for e in [Enforcement::Audited, Enforcement::Disabled("annotation".into())] {
        let mut t = target(Posture::default());
        t.enforcement = e;
        assert!(lower_target(&t, &[&p]).entries.is_empty());
    }
}

#[test]
fn empty_from_source_is_global() {
    let p = policy("src", vec![rule(ppath("/bin/sh"), Action::Block, Some(""), "r0")]);
    let img = lower(&[p], Posture::default());
    assert_eq!(img.entries[0].key, Key::path(KIND_PATH, b"/bin/sh", None));
}

#[test]
fn lowering_is_deterministic() {
    let p = policy(
        "det",
        (0..50)
            .map(|i| rule(fdir(&format!("/d{}/e{}/", i % 7, i), i % 2 == 0, i % 3 == 0), Action::Block, None, "r"))
            .collect(),
    );
    let a = lower(std::slice::from_ref(&p), Posture::default()).encode();
    let b = lower(&[p], Posture::default()).encode();
    assert_eq!(a, b);
}

/// The rule an image entry names, by its `at`.
fn entry_rule<'a>(img: &'a MapImage, text: &str) -> &'a str {
    let e = img.entries.iter().find(|e| e.main_text() == text).unwrap();
    &img.rules[e.value.rule as usize].at
}

#[test]
fn carried_over_hints_name_the_rule_whose_bits_they_hold() {
    // Reported case: /usr/bin/ls allowed by the Allow on /usr/bin/, but the decision named the
    // deeper Block directory rule that rewrote the /usr/bin/ hint with the old value.
    let policies = [
        policy("allow-bin", vec![rule(pdir("/usr/bin/", false), Action::Allow, None, "allow-usr-bin")]),
        policy("block-x", vec![rule(pdir("/usr/bin/x/", true), Action::Block, None, "block-usr-bin-x")]),
    ];
    let img = lower(&policies, Posture::default());
    // Masks as before (old|HINT carry-over); only the recorded rule follows the bits.
    let get = |t: &str| img.entries.iter().find(|e| e.main_text() == t).unwrap().value.process;
    assert_eq!(get("/usr/bin/"), EXEC | DIR | HINT);
    assert_eq!(entry_rule(&img, "/usr/bin/"), "allow-usr-bin");
    assert_eq!(entry_rule(&img, "/usr/"), "block-usr-bin-x"); // written with the Block's own bits
    assert_eq!(entry_rule(&img, "/usr/bin/x/"), "block-usr-bin-x");

    let model = crate::model::Model::new(&img);
    let decide = |path: &str| {
        let mut q = crate::model::Query::new(crate::model::Op::Exec);
        q.path = path.as_bytes().to_vec();
        let d = model.decide(&q);
        (d.deny, d.rule.map(|r| img.rules[r as usize].at.clone()))
    };
    assert_eq!(decide("/usr/bin/ls"), (false, Some("allow-usr-bin".to_string())));
    assert_eq!(decide("/usr/bin/x/tool"), (true, Some("block-usr-bin-x".to_string())));
}

#[test]
fn carry_over_rule_follows_the_adopted_value_to_deeper_hints() {
    let p = policy(
        "carry",
        vec![
            rule(pdir("/a/", true), Action::Allow, None, "r0"),
            rule(pdir("/a/b/c/", false), Action::Block, None, "r1"),
        ],
    );
    let img = lower(&[p], Posture::default());
    assert_eq!(entry_rule(&img, "/"), "r1");
    assert_eq!(entry_rule(&img, "/a/"), "r0");
    assert_eq!(entry_rule(&img, "/a/b/"), "r0"); // holds r0's value (DENY lost), so names r0
    assert_eq!(entry_rule(&img, "/a/b/c/"), "r1");
}

#[test]
fn policy_id_matches_ir() {
    let mut p = policy("p", vec![]);
    assert_eq!(policy_id(&p), p.id());
    p.namespace = None;
    p.kind = PolicyKind::KubeArmorClusterPolicy;
    assert_eq!(policy_id(&p), p.id());
}
