//! AppArmor lowering: snapshots of every fixture, apparmor_parser acceptance, source maps,
//! rejection mapping, patches.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod aa_fixtures;
mod common;

use armorc_compiler::compose::PostureAction;
use armorc_compiler::lower::apparmor::{self, check_with_parser, CheckError, LineFrom, SourceMap};

fn snapshot_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/apparmor").to_string()
}

/// CI installs apparmor (.ci/install-apparmor.sh); a machine without it cannot run these checks.
fn parser_available() -> bool {
    let ok = std::process::Command::new("apparmor_parser").arg("--version").output().is_ok();
    if !ok {
        common::skip_or_fail("apparmor_parser not installed (run .ci/install-apparmor.sh)");
    }
    ok
}

#[test]
fn fixture_profiles_snapshot() {
    for f in aa_fixtures::all() {
        let p = apparmor::lower_target(&f.target, &f.policy_refs());
        insta::with_settings!({snapshot_path => snapshot_dir(), prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("profile_{}", f.name), p.text);
        });
    }
}

#[test]
fn fixture_source_map_snapshot() {
    let f = aa_fixtures::all().into_iter().find(|f| f.name == "from_source").unwrap();
    let p = apparmor::lower_target(&f.target, &f.policy_refs());
    insta::with_settings!({snapshot_path => snapshot_dir(), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("explain_from_source", apparmor::explain(&p.text, &p.map_json));
    });
}

#[test]
fn source_map_json_snapshot() {
    let f = aa_fixtures::all().into_iter().find(|f| f.name == "host").unwrap();
    let p = apparmor::lower_target(&f.target, &f.policy_refs());
    insta::with_settings!({snapshot_path => snapshot_dir(), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("map_json_host", p.map_json);
    });
}

#[test]
fn every_fixture_passes_apparmor_parser() {
    if !parser_available() {
        return;
    }
    let mut failures = Vec::new();
    for f in aa_fixtures::all() {
        let p = apparmor::lower_target(&f.target, &f.policy_refs());
        if let Err(e) = check_with_parser(&p) {
            failures.push(format!("{}: {e}", f.name));
        }
    }
    assert!(failures.is_empty(), "apparmor_parser rejected:\n{}", failures.join("\n"));
}

#[test]
fn lowering_is_deterministic() {
    for f in aa_fixtures::all() {
        let a = apparmor::lower_target(&f.target, &f.policy_refs());
        let b = apparmor::lower_target(&f.target, &f.policy_refs());
        assert_eq!(a, b, "{}", f.name);
    }
}

#[test]
fn every_line_is_mapped_and_rule_lines_name_their_rule() {
    for f in aa_fixtures::all() {
        let p = apparmor::lower_target(&f.target, &f.policy_refs());
        let map = SourceMap::from_json(&p.map_json).unwrap();
        let n = p.text.lines().count();
        assert_eq!(map.lines.len(), n, "{}", f.name);
        for (i, l) in map.lines.iter().enumerate() {
            assert_eq!(l.line, i + 1);
            let text = p.text.lines().nth(i).unwrap().trim();
            match l.from {
                LineFrom::Rule | LineFrom::Native => {
                    assert!(!l.origins.is_empty(), "{}: line {} `{text}` has no origin", f.name, l.line)
                }
                LineFrom::Base | LineFrom::Post => assert!(l.origins.is_empty()),
            }
        }
    }
}

/// Plain `deny` rules are quiet (the kernel logs nothing): every line denying on behalf of a
/// policy rule is `audit deny`, so each denial reaches the kernel log; the baseline denies of the
/// post section stay plain.
#[test]
fn policy_denials_are_audited() {
    let mut audited = 0;
    for f in aa_fixtures::all() {
        let p = apparmor::lower_target(&f.target, &f.policy_refs());
        let map = SourceMap::from_json(&p.map_json).unwrap();
        for (l, text) in map.lines.iter().zip(p.text.lines()) {
            let text = text.trim();
            match l.from {
                LineFrom::Rule => {
                    assert!(!text.starts_with("deny "), "{}: line {} `{text}` is not audited", f.name, l.line);
                    audited += usize::from(text.starts_with("audit deny "));
                }
                LineFrom::Base | LineFrom::Post => assert!(!text.starts_with("audit "), "{}: `{text}`", f.name),
                LineFrom::Native => {}
            }
        }
    }
    assert!(audited > 20, "only {audited} audited deny lines over the fixtures");
}

#[test]
fn profile_names_and_sub_profiles() {
    let all = aa_fixtures::all();
    let f = all.iter().find(|f| f.name == "from_source").unwrap();
    let p = apparmor::lower_target(&f.target, &f.policy_refs());
    assert_eq!(p.name, "kubearmor-demo-web-nginx");
    assert_eq!(p.file_name, "kubearmor-demo-web-nginx");
    // Every px target names a profile defined in the same file.
    let defined: Vec<&str> =
        p.text.lines().filter_map(|l| l.strip_prefix("profile ")).map(|l| l.split(' ').next().unwrap()).collect();
    for l in p.text.lines().filter(|l| l.contains(" px -> ")) {
        let target = l.rsplit(" px -> ").next().unwrap().trim_end_matches(',');
        assert!(defined.contains(&target), "px target {target} not defined; profiles: {defined:?}");
    }
    // Under the process allowlist (posture block) the container profile may not execute the
    // sources, so it has no dispatcher lines; the sub-profile allowing /usr/bin/** has curl's.
    assert!(!p.text.contains("  /bin/bash px -> "), "{}", p.text);
    assert!(p.text.contains("  /usr/bin/curl px -> kubearmor-demo-web-nginx_usr_bin_curl,\n"));
    // Without the allowlist, the root Deny on a source binary is kept next to the dispatcher line.
    let mut open = aa_fixtures::all().into_iter().find(|f| f.name == "from_source").unwrap();
    open.target.posture = aa_fixtures::container(PostureAction::Audit).posture;
    let p = apparmor::lower_target(&open.target, &open.policy_refs());
    assert!(p.text.contains("  audit deny /bin/bash x,\n"));
    assert!(p.text.contains("  /bin/bash px -> kubearmor-demo-web-nginx_bin_bash,\n"));
    // Colliding sanitized names stay distinct.
    let e = all.iter().find(|f| f.name == "escaping").unwrap();
    let p = apparmor::lower_target(&e.target, &e.policy_refs());
    assert!(p.text.contains("profile kubearmor-demo-web-nginx_bin_a_b flags"));
    assert!(p.text.contains("profile kubearmor-demo-web-nginx_bin_a_b-2 flags"));
    // Host profile attachment.
    let h = all.iter().find(|f| f.name == "host").unwrap();
    let p = apparmor::lower_target(&h.target, &h.policy_refs());
    assert!(p.text.contains("profile kubearmor.host /{usr/,}bin/*sh flags=(attach_disconnected,mediate_deleted) {"));
}

#[test]
fn parser_rejection_names_the_policy_rule() {
    if !parser_available() {
        return;
    }
    // A native line the parser refuses: the error must point at the policy's apparmor line.
    let mut f = aa_fixtures::all().into_iter().find(|f| f.name == "network_capabilities").unwrap();
    f.policies[0].apparmor.push(armorc_compiler::ir::NativeLine {
        text: "network all,".into(),
        origin: aa_fixtures::origin("spec.apparmor", 77),
    });
    let p = apparmor::lower_target(&f.target, &f.policy_refs());
    let err = check_with_parser(&p).unwrap_err();
    let CheckError::Rejected(r) = &err else { panic!("{err}") };
    assert_eq!(r.line_text.as_deref().map(str::trim), Some("network all,"));
    assert_eq!(r.origins[0].line, 77);
    let msg = err.to_string();
    assert!(msg.starts_with("fixtures/aa.yaml:77:7: KubeArmorPolicy/demo/net-caps spec.apparmor: "), "{msg}");
    assert!(msg.contains("Invalid network entry"), "{msg}");
}

#[test]
fn enforcement_modes_have_no_denials() {
    for name in ["audited", "disabled"] {
        let f = aa_fixtures::all().into_iter().find(|f| f.name == name).unwrap();
        let p = apparmor::lower_target(&f.target, &f.policy_refs());
        assert!(!p.text.contains("deny"), "{name}: {}", p.text);
        assert!(p.text.contains("  file,\n"));
    }
}

#[test]
fn patches_set_localhost_profiles() {
    let mut web = aa_fixtures::container(PostureAction::Audit);
    let mut sidecar = web.clone();
    sidecar.container = Some("envoy".into());
    let mut job = web.clone();
    job.workload = Some("nightly".into());
    job.workload_kind = Some("CronJob".into());
    let host = aa_fixtures::host(PostureAction::Audit);
    let targets: Vec<_> =
        [&web, &sidecar, &job, &host].iter().map(|t| ((*t).clone(), t.apparmor_profile_name())).collect();
    web.container = None;
    let out = apparmor::patches(&targets);
    let names: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, ["patches/demo/nightly.yaml", "patches/demo/web.yaml"]);
    insta::with_settings!({snapshot_path => snapshot_dir(), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("patch_deployment", out[1].1);
        insta::assert_snapshot!("patch_cronjob", out[0].1);
    });
}
