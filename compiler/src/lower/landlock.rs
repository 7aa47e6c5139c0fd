//! IR -> Landlock plan for one target (docs/landlock-plan.md; deviations in docs/semantics.md
//! "## Landlock"). Landlock only allows, so:
//! - Block path rules become `except` grants, one layer per refused right (`execute` for process
//!   rules; `read_file`, `write_file`, `truncate` for file rules, `write_file`/`truncate` only when
//!   readOnly), so a layer's exclusions all refuse the same right;
//! - Allow (and Audit) rules of a category in allow-list mode with a `block` posture become
//!   `beneath`/`files_in` grants of an allow-list layer (the category is in allow-list mode when
//!   it has an Allow rule, as for BPF-LSM);
//! - Block capabilities, and every capability outside a capabilities allow-list, are dropped.
//!
//! What Landlock cannot see or name is not lowered and is a warning: patterns and execnames
//! (K001), fromSource/ownerOnly/pts/allowedArgs conditions (K002), network rules (K003); and
//! every lowered Block path rule warns about what the `except` expansion implies (K004).

use crate::codes::Code;
use crate::compose::{Enforcement, Finding, PostureAction, Target};
use crate::diag::Severity;
use crate::ir::{self, Action, RuleTarget as T};
use crate::landlock::{check_path, DropCapability, Excluded, Grant, Layer, Plan, Right, RuleInfo, MAX_GRANTS};
use crate::query::CAPABILITIES;

/// Rights a file Block rule refuses (readOnly: the writing ones only).
const FILE_DENY: [Right; 3] = [Right::ReadFile, Right::WriteFile, Right::Truncate];
const FILE_DENY_READ_ONLY: [Right; 2] = [Right::WriteFile, Right::Truncate];
/// Deny layers, in the order they are applied.
const DENY_RIGHTS: [Right; 4] = [Right::Execute, Right::ReadFile, Right::WriteFile, Right::Truncate];
/// What a file allow-list controls: contents and directory entries (every right but `execute`).
fn file_allow_list() -> Vec<Right> {
    Right::ALL.into_iter().filter(|r| *r != Right::Execute).collect()
}
const FILE_WRITE: [Right; 3] = [Right::ReadFile, Right::WriteFile, Right::Truncate];
/// The dynamic loaders of glibc and musl systems (x86_64 and aarch64, merged /usr or not), by
/// their real paths: the kernel opens a program's ELF interpreter for execution too, which
/// BPF-LSM's process rules never see, so a process allow-list grants them (missing ones and
/// symbolic links are skipped at apply time).
const DYNAMIC_LOADERS: [&str; 10] = [
    "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "/usr/lib64/ld-linux-x86-64.so.2",
    "/lib64/ld-linux-x86-64.so.2",
    "/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
    "/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
    "/usr/lib/ld-linux-aarch64.so.1",
    "/lib/ld-linux-aarch64.so.1",
    "/lib/ld-musl-x86_64.so.1",
    "/lib/ld-musl-aarch64.so.1",
];

/// A target's plan and the warnings about its rules (each rule's warnings are the same in every
/// target it applies to; the caller keeps them once).
pub struct Lowered {
    pub plan: Plan,
    pub findings: Vec<Finding>,
}

#[derive(Default)]
struct Builder {
    rules: Vec<RuleInfo>,
    deny: [Vec<Excluded>; 4],
    process_grants: Vec<Grant>,
    file_grants: Vec<Grant>,
    /// Categories in allow-list mode with a `block` posture (their Allow and Audit rules are grants).
    process_list: bool,
    file_list: bool,
    capability_list: bool,
    blocked_caps: Vec<(u32, u32)>,
    allowed_caps: Vec<u32>,
    findings: Vec<Finding>,
}

fn warn(code: Code, rule: &ir::Rule, message: String) -> Finding {
    Finding { code, severity: Severity::Warning, message, origin: Some(rule.origin.clone()), related: Vec::new() }
}

/// A rule's path as a plan path (`/usr/bin/` -> `/usr/bin`), or None if Landlock cannot name it.
fn plan_path(p: &str) -> Option<String> {
    let trimmed = if p.len() > 1 { p.trim_end_matches('/') } else { p };
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    check_path(trimmed).ok().map(|()| trimmed.to_string())
}

/// `/`, `/etc` for `/etc/shadow`: the directories an `except` walk passes on the way.
fn way(path: &str) -> String {
    let mut dirs = vec!["/".to_string()];
    let mut at = 0;
    while let Some(i) = path[at + 1..].find('/') {
        at += i + 1;
        dirs.push(path[..at].to_string());
    }
    dirs.join(", ")
}

impl Builder {
    /// The rule's row in the plan's rule table (each rule is lowered once per target).
    fn rule_ref(&mut self, policy: &ir::Policy, rule: &ir::Rule) -> u32 {
        self.rules.push(RuleInfo {
            policy: policy.id(),
            at: rule.origin.at.clone(),
            file: rule.origin.file.clone(),
            line: rule.origin.line,
            action: format!("{:?}", rule.action),
        });
        self.rules.len() as u32 - 1
    }

    /// The condition Landlock cannot see, if the rule has one.
    fn condition(rule: &ir::Rule) -> Option<String> {
        if let Some(src) = &rule.source {
            return Some(format!("fromSource {src}"));
        }
        let (owner_only, pts_false, args) = match &rule.target {
            T::ProcessPath { owner_only, pts_false, allowed_args, .. }
            | T::ProcessExecname { owner_only, pts_false, allowed_args, .. } => {
                (*owner_only, *pts_false, !allowed_args.is_empty())
            }
            T::ProcessDir { owner_only, pts_false, .. }
            | T::FilePath { owner_only, pts_false, .. }
            | T::FileDir { owner_only, pts_false, .. } => (*owner_only, *pts_false, false),
            T::ProcessPattern { owner_only, .. } | T::FilePattern { owner_only, .. } => (*owner_only, false, false),
            _ => (false, false, false),
        };
        [(owner_only, "ownerOnly"), (pts_false, "pts: false"), (args, "allowedArgs")]
            .into_iter()
            .find(|(on, _)| *on)
            .map(|(_, what)| what.to_string())
    }

    fn deny(&mut self, rights: &[Right], path: &str, shallow: bool, rule: u32) {
        for r in rights {
            let layer = &mut self.deny[DENY_RIGHTS.iter().position(|d| d == r).expect("a deny right")];
            if !layer.iter().any(|x| x.path == path && x.shallow == shallow) {
                layer.push(Excluded { path: path.to_string(), shallow, rule });
            }
        }
    }

    fn rule(&mut self, policy: &ir::Policy, rule: &ir::Rule) {
        let enforcing = rule.action != Action::Audit;
        match &rule.target {
            T::Syscall { .. } | T::Device { .. } => return,
            T::Protocol { .. } | T::Dns { .. } => {
                if enforcing {
                    let what = match &rule.target {
                        T::Protocol { protocol, .. } => format!("protocol {protocol}"),
                        T::Dns { domain } => format!("DNS query {domain}"),
                        _ => unreachable!(),
                    };
                    self.findings.push(warn(
                        Code::K003,
                        rule,
                        format!(
                            "{:?} {what}: Landlock cannot refuse creating a socket or a DNS query; not enforced under --lsm landlock",
                            rule.action
                        ),
                    ));
                }
                return;
            }
            _ => {}
        }
        if let Some(condition) = Self::condition(rule) {
            if enforcing {
                self.findings.push(warn(
                    Code::K002,
                    rule,
                    format!(
                        "{:?} rule with {condition}: Landlock cannot see it; not enforced under --lsm landlock",
                        rule.action
                    ),
                ));
            }
            return;
        }
        let unnamed = |what: &str| {
            warn(
                Code::K001,
                rule,
                format!(
                    "{:?} {what}: Landlock rules name files, not names or patterns; not enforced under --lsm landlock",
                    rule.action
                ),
            )
        };
        let block = rule.action == Action::Block;
        match &rule.target {
            T::ProcessExecname { name, .. } if enforcing => self.findings.push(unnamed(&format!("execname {name}"))),
            T::ProcessPattern { pattern, .. } | T::FilePattern { pattern, .. } if enforcing => {
                self.findings.push(unnamed(&format!("pattern {pattern}")))
            }
            T::ProcessPath { path, .. } => match plan_path(path) {
                None => self.findings.push(unnamed(path)),
                Some(p) if block => {
                    let n = self.rule_ref(policy, rule);
                    self.deny(&[Right::Execute], &p, false, n);
                    self.k004(rule, &p, "executed");
                }
                Some(p) if self.process_list => {
                    let n = self.rule_ref(policy, rule);
                    self.process_grants.push(Grant::Beneath { path: p, access: vec![Right::Execute], rule: Some(n) });
                }
                Some(_) => {}
            },
            T::ProcessDir { dir, recursive, .. } => match plan_path(dir) {
                None => self.findings.push(unnamed(dir)),
                Some(p) if block => {
                    let n = self.rule_ref(policy, rule);
                    self.deny(&[Right::Execute], &p, !recursive, n);
                    self.k004(rule, &p, "executed");
                }
                Some(p) if self.process_list => {
                    let n = self.rule_ref(policy, rule);
                    let access = vec![Right::Execute];
                    self.process_grants.push(if *recursive {
                        Grant::Beneath { path: p, access, rule: Some(n) }
                    } else {
                        Grant::FilesIn { dir: p, access, rule: Some(n) }
                    });
                }
                Some(_) => {}
            },
            T::FilePath { path, read_only, .. } => match plan_path(path) {
                None => self.findings.push(unnamed(path)),
                Some(p) if block => {
                    let n = self.rule_ref(policy, rule);
                    self.deny(if *read_only { &FILE_DENY_READ_ONLY } else { &FILE_DENY }, &p, false, n);
                    self.k004(rule, &p, if *read_only { "written" } else { "read or written" });
                }
                Some(p) if self.file_list => {
                    let n = self.rule_ref(policy, rule);
                    let access = if *read_only { vec![Right::ReadFile] } else { FILE_WRITE.to_vec() };
                    self.file_grants.push(Grant::Beneath { path: p, access, rule: Some(n) });
                }
                Some(_) => {}
            },
            T::FileDir { dir, recursive, read_only, .. } => match plan_path(dir) {
                None => self.findings.push(unnamed(dir)),
                Some(p) if block => {
                    let n = self.rule_ref(policy, rule);
                    self.deny(if *read_only { &FILE_DENY_READ_ONLY } else { &FILE_DENY }, &p, !recursive, n);
                    self.k004(rule, &p, if *read_only { "written" } else { "read or written" });
                }
                Some(p) if self.file_list => {
                    let n = self.rule_ref(policy, rule);
                    let grant = match (*recursive, *read_only) {
                        (true, true) => {
                            Grant::Beneath { path: p, access: vec![Right::ReadFile, Right::ReadDir], rule: Some(n) }
                        }
                        (true, false) => Grant::Beneath { path: p, access: file_allow_list(), rule: Some(n) },
                        (false, true) => Grant::FilesIn { dir: p, access: vec![Right::ReadFile], rule: Some(n) },
                        (false, false) => Grant::FilesIn { dir: p, access: FILE_WRITE.to_vec(), rule: Some(n) },
                    };
                    self.file_grants.push(grant);
                }
                Some(_) => {}
            },
            T::Capability { number: Some(number), .. } => {
                let number = u32::from(*number);
                if rule.action == Action::Block {
                    let n = self.rule_ref(policy, rule);
                    if !self.blocked_caps.iter().any(|(c, _)| *c == number) {
                        self.blocked_caps.push((number, n));
                    }
                } else if self.capability_list {
                    self.allowed_caps.push(number);
                }
            }
            // Unknown capability names (L002) and Audit rules of unnamed kinds: nothing to lower.
            _ => {}
        }
    }

    fn k004(&mut self, rule: &ir::Rule, path: &str, verb: &str) {
        self.findings.push(warn(
            Code::K004,
            rule,
            format!(
                "Block {path} under Landlock: files created after the plan is applied in the directories on the way \
                 ({}) cannot be {verb} either, and {path} itself can still be removed or renamed",
                way(path)
            ),
        ));
    }
}

/// One allow-list or deny layer: its rights plus `refer`, granted on `/` (see docs/landlock-plan.md).
fn layer(name: String, rights: &[Right], grants: Vec<Grant>) -> Layer {
    let mut handled = rights.to_vec();
    if !handled.contains(&Right::Refer) {
        handled.push(Right::Refer);
    }
    let mut all = vec![Grant::Beneath { path: "/".into(), access: vec![Right::Refer], rule: None }];
    all.extend(grants);
    Layer { name, handled, grants: all }
}

/// Lowers the policies that apply to `target` (in application order) into its Landlock plan.
/// `Audited` and `Disabled` targets get an empty plan. Fails when a layer would exceed `MAX_GRANTS`.
pub fn lower_target(target: &Target, policies: &[&ir::Policy]) -> Result<Lowered, String> {
    let name = target.name();
    // Allow-list mode per category, as BPF-LSM decides it (any Allow rule), whatever Landlock can express.
    let has_allow =
        |f: fn(&T) -> bool| policies.iter().flat_map(|p| &p.rules).any(|r| r.action == Action::Allow && f(&r.target));
    let blocks = |p: PostureAction| p == PostureAction::Block;
    let mut b = Builder {
        process_list: blocks(target.posture.file)
            && has_allow(|t| matches!(t, T::ProcessPath { .. } | T::ProcessExecname { .. } | T::ProcessDir { .. })),
        file_list: blocks(target.posture.file) && has_allow(|t| matches!(t, T::FilePath { .. } | T::FileDir { .. })),
        capability_list: blocks(target.posture.capabilities) && has_allow(|t| matches!(t, T::Capability { .. })),
        ..Builder::default()
    };
    if target.enforcement == Enforcement::Enabled {
        for policy in policies {
            for rule in &policy.rules {
                b.rule(policy, rule);
            }
        }
    }
    let mut layers = Vec::new();
    for (right, excluded) in DENY_RIGHTS.iter().zip(std::mem::take(&mut b.deny)) {
        if !excluded.is_empty() {
            let grants = vec![Grant::Except { access: vec![*right], excluded }];
            layers.push(layer(format!("deny {}", right.name()), &[*right], grants));
        }
    }
    if b.process_list {
        let mut grants = std::mem::take(&mut b.process_grants);
        let loaders =
            DYNAMIC_LOADERS.map(|p| Grant::Beneath { path: p.into(), access: vec![Right::Execute], rule: None });
        grants.extend(loaders);
        layers.push(layer("allow-list process".into(), &[Right::Execute], grants));
    }
    if b.file_list {
        layers.push(layer("allow-list file".into(), &file_allow_list(), std::mem::take(&mut b.file_grants)));
    }
    for l in &layers {
        let excluded = l.grants.iter().map(|g| if let Grant::Except { excluded, .. } = g { excluded.len() } else { 0 });
        if l.grants.len() > MAX_GRANTS || excluded.max().unwrap_or(0) > MAX_GRANTS {
            return Err(format!("target {name}: Landlock layer `{}` needs more than {MAX_GRANTS} grants", l.name));
        }
    }
    let mut drops: Vec<(u32, Option<u32>)> = b.blocked_caps.iter().map(|&(c, r)| (c, Some(r))).collect();
    if b.capability_list {
        for c in 0..CAPABILITIES.len() as u32 {
            if !b.allowed_caps.contains(&c) && !drops.iter().any(|(d, _)| *d == c) {
                drops.push((c, None));
            }
        }
    }
    drops.sort();
    let abi = layers.iter().flat_map(|l| l.handled.iter().map(|r| r.abi())).max().unwrap_or(0);
    let plan = Plan {
        version: crate::landlock::PLAN_VERSION,
        target: name,
        abi,
        layers,
        drop_capabilities: drops
            .into_iter()
            .map(|(number, rule)| DropCapability { name: CAPABILITIES[number as usize].to_string(), number, rule })
            .collect(),
        rules: b.rules,
    };
    Ok(Lowered { plan, findings: b.findings })
}
