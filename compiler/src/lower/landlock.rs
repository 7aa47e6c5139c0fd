//! IR -> Landlock plan for one target (docs/landlock-plan.md; deviations in docs/semantics.md
//! "## Landlock"). Landlock only allows, so:
//! - Block path rules become `except` grants, one layer per refused right (`execute` for process
//!   rules; `read_file`, `write_file`, `truncate` for file rules, `write_file`/`truncate` only when
//!   readOnly), so a layer's exclusions all refuse the same right;
//! - Allow (and Audit) rules of a category in allow-list mode with a `block` posture become
//!   `beneath`/`files_in` grants of an allow-list layer (the category is in allow-list mode when
//!   it has an Allow rule, as for BPF-LSM);
//! - Block capabilities, and every capability outside a capabilities allow-list, are dropped;
//! - protocol rules become the plan's `network` part: BPF-LSM's socket lookup (type, then
//!   protocol, then the posture of a network allow-list) without `fromSource` entries, which the
//!   loader's cgroup program enforces and Landlock expresses for TCP (connect and bind refused).
//!
//! What Landlock cannot see or name is not lowered and is a warning: patterns and execnames
//! (K001), Block rules with fromSource/ownerOnly/pts/allowedArgs conditions (K002; an Allow rule
//! with one is granted without it, also K002), DNS rules and the socket refusals only the
//! privileged loader's cgroup program makes (K003); and every lowered Block path rule warns about
//! what the `except` expansion implies (K004).

use crate::codes::Code;
use crate::compose::{Enforcement, Finding, PostureAction, Target};
use crate::diag::Severity;
use crate::image::KIND_NET_TYPE;
use crate::ir::{self, Action, Protocol, RuleTarget as T};
use crate::landlock::{
    check_path, DropCapability, Excluded, Grant, Layer, Network, Plan, Right, RuleInfo, SocketRule, Verdict, MAX_GRANTS,
};
use crate::lower::bpf::{protocol_key, ALL_EXPANSION};
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

impl Lowered {
    /// Each warning's code and rule (what `divergence::Landlock::warned` takes).
    pub fn warned_rules(&self) -> Vec<(Code, ir::Origin)> {
        self.findings.iter().filter_map(|f| Some((f.code, f.origin.clone()?))).collect()
    }
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
    /// A network allow-list with a `block` posture: sockets no rule names are refused.
    network_list: bool,
    /// Socket types and protocols (the last rule of a number wins, as in BPF-LSM's map).
    socket_types: Vec<SocketRule>,
    socket_protocols: Vec<SocketRule>,
    /// The policy's `protocol: all` rules, written after its other rules (as KubeArmor does).
    all_protocols: Vec<(Verdict, u32)>,
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
            T::Protocol { pts_false, .. } => (false, *pts_false, false),
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
            T::Dns { domain } => {
                if enforcing {
                    self.findings.push(warn(
                        Code::K003,
                        rule,
                        format!(
                            "{:?} DNS query {domain}: Landlock cannot refuse a name lookup; not enforced under --lsm landlock",
                            rule.action
                        ),
                    ));
                }
                return;
            }
            _ => {}
        }
        if let Some(condition) = Self::condition(rule) {
            // An Allow widens: granted without its condition, the allow-list still refuses
            // everything else (left out, the target's own allowed accesses would be refused).
            // A Block narrowed to a condition cannot be widened without refusing more.
            if rule.action == Action::Allow {
                self.findings.push(warn(
                    Code::K002,
                    rule,
                    format!(
                        "Allow rule with {condition}: Landlock cannot see it; granted to every process of the target under --lsm landlock"
                    ),
                ));
            } else {
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
                    let mut access = if *read_only { vec![Right::ReadFile] } else { FILE_WRITE.to_vec() };
                    // A path that is a directory when the plan is applied is opened to be listed
                    // (BPF-LSM allows opening it by its path); for a file the loader drops read_dir.
                    access.push(Right::ReadDir);
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
            T::Protocol { protocol, known, .. } if enforcing => self.protocol(policy, rule, protocol, *known),
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

    /// A Block or Allow protocol rule (without condition, or an Allow widened): a socket entry,
    /// and K003 for what only the loader's cgroup program refuses.
    fn protocol(&mut self, policy: &ir::Policy, rule: &ir::Rule, protocol: &str, known: Option<Protocol>) {
        let block = rule.action == Action::Block;
        let verdict = if block { Verdict::Deny } else { Verdict::Allow };
        match known.and_then(protocol_key) {
            Some((kind, number)) => {
                let n = self.rule_ref(policy, rule);
                let list = if kind == KIND_NET_TYPE { &mut self.socket_types } else { &mut self.socket_protocols };
                put_socket(list, SocketRule { number, verdict, rule: n });
            }
            None if known == Some(Protocol::All) => {
                if !self.all_protocols.iter().any(|(v, _)| *v == verdict) {
                    let n = self.rule_ref(policy, rule);
                    self.all_protocols.push((verdict, n));
                }
            }
            // not a protocol: BPF-LSM writes a key no socket looks up; nothing is refused
            None => return,
        }
        let landlock = "refused only by armor-loader's cgroup socket program (the loader runs as root)";
        let message = if block && known == Some(Protocol::Tcp) {
            return; // Landlock refuses TCP connect and bind (docs/semantics.md "## Landlock")
        } else if block && matches!(known, Some(Protocol::Stream | Protocol::All)) {
            format!(
                "Block protocol {protocol}: sockets are {landlock}; Landlock alone refuses only TCP connect and bind"
            )
        } else if block {
            format!("Block protocol {protocol}: sockets are {landlock}; Landlock alone does not refuse them")
        } else if self.network_list {
            format!(
                "Allow protocol {protocol} in a network allow-list: the sockets it does not allow are {landlock}; \
                 Landlock alone refuses only TCP connect and bind, when TCP is not allowed"
            )
        } else {
            return; // nothing refused
        };
        self.findings.push(warn(Code::K003, rule, message));
    }

    /// After each policy: its `protocol: all` rules, as the socket types they stand for.
    fn end_policy(&mut self) {
        for (verdict, rule) in std::mem::take(&mut self.all_protocols) {
            for p in ALL_EXPANSION {
                let (_, number) = protocol_key(p).expect("socket types have numbers");
                put_socket(&mut self.socket_types, SocketRule { number, verdict, rule });
            }
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

/// A socket entry; a later rule of the same number replaces the earlier one (BPF-LSM's map).
fn put_socket(list: &mut Vec<SocketRule>, entry: SocketRule) {
    match list.iter_mut().find(|r| r.number == entry.number) {
        Some(r) => *r = entry,
        None => list.push(entry),
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

/// Why a target has no Landlock plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LowerError {
    /// A layer would exceed `MAX_GRANTS` (the loader refuses such a plan).
    #[error("target {target}: Landlock layer `{layer}` needs more than {MAX_GRANTS} grants")]
    TooManyGrants { target: String, layer: String },
}

/// Lowers the policies that apply to `target` (in application order) into its Landlock plan.
/// `Audited` and `Disabled` targets get an empty plan. Fails when a layer would exceed `MAX_GRANTS`.
pub fn lower_target(target: &Target, policies: &[&ir::Policy]) -> Result<Lowered, LowerError> {
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
        network_list: blocks(target.posture.network) && has_allow(|t| matches!(t, T::Protocol { .. })),
        ..Builder::default()
    };
    if target.enforcement == Enforcement::Enabled {
        for policy in policies {
            for rule in &policy.rules {
                b.rule(policy, rule);
            }
            b.end_policy();
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
            return Err(LowerError::TooManyGrants { target: name.clone(), layer: l.name.clone() });
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
    let network = Network {
        types: std::mem::take(&mut b.socket_types),
        protocols: std::mem::take(&mut b.socket_protocols),
        default: if b.network_list && target.enforcement == Enforcement::Enabled {
            Verdict::Deny
        } else {
            Verdict::Allow
        },
    };
    let refuses = network.default == Verdict::Deny
        || network.types.iter().chain(&network.protocols).any(|r| r.verdict == Verdict::Deny);
    let plan = Plan {
        version: crate::landlock::PLAN_VERSION,
        target: name,
        abi,
        layers,
        drop_capabilities: drops
            .into_iter()
            .map(|(number, rule)| DropCapability { name: CAPABILITIES[number as usize].to_string(), number, rule })
            .collect(),
        network: refuses.then_some(network),
        rules: b.rules,
    };
    Ok(Lowered { plan, findings: b.findings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{Posture, PostureAction};

    fn lower(yaml: &str, network: PostureAction) -> Lowered {
        let checked = crate::check_source(crate::source::SourceFile::new("p.yaml", yaml));
        assert!(!checked.policies.is_empty(), "{yaml}");
        let target = Target {
            namespace: Some("ns".into()),
            workload: Some("w".into()),
            workload_kind: Some("Deployment".into()),
            container: Some("c".into()),
            host: false,
            enforcement: Enforcement::Enabled,
            posture: Posture { file: PostureAction::Audit, network, capabilities: PostureAction::Audit },
            policies: (0..checked.policies.len()).collect(),
        };
        let refs: Vec<_> = checked.policies.iter().collect();
        lower_target(&target, &refs).unwrap()
    }

    fn policy(name: &str, protocols: &str, action: &str) -> String {
        format!(
            "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {{name: {name}, namespace: ns}}\n\
             spec:\n  selector: {{matchLabels: {{app: w}}}}\n  network: {{matchProtocols: [{protocols}]}}\n  action: {action}\n"
        )
    }

    fn codes(l: &Lowered) -> Vec<Code> {
        l.findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn block_protocols_become_socket_entries() {
        let l = lower(&policy("p", "{protocol: tcp}, {protocol: udp}, {protocol: raw}", "Block"), PostureAction::Audit);
        let net = l.plan.network.as_ref().expect("a network part");
        assert_eq!(net.types.iter().map(|r| r.number).collect::<Vec<_>>(), [3]);
        assert_eq!(net.protocols.iter().map(|r| r.number).collect::<Vec<_>>(), [6, 17]);
        assert_eq!(net.default, Verdict::Allow);
        assert!(net.refuses_tcp() && net.refuses(2, 17) && !net.refuses(2, 1));
        // tcp: Landlock expresses it; udp and raw need the socket program
        assert_eq!(codes(&l), [Code::K003, Code::K003]);
        assert!(l.findings[0].message.contains("Block protocol udp"), "{}", l.findings[0].message);
        let decoded = Plan::decode(l.plan.encode().as_bytes()).unwrap();
        assert_eq!(decoded, l.plan);
    }

    #[test]
    fn allow_lists_audit_and_conditions() {
        // an allow-list of udp under a block posture: everything else (TCP too) is refused
        let l = lower(&policy("p", "{protocol: udp}", "Allow"), PostureAction::Block);
        let net = l.plan.network.as_ref().unwrap();
        assert_eq!((net.default, net.refuses_tcp(), net.refuses(2, 17)), (Verdict::Deny, true, false));
        assert_eq!(codes(&l), [Code::K003]);
        // the same rule under an audit posture refuses nothing: no network part, no warning
        let l = lower(&policy("p", "{protocol: udp}", "Allow"), PostureAction::Audit);
        assert_eq!((l.plan.network.is_none(), l.findings.len()), (true, 0));
        // Audit rules are not lowered
        assert!(lower(&policy("p", "{protocol: tcp}", "Audit"), PostureAction::Block).plan.network.is_none());
        // fromSource: a Block is not enforced (K002), an Allow is granted to every process (K002)
        let src = "{protocol: tcp, fromSource: [{path: /bin/x}]}";
        let l = lower(&policy("p", src, "Block"), PostureAction::Block);
        assert_eq!((l.plan.network.is_none(), codes(&l)), (true, vec![Code::K002]));
        let l = lower(&policy("p", src, "Allow"), PostureAction::Block);
        let net = l.plan.network.as_ref().unwrap();
        assert_eq!((net.refuses_tcp(), net.refuses(2, 17), codes(&l)), (false, true, vec![Code::K002, Code::K003]));
    }

    #[test]
    fn all_expands_after_the_policy_and_the_last_rule_wins() {
        // within a policy `all` comes last (over its stream rule); a later policy wins
        let text = format!(
            "{}---\n{}",
            policy("a", "{protocol: all}, {protocol: stream}", "Block"),
            policy("b", "{protocol: dgram}", "Allow")
        );
        let l = lower(&text, PostureAction::Audit);
        let net = l.plan.network.as_ref().unwrap();
        assert_eq!(net.types.len(), 7);
        assert!(net.refuses_tcp() && net.refuses(1, 132) && !net.refuses(2, 17));
        let stream = net.types.iter().find(|r| r.number == 1).unwrap();
        assert_eq!(l.plan.rules[stream.rule as usize].at, "spec.network.matchProtocols[0]");
        // stream and all warn (Landlock refuses their TCP part only)
        assert_eq!(codes(&l), [Code::K003, Code::K003]);
    }
}
