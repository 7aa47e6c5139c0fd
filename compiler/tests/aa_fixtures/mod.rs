//! Hand-built IR fixtures for the AppArmor tests: together they cover every row of the
//! reference's rule tables (§4.5) plus the cases where we deliberately differ from KubeArmor.
// Included by several test binaries, each using a subset of these items.
#![allow(dead_code)]

use armorc_compiler::compose::{Enforcement, Posture, PostureAction, Target};
use armorc_compiler::ir::*;
use std::collections::BTreeMap;

pub struct Fixture {
    pub name: &'static str,
    pub target: Target,
    pub policies: Vec<Policy>,
}

impl Fixture {
    pub fn policy_refs(&self) -> Vec<&Policy> {
        self.policies.iter().collect()
    }
}

pub fn origin(at: &str, line: usize) -> Origin {
    Origin { file: "fixtures/aa.yaml".into(), line, column: 7, at: at.into() }
}

/// A rule builder: `rule(target, action)` with optional source.
pub fn rule(target: Target_, action: Action, source: Option<&str>, at: &str, line: usize) -> Rule {
    Rule {
        target: target.0,
        source: source.map(str::to_string),
        action,
        severity: 0,
        tags: vec![],
        message: String::new(),
        origin: origin(at, line),
    }
}

/// Newtype so fixture code reads `fp("/x")` instead of spelling every field.
pub struct Target_(pub armorc_compiler::ir::RuleTarget);

pub fn fp(path: &str, read_only: bool, owner_only: bool) -> Target_ {
    Target_(armorc_compiler::ir::RuleTarget::FilePath { path: path.into(), read_only, owner_only, pts_false: false })
}
pub fn fd(dir: &str, recursive: bool, read_only: bool, owner_only: bool) -> Target_ {
    Target_(armorc_compiler::ir::RuleTarget::FileDir {
        dir: dir.into(),
        recursive,
        read_only,
        owner_only,
        pts_false: false,
    })
}
pub fn fpat(pattern: &str, read_only: bool, owner_only: bool) -> Target_ {
    Target_(armorc_compiler::ir::RuleTarget::FilePattern { pattern: pattern.into(), read_only, owner_only })
}
pub fn pp(path: &str, owner_only: bool) -> Target_ {
    Target_(armorc_compiler::ir::RuleTarget::ProcessPath {
        path: path.into(),
        owner_only,
        pts_false: false,
        allowed_args: vec![],
    })
}
pub fn pe(name: &str, owner_only: bool) -> Target_ {
    Target_(armorc_compiler::ir::RuleTarget::ProcessExecname {
        name: name.into(),
        owner_only,
        pts_false: false,
        allowed_args: vec![],
    })
}
pub fn pd(dir: &str, recursive: bool, owner_only: bool) -> Target_ {
    Target_(armorc_compiler::ir::RuleTarget::ProcessDir { dir: dir.into(), recursive, owner_only, pts_false: false })
}
pub fn ppat(pattern: &str, owner_only: bool) -> Target_ {
    Target_(armorc_compiler::ir::RuleTarget::ProcessPattern { pattern: pattern.into(), owner_only })
}
pub fn proto(p: &str) -> Target_ {
    Target_(armorc_compiler::ir::RuleTarget::Protocol {
        protocol: p.into(),
        known: Protocol::parse(p),
        pts_false: false,
    })
}
pub fn cap(name: &str) -> Target_ {
    Target_(armorc_compiler::ir::RuleTarget::Capability { name: name.into(), number: capability_number(name) })
}

pub fn policy(name: &str, kind: PolicyKind, rules: Vec<Rule>, native: &[&str]) -> Policy {
    let selector = match kind {
        PolicyKind::KubeArmorHostPolicy => {
            Selector::Host { node_labels: BTreeMap::from([("kubernetes.io/hostname".into(), "node1".into())]) }
        }
        _ => Selector::Namespaced {
            match_labels: BTreeMap::from([("app".into(), "web".into())]),
            expressions: vec![],
            containers: vec![],
        },
    };
    Policy {
        kind,
        name: name.into(),
        namespace: (kind == PolicyKind::KubeArmorPolicy).then(|| "demo".to_string()),
        origin: origin("", 1),
        selector,
        rules,
        apparmor: native
            .iter()
            .enumerate()
            .map(|(i, t)| NativeLine { text: t.to_string(), origin: origin("spec.apparmor", 40 + i) })
            .collect(),
        presets: vec![],
    }
}

pub fn container(posture: PostureAction) -> Target {
    Target {
        namespace: Some("demo".into()),
        workload: Some("web".into()),
        workload_kind: Some("Deployment".into()),
        container: Some("nginx".into()),
        host: false,
        enforcement: Enforcement::Enabled,
        posture: Posture { file: posture, network: posture, capabilities: posture },
        policies: vec![0],
    }
}

pub fn host(posture: PostureAction) -> Target {
    Target {
        namespace: None,
        workload: None,
        workload_kind: None,
        container: None,
        host: true,
        enforcement: Enforcement::Enabled,
        posture: Posture { file: posture, network: posture, capabilities: posture },
        policies: vec![0],
    }
}

use Action::{Allow, Block};
use PostureAction::{Audit as PAudit, Block as PBlock};
const KSP: PolicyKind = PolicyKind::KubeArmorPolicy;

/// Every fixture, in a fixed order.
pub fn all() -> Vec<Fixture> {
    vec![
        // §4.5 file table: every (Deny/Allow, readOnly, ownerOnly) row, on paths, both kinds of
        // directory and patterns.
        Fixture {
            name: "file_rows",
            target: container(PAudit),
            policies: vec![policy(
                "file-rows",
                KSP,
                vec![
                    rule(fp("/etc/d-ro-oo", true, true), Block, None, "spec.file.matchPaths[0]", 10),
                    rule(fp("/etc/d-oo", false, true), Block, None, "spec.file.matchPaths[1]", 11),
                    rule(fp("/etc/d-ro", true, false), Block, None, "spec.file.matchPaths[2]", 12),
                    rule(fp("/etc/d", false, false), Block, None, "spec.file.matchPaths[3]", 13),
                    rule(fp("/etc/a-ro-oo", true, true), Allow, None, "spec.file.matchPaths[4]", 14),
                    rule(fp("/etc/a-oo", false, true), Allow, None, "spec.file.matchPaths[5]", 15),
                    rule(fp("/etc/a-ro", true, false), Allow, None, "spec.file.matchPaths[6]", 16),
                    rule(fp("/etc/a", false, false), Allow, None, "spec.file.matchPaths[7]", 17),
                    rule(fd("/var/log/", false, true, false), Block, None, "spec.file.matchDirectories[0]", 18),
                    rule(fd("/var/lib/", true, false, true), Block, None, "spec.file.matchDirectories[1]", 19),
                    rule(fd("/srv/", true, true, false), Allow, None, "spec.file.matchDirectories[2]", 20),
                    rule(fd("/", false, false, false), Allow, None, "spec.file.matchDirectories[3]", 21),
                    rule(fpat("/tmp/**/*.sh", false, false), Block, None, "spec.file.matchPatterns[0]", 22),
                    rule(
                        fpat("/home/*/.ssh/{id_rsa,id_ed25519}", true, true),
                        Allow,
                        None,
                        "spec.file.matchPatterns[1]",
                        23,
                    ),
                    rule(fp("/etc/audited", false, false), Action::Audit, None, "spec.file.matchPaths[8]", 24),
                ],
                &[],
            )],
        },
        // §4.5 process table: every row of the root dispatcher column.
        Fixture {
            name: "process_rows",
            target: container(PAudit),
            policies: vec![policy(
                "process-rows",
                KSP,
                vec![
                    rule(pp("/usr/bin/deny-owner", true), Block, None, "spec.process.matchPaths[0]", 10),
                    rule(pp("/usr/bin/apt", false), Block, None, "spec.process.matchPaths[1]", 11),
                    rule(pp("/usr/bin/allowed", false), Allow, None, "spec.process.matchPaths[2]", 12),
                    rule(pp("/usr/bin/allowed-owner", true), Allow, None, "spec.process.matchPaths[3]", 13),
                    rule(pe("nc", false), Block, None, "spec.process.matchPaths[4]", 14),
                    rule(pe("python3", false), Allow, None, "spec.process.matchPaths[5]", 15),
                    rule(pp("", false), Block, None, "spec.process.matchPaths[6]", 16),
                    rule(pd("/sbin/", false, false), Block, None, "spec.process.matchDirectories[0]", 17),
                    rule(pd("/opt/tools/", true, true), Block, None, "spec.process.matchDirectories[1]", 18),
                    rule(pd("/usr/local/bin/", false, false), Allow, None, "spec.process.matchDirectories[2]", 19),
                    rule(pd("/app/", true, true), Allow, None, "spec.process.matchDirectories[3]", 20),
                    rule(ppat("/**/*ssh*", false), Block, None, "spec.process.matchPatterns[0]", 21),
                    rule(ppat("/usr/lib/jvm/*/bin/java", false), Allow, None, "spec.process.matchPatterns[1]", 22),
                ],
                &[],
            )],
        },
        // fromSource: per-source sub-profiles entered through px, the sub-profile column of §4.5,
        // the root Deny on a source binary (kept), global rules copied unless the source has its
        // own rule or a covering directory, and reference §4.6's worked example.
        Fixture {
            name: "from_source",
            target: container(PBlock),
            policies: vec![
                policy(
                    "worked-example",
                    KSP,
                    vec![
                        rule(pp("/usr/bin/apt", false), Block, None, "spec.process.matchPaths[0]", 10),
                        rule(
                            fp("/secret.txt", true, false),
                            Allow,
                            Some("/bin/cat"),
                            "spec.file.matchPaths[0].fromSource[0]",
                            11,
                        ),
                    ],
                    &[],
                ),
                policy(
                    "sources",
                    KSP,
                    vec![
                        rule(pp("/bin/bash", false), Block, None, "spec.process.matchPaths[0]", 20),
                        rule(
                            pp("/bin/cat", false),
                            Allow,
                            Some("/bin/bash"),
                            "spec.process.matchPaths[1].fromSource[0]",
                            21,
                        ),
                        rule(
                            pp("/bin/ls", true),
                            Allow,
                            Some("/bin/bash"),
                            "spec.process.matchPaths[2].fromSource[0]",
                            22,
                        ),
                        rule(
                            pd("/usr/bin/", true, false),
                            Allow,
                            Some("/bin/bash"),
                            "spec.process.matchDirectories[0].fromSource[0]",
                            23,
                        ),
                        rule(
                            fd("/etc/", true, false, false),
                            Allow,
                            Some("/bin/cat"),
                            "spec.file.matchDirectories[0].fromSource[0]",
                            24,
                        ),
                        rule(fp("/etc/shadow", false, false), Block, None, "spec.file.matchPaths[0]", 25),
                        rule(fp("/etc/hostname", false, false), Allow, None, "spec.file.matchPaths[1]", 26),
                        rule(
                            proto("tcp"),
                            Allow,
                            Some("/usr/bin/curl"),
                            "spec.network.matchProtocols[0].fromSource[0]",
                            27,
                        ),
                        rule(proto("udp"), Block, None, "spec.network.matchProtocols[1]", 28),
                        rule(
                            cap("net_raw"),
                            Block,
                            Some("/bin/ping"),
                            "spec.capabilities.matchCapabilities[0].fromSource[0]",
                            29,
                        ),
                        rule(
                            fp("/var/empty-source", false, false),
                            Block,
                            Some(""),
                            "spec.file.matchPaths[2].fromSource[0]",
                            30,
                        ),
                    ],
                    &[],
                ),
            ],
        },
        Fixture {
            name: "network_capabilities",
            target: container(PAudit),
            policies: vec![policy(
                "net-caps",
                KSP,
                ["tcp", "udp", "icmp", "raw", "stream", "dgram", "rdm", "seqpacket", "packet"]
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        rule(
                            proto(p),
                            if i % 2 == 0 { Block } else { Allow },
                            None,
                            &format!("spec.network.matchProtocols[{i}]"),
                            10 + i,
                        )
                    })
                    .chain([
                        rule(proto("icmpv6"), Block, None, "spec.network.matchProtocols[9]", 19),
                        rule(proto("sctp"), Block, None, "spec.network.matchProtocols[10]", 20),
                        rule(proto("dccp"), Allow, None, "spec.network.matchProtocols[11]", 21),
                        rule(proto("all"), Allow, None, "spec.network.matchProtocols[12]", 22),
                        rule(proto("xtcp"), Block, None, "spec.network.matchProtocols[13]", 23),
                        rule(cap("net_raw"), Block, None, "spec.capabilities.matchCapabilities[0]", 30),
                        rule(cap("sys_admin"), Block, None, "spec.capabilities.matchCapabilities[1]", 31),
                        rule(cap("chown"), Allow, None, "spec.capabilities.matchCapabilities[2]", 32),
                        rule(cap("bogus"), Block, None, "spec.capabilities.matchCapabilities[3]", 33),
                    ])
                    .collect(),
                &["deny /etc/machine-id r,", "signal (receive) peer=unconfined,"],
            )],
        },
        // Allowlist mode: Allow rules with block posture drop the header lines.
        Fixture {
            name: "allowlist_all",
            target: container(PBlock),
            policies: vec![policy(
                "allowlist",
                KSP,
                vec![
                    rule(pp("/usr/sbin/nginx", false), Allow, None, "spec.process.matchPaths[0]", 10),
                    rule(fd("/var/www/", true, true, false), Allow, None, "spec.file.matchDirectories[0]", 11),
                    rule(proto("tcp"), Allow, None, "spec.network.matchProtocols[0]", 12),
                    rule(cap("net_bind_service"), Allow, None, "spec.capabilities.matchCapabilities[0]", 13),
                ],
                &[],
            )],
        },
        Fixture {
            name: "allowlist_process_only",
            target: container(PBlock),
            policies: vec![policy(
                "proc-allowlist",
                KSP,
                vec![
                    rule(pd("/usr/bin/", true, false), Allow, None, "spec.process.matchDirectories[0]", 10),
                    rule(fp("/etc/passwd", false, false), Block, None, "spec.file.matchPaths[0]", 11),
                ],
                &[],
            )],
        },
        Fixture {
            name: "allowlist_file_only",
            target: container(PBlock),
            policies: vec![policy(
                "file-allowlist",
                KSP,
                vec![rule(fd("/data/", true, false, false), Allow, None, "spec.file.matchDirectories[0]", 10)],
                &[],
            )],
        },
        Fixture {
            name: "host",
            target: host(PAudit),
            policies: vec![policy(
                "host-policy",
                PolicyKind::KubeArmorHostPolicy,
                vec![
                    rule(
                        pp("/usr/bin/sleep", false),
                        Block,
                        Some("/bin/bash"),
                        "spec.process.matchPaths[0].fromSource[0]",
                        10,
                    ),
                    rule(fp("/etc/shadow", true, false), Block, None, "spec.file.matchPaths[0]", 11),
                    rule(
                        cap("sys_module"),
                        Block,
                        Some("/usr/bin/sh"),
                        "spec.capabilities.matchCapabilities[0].fromSource[0]",
                        12,
                    ),
                ],
                &[],
            )],
        },
        // Literal paths with glob characters, spaces, quotes, variables; colliding source names.
        Fixture {
            name: "escaping",
            target: container(PAudit),
            policies: vec![policy(
                "escaping",
                KSP,
                vec![
                    rule(fp("/data/my file.txt", false, false), Block, None, "spec.file.matchPaths[0]", 10),
                    rule(fp("/data/star*and?[x]{y}", false, false), Block, None, "spec.file.matchPaths[1]", 11),
                    rule(fp("/data/@{HOME}/q\"uote", true, false), Block, None, "spec.file.matchPaths[2]", 12),
                    rule(fp("/data/comma,hash#", false, false), Block, None, "spec.file.matchPaths[3]", 13),
                    rule(fd("/with space/", true, false, false), Block, None, "spec.file.matchDirectories[0]", 14),
                    rule(pp("/opt/a b/run", false), Block, None, "spec.process.matchPaths[0]", 15),
                    rule(fp("/x", false, false), Block, Some("/bin/a_b"), "spec.file.matchPaths[4].fromSource[0]", 16),
                    rule(fp("/x", false, false), Block, Some("/bin/a/b"), "spec.file.matchPaths[4].fromSource[1]", 17),
                    rule(
                        fp("/y", false, false),
                        Block,
                        Some("/usr/bin/my tool"),
                        "spec.file.matchPaths[5].fromSource[0]",
                        18,
                    ),
                ],
                &[],
            )],
        },
        // Rules of different policies that AppArmor ("deny always wins") and BPF-LSM ("exact path
        // first", last writer wins per key) decide differently.
        Fixture {
            name: "conflicts",
            target: container(PAudit),
            policies: vec![
                policy(
                    "block-dirs",
                    KSP,
                    vec![
                        rule(fd("/etc/", true, false, false), Block, None, "spec.file.matchDirectories[0]", 10),
                        rule(pp("/bin/sleep", false), Block, None, "spec.process.matchPaths[0]", 11),
                        rule(pd("/usr/games/", false, false), Block, None, "spec.process.matchDirectories[0]", 12),
                    ],
                    &[],
                ),
                policy(
                    "allow-exceptions",
                    KSP,
                    vec![
                        rule(fp("/etc/hostname", false, false), Allow, None, "spec.file.matchPaths[0]", 20),
                        rule(pp("/bin/sleep", false), Allow, None, "spec.process.matchPaths[0]", 21),
                        rule(pp("/usr/games/fortune", false), Allow, None, "spec.process.matchPaths[1]", 22),
                    ],
                    &[],
                ),
            ],
        },
        Fixture {
            name: "audited",
            target: Target { enforcement: Enforcement::Audited, ..container(PBlock) },
            policies: vec![policy(
                "audited",
                KSP,
                vec![rule(fp("/etc/passwd", false, false), Block, None, "spec.file.matchPaths[0]", 10)],
                &[],
            )],
        },
        Fixture {
            name: "disabled",
            target: Target {
                enforcement: Enforcement::Disabled("namespace kube-system is not tracked".into()),
                ..container(PBlock)
            },
            policies: vec![policy(
                "disabled",
                KSP,
                vec![rule(fp("/etc/passwd", false, false), Block, None, "spec.file.matchPaths[0]", 10)],
                &[],
            )],
        },
    ]
}
