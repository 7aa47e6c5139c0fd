//! IR -> BPF-LSM map image for one target, following KubeArmor's rulesHandling (reference §3.4-3.7):
//! per-category lists filled in policy order (last writer wins per key), `dirtoMap` with its hint
//! entries and `old|HINT` carry-over, process/file fusion, `all` protocol expansion, posture keys for
//! every category in allowlist mode. Deviations are listed in docs/semantics.md "## BPF-LSM".

use crate::compose::{Enforcement, PostureAction, Target};
use crate::image::{self, Entry, Key, MapImage, RuleRef, Value};
use crate::ir::{self, Action, Protocol};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// DNS suffixes KubeArmor adds to every domain (plus `.<ns>.svc.cluster.local` for namespaced policies).
const DNS_SUFFIXES: [&str; 4] = ["", ".cluster.local", ".svc.cluster.local", ".domain.name"];

/// Socket types `protocol: all` expands to, in KubeArmor's order.
pub const ALL_EXPANSION: [Protocol; 7] = [
    Protocol::Stream,
    Protocol::Dgram,
    Protocol::Raw,
    Protocol::Rdm,
    Protocol::Seqpacket,
    Protocol::Dccp,
    Protocol::Packet,
];

/// Lowers the policies that apply to `target` (in application order) into its map image.
/// `Audited` and `Disabled` targets get an empty image: KubeArmor never calls the enforcer for them.
pub fn lower_target(target: &Target, policies: &[&ir::Policy]) -> MapImage {
    let name = target.name();
    if target.enforcement != Enforcement::Enabled {
        return MapImage { target: name, ..Default::default() };
    }
    let rule_count: usize = policies.iter().map(|p| p.rules.len()).sum();
    let mut b = Builder::new(rule_count);
    let mut first_rule = 0;
    for policy in policies {
        b.policy(first_rule, policy, target.host);
        first_rule += policy.rules.len() as RuleId;
    }
    b.finish(name, target, policies, rule_count)
}

/// Number the kernel sees for a protocol: `(kind, number)` per reference §3.6; `None` for `all`.
pub fn protocol_key(p: Protocol) -> Option<(u8, u32)> {
    use Protocol::*;
    Some(match p {
        Icmp => (image::KIND_NET_PROTO, 1),
        Tcp => (image::KIND_NET_PROTO, 6),
        Udp => (image::KIND_NET_PROTO, 17),
        Icmpv6 => (image::KIND_NET_PROTO, 58),
        Sctp => (image::KIND_NET_PROTO, 132),
        Stream => (image::KIND_NET_TYPE, 1),
        Dgram => (image::KIND_NET_TYPE, 2),
        Raw => (image::KIND_NET_TYPE, 3),
        Rdm => (image::KIND_NET_TYPE, 4),
        Seqpacket => (image::KIND_NET_TYPE, 5),
        Dccp => (image::KIND_NET_TYPE, 6),
        Packet => (image::KIND_NET_TYPE, 10),
        All => return None,
    })
}

fn protocol_name(p: Protocol) -> &'static str {
    use Protocol::*;
    match p {
        Tcp => "tcp",
        Udp => "udp",
        Icmp => "icmp",
        Icmpv6 => "icmpv6",
        Sctp => "sctp",
        Raw => "raw",
        Stream => "stream",
        Dgram => "dgram",
        Rdm => "rdm",
        Seqpacket => "seqpacket",
        Dccp => "dccp",
        Packet => "packet",
        All => "all",
    }
}

/// An entry's text, kept borrowed until the image is built: most puts are overwritten, fused
/// or are ancestors shared by many rules, so the string is only rendered for surviving entries.
struct Text<'a> {
    main: Cow<'a, str>,
    arg: Option<&'a str>,
    source: Option<&'a str>,
}

impl<'a> Text<'a> {
    fn new(main: impl Into<Cow<'a, str>>, arg: Option<&'a str>, source: Option<&'a str>) -> Self {
        Text { main: main.into(), arg, source }
    }

    /// The key's text, then tab-separated `arg=` / `source=` fields (see docs/map-image.md;
    /// `image::Entry::main_text` and friends parse it back).
    fn render(&self) -> String {
        let len = self.main.len() + self.arg.map_or(0, |a| a.len() + 5) + self.source.map_or(0, |s| s.len() + 8);
        let mut t = String::with_capacity(len);
        t.push_str(&self.main);
        if let Some(a) = self.arg {
            t.push_str("\targ=");
            t.push_str(a);
        }
        if let Some(s) = self.source {
            t.push_str("\tsource=");
            t.push_str(s);
        }
        t
    }
}

/// A path-like key (path, exec name, domain) with the rule's source hash computed once per rule.
fn path_key(kind: u8, text: &str, source: u64) -> Key {
    let (path_a, path_b) = image::hash_ab(text.as_bytes());
    Key { kind, len: text.len() as u32, path_a, path_b, source }
}

fn number_key(kind: u8, n: u32, source: u64) -> Key {
    Key { kind, len: n, path_a: 0, path_b: 0, source }
}

/// `source_hash` of a fromSource path, 0 for a global rule.
fn source_of(src: Option<&str>) -> u64 {
    src.map_or(0, |s| image::source_hash(s.as_bytes()))
}

/// A rule of the target: its index among all rules of the applied policies, in order.
type RuleId = u32;

/// Keys of the lists. Path keys already carry two 64-bit hashes, so the fields are folded into
/// one word for a fast non-keyed hasher instead of feeding it all five.
#[derive(Clone, Copy, PartialEq, Eq)]
struct MapKey(Key);

impl Hash for MapKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let k = &self.0;
        state.write_u64(k.path_a ^ k.path_b.rotate_left(32) ^ k.source ^ (u64::from(k.len) << 8 | u64::from(k.kind)));
    }
}

/// The side of the value a list writes: file entries use `Value::file`; process, network,
/// capability and allowedArgs entries use `Value::process`.
const IN_PROCESS: usize = 0;
const IN_FILE: usize = 1;

/// One put: the mask it wrote on its side, the entry text, the writing rule.
struct Write<'a> {
    mask: u16,
    text: Text<'a>,
    rule: RuleId,
}

/// KubeArmor's per-category Go maps (process, file, network, capability, and our allowedArgs
/// list) in one map; last writer wins per key and list. Keys of different lists never meet
/// except process and file paths, and those fuse into one entry anyway, so a key keeps the
/// latest write of each side.
struct Lists<'a> {
    latest: HashMap<MapKey, [Option<u32>; 2], foldhash::fast::FixedState>,
    /// Every put, in order (`latest` indexes it).
    writes: Vec<Write<'a>>,
}

impl<'a> Lists<'a> {
    fn with_capacity(n: usize) -> Self {
        Lists { latest: HashMap::with_capacity_and_hasher(n, Default::default()), writes: Vec::with_capacity(n) }
    }

    fn put(&mut self, side: usize, key: Key, mask: u16, text: Text<'a>, rule: RuleId) {
        let w = self.writes.len() as u32;
        self.writes.push(Write { mask, text, rule });
        self.latest.entry(MapKey(key)).or_default()[side] = Some(w);
    }

    fn get(&self, side: usize, key: Key) -> Option<&Write<'a>> {
        let w = self.latest.get(&MapKey(key))?[side]?;
        Some(&self.writes[w as usize])
    }

    /// `dirtoMap(idx, dir, src, m, val)`, reference §3.5, byte for byte. Every text is a prefix
    /// of `dir` (split at its `/`s), so the texts borrow `dir` and the ancestors' hashes are
    /// carried along one pass over its bytes.
    fn dir_to_map(
        &mut self,
        side: usize,
        dir: &'a str,
        src: Option<&'a str>,
        source: u64,
        mut mask: u16,
        rule: RuleId,
    ) {
        // 1. the directory itself as a plain path: `dir` up to its last `/` (empty without one).
        let last_slash = dir.rfind('/').unwrap_or(0);
        let itself = &dir[..last_slash];
        let (a, b) = image::hash_ab(itself.as_bytes());
        let itself_key = Key { kind: image::KIND_PATH, len: itself.len() as u32, path_a: a, path_b: b, source };
        self.put(side, itself_key, mask, Text::new(itself, None, src), rule);
        // 2. the directory entry, keeping an existing HINT.
        mask |= image::DIR;
        let (a, b) = image::hash_ab_extend((a, b), &dir.as_bytes()[last_slash..]);
        let dir_key = Key { kind: image::KIND_PATH, len: dir.len() as u32, path_a: a, path_b: b, source };
        if self.get(side, dir_key).is_some_and(|old| old.mask & image::HINT != 0) {
            mask |= image::HINT;
        }
        self.put(side, dir_key, mask, Text::new(dir, None, src), rule);
        // 3. hints for every ancestor (`dir` through each `/` before the last); an existing DIR
        // entry's whole value is adopted (`old|HINT`). The adopted bits are the old writer's, so
        // the entry keeps naming that rule; the adopted value also carries on to deeper hints,
        // and with it the rule.
        let mut bits_from = rule;
        let (mut a, mut b) = image::HASH_AB_EMPTY;
        for (i, &byte) in itself.as_bytes().iter().enumerate() {
            (a, b) = (image::hash_a_step(a, byte), image::hash_b_step(b, byte));
            if byte != b'/' {
                continue;
            }
            mask = (mask & !image::DIR) | image::HINT;
            let hint = &dir[..=i];
            let key = Key { kind: image::KIND_PATH, len: hint.len() as u32, path_a: a, path_b: b, source };
            if let Some(old) = self.get(side, key).filter(|old| old.mask & image::DIR != 0) {
                mask = old.mask | image::HINT;
                bits_from = old.rule;
            }
            self.put(side, key, mask, Text::new(hint, None, src), bits_from);
        }
    }
}

/// An entry before numbering: key, masks, text, writing rule (`None` for posture keys).
type FinalSlot<'b, 'a> = (Key, [u16; 2], &'b Text<'a>, Option<RuleId>);

struct Builder<'a> {
    lists: Lists<'a>,
    allow_process: bool,
    allow_file: bool,
    allow_network: bool,
    allow_dns: bool,
    allow_capability: bool,
}

impl<'a> Builder<'a> {
    fn new(rule_count: usize) -> Self {
        Builder {
            lists: Lists::with_capacity(rule_count),
            allow_process: false,
            allow_file: false,
            allow_network: false,
            allow_dns: false,
            allow_capability: false,
        }
    }

    /// Lowers one policy; its rules are numbered from `first_rule` on.
    fn policy(&mut self, first_rule: RuleId, policy: &'a ir::Policy, host: bool) {
        // KubeArmor appends the `all` expansions after the policy's own network rules.
        let mut expansions: Vec<(Action, Option<&str>, usize)> = Vec::new();
        for (ri, rule) in policy.rules.iter().enumerate() {
            if rule.action == Action::Audit {
                continue;
            }
            let allow = rule.action == Action::Allow;
            let deny = if allow { 0 } else { image::DENY };
            // An empty fromSource path is written as a global rule (reference §2.4).
            let src = rule.source.as_deref().filter(|s| !s.is_empty());
            let source = source_of(src);
            let at = first_rule + ri as RuleId;
            use ir::RuleTarget as T;
            match &rule.target {
                T::ProcessPath { path, owner_only, pts_false, allowed_args } => {
                    self.process_path(
                        image::KIND_PATH,
                        path,
                        *owner_only,
                        *pts_false,
                        allowed_args,
                        src,
                        source,
                        deny,
                        at,
                    );
                    self.allow_process |= allow;
                }
                T::ProcessExecname { name, owner_only, pts_false, allowed_args } => {
                    self.process_path(
                        image::KIND_EXECNAME,
                        name,
                        *owner_only,
                        *pts_false,
                        allowed_args,
                        src,
                        source,
                        deny,
                        at,
                    );
                    self.allow_process |= allow;
                }
                T::ProcessDir { dir, recursive, owner_only, pts_false } => {
                    let mut v = image::EXEC | flag(*owner_only, image::OWNER) | flag(*recursive, image::RECURSIVE);
                    v |= flag(*pts_false, image::PTS) | deny;
                    self.lists.dir_to_map(IN_PROCESS, dir, src, source, v, at);
                    self.allow_process |= allow;
                }
                T::FilePath { path, read_only, owner_only, pts_false } => {
                    let v = file_mask(*read_only, *owner_only, *pts_false) | deny;
                    self.lists.put(
                        IN_FILE,
                        path_key(image::KIND_PATH, path, source),
                        v,
                        Text::new(path.as_str(), None, src),
                        at,
                    );
                    self.allow_file |= allow;
                }
                T::FileDir { dir, recursive, read_only, owner_only, pts_false } => {
                    let v = file_mask(*read_only, *owner_only, *pts_false) | flag(*recursive, image::RECURSIVE) | deny;
                    self.lists.dir_to_map(IN_FILE, dir, src, source, v, at);
                    self.allow_file |= allow;
                }
                // matchPatterns: KubeArmor's BPF-LSM never reads them.
                T::ProcessPattern { .. } | T::FilePattern { .. } => {}
                T::Protocol { known, pts_false, .. } => {
                    let v = flag(*pts_false, image::PTS) | deny;
                    match known.and_then(|p| Some((p, protocol_key(p)?))) {
                        Some((p, (kind, n))) => {
                            self.lists.put(
                                IN_PROCESS,
                                number_key(kind, n, source),
                                v,
                                Text::new(protocol_name(p), None, src),
                                at,
                            );
                        }
                        // `all` and non-protocols: KubeArmor writes an all-zero key no hook looks up
                        // (not written here, see docs/semantics.md); `all` expands to socket types.
                        None => {
                            if *known == Some(Protocol::All)
                                && !expansions.iter().any(|(a, s, _)| *a == rule.action && *s == src)
                            {
                                expansions.push((rule.action, src, ri));
                            }
                        }
                    }
                    self.allow_network |= allow;
                }
                T::Dns { domain } => {
                    let mut names: Vec<String> = DNS_SUFFIXES.iter().map(|s| format!("{domain}{s}")).collect();
                    if let (Some(ns), false) = (&policy.namespace, host) {
                        names.push(format!("{domain}.{ns}.svc.cluster.local"));
                    }
                    for n in names {
                        self.lists.put(
                            IN_PROCESS,
                            path_key(image::KIND_DNS, &n, source),
                            deny,
                            Text::new(n, None, src),
                            at,
                        );
                    }
                    self.allow_dns |= allow;
                }
                T::Capability { name, number } => {
                    // Host capability rules are not enforced by KubeArmor's BPF-LSM (reference §3.7).
                    if host {
                        continue;
                    }
                    // Unknown names map to code 0 (CAP_CHOWN), as KubeArmor's CapToCode lookup does.
                    let n = number.unwrap_or(0) as u32;
                    let text: Cow<str> =
                        if number.is_some() { name.into() } else { format!("chown (unknown name {name})").into() };
                    self.lists.put(
                        IN_PROCESS,
                        number_key(image::KIND_CAPABILITY, n, source),
                        deny,
                        Text::new(text, None, src),
                        at,
                    );
                    self.allow_capability |= allow;
                }
                T::Syscall { .. } | T::Device { .. } => {}
            }
        }
        for (action, src, ri) in expansions {
            let deny = if action == Action::Allow { 0 } else { image::DENY };
            let source = source_of(src);
            for p in ALL_EXPANSION {
                let (kind, n) = protocol_key(p).expect("socket types have keys");
                let text = Text::new(protocol_name(p), None, src);
                self.lists.put(IN_PROCESS, number_key(kind, n, source), deny, text, first_rule + ri as RuleId);
            }
        }
    }

    // The two callers pass the fields of ProcessPath/ProcessExecname plus the rule's shared
    // context; a struct would be built only to be taken apart again here.
    #[allow(clippy::too_many_arguments)]
    fn process_path(
        &mut self,
        kind: u8,
        path: &'a str,
        owner_only: bool,
        pts_false: bool,
        allowed_args: &'a [String],
        src: Option<&'a str>,
        source: u64,
        deny: u16,
        at: RuleId,
    ) {
        let v = image::EXEC
            | flag(owner_only, image::OWNER)
            | flag(pts_false, image::PTS)
            | flag(!allowed_args.is_empty(), image::ARGSET)
            | deny;
        self.lists.put(IN_PROCESS, path_key(kind, path, source), v, Text::new(path, None, src), at);
        let exec = image::hash_a(path.as_bytes());
        for arg in allowed_args {
            let key = Key {
                kind: image::KIND_ARG,
                len: arg.len() as u32,
                path_a: exec,
                path_b: image::hash_a(arg.as_bytes()),
                source,
            };
            self.lists.put(IN_PROCESS, key, image::ARGSET, Text::new(path, Some(arg), src), at);
        }
    }

    fn finish(self, name: String, target: &Target, policies: &[&ir::Policy], rule_count: usize) -> MapImage {
        let posture = |a: PostureAction| match a {
            PostureAction::Block => image::POSTURE_BLOCK,
            PostureAction::Audit => image::POSTURE_AUDIT,
        };
        let p = target.posture;
        let postures = [
            (self.allow_process, image::POSTURE_PROCESS, p.file, "posture:process"),
            (self.allow_file, image::POSTURE_FILE, p.file, "posture:file"),
            (self.allow_network, image::POSTURE_NETWORK, p.network, "posture:network"),
            (self.allow_dns, image::POSTURE_DNS, p.network, "posture:dns"),
            (self.allow_capability, image::POSTURE_CAPABILITY, p.capabilities, "posture:capabilities"),
        ];
        let posture_texts = postures.map(|(_, _, _, text)| Text::new(text, None, None));
        let Lists { latest, writes } = &self.lists;
        let mut slots: Vec<FinalSlot> = Vec::with_capacity(latest.len() + postures.len());
        for ((on, category, action, _), text) in postures.into_iter().zip(&posture_texts) {
            if on {
                slots.push((number_key(image::KIND_POSTURE, category, 0), [posture(action), 0], text, None));
            }
        }
        // Fusion: a key in both the process and the file list holds {process mask of P, file
        // mask of F}; F's text and rule are kept.
        for (key, sides) in latest {
            let [process, file] = sides.map(|w| w.map(|w| &writes[w as usize]));
            let owner = file.or(process).expect("a key has a write");
            let masks = [process.map_or(0, |w| w.mask), file.map_or(0, |w| w.mask)];
            slots.push((key.0, masks, &owner.text, Some(owner.rule)));
        }
        // Canonical order. Keys are unique here (one map; kinds keep the lists apart); sorting
        // small (order, index) pairs is cheaper than moving the slots.
        let mut order: Vec<_> = slots.iter().enumerate().map(|(i, s)| (s.0.byte_order(), i)).collect();
        order.sort_unstable();

        // Provenance: only rules that still own an entry, numbered in rule order.
        const UNUSED: u32 = u32::MAX;
        let mut number = vec![UNUSED; rule_count];
        let mut used = 0;
        for rule in slots.iter().filter_map(|s| s.3) {
            used += usize::from(number[rule as usize] == UNUSED);
            number[rule as usize] = 0;
        }
        let mut rules: Vec<RuleRef> = Vec::with_capacity(used);
        let mut first = 0;
        for policy in policies {
            let numbers = &mut number[first..first + policy.rules.len()];
            first += policy.rules.len();
            let Some(last) = numbers.iter().rposition(|&n| n != UNUSED) else { continue };
            // The policy's id, cloned for each of its rules but the last, which takes it.
            let mut id = policy_id(policy);
            for (ri, (rule, n)) in policy.rules.iter().zip(numbers).enumerate() {
                if *n == UNUSED {
                    continue;
                }
                *n = rules.len() as u32;
                let policy = if ri == last { std::mem::take(&mut id) } else { id.clone() };
                let o = &rule.origin;
                rules.push(RuleRef {
                    policy,
                    at: o.at.clone(),
                    file: o.file.clone(),
                    line: o.line,
                    severity: rule.severity,
                    tags: rule.tags.clone(),
                    message: rule.message.clone(),
                    action: action_name(rule.action).to_string(),
                });
            }
        }
        let entries = order
            .into_iter()
            .map(|(_, i)| {
                let (key, val, text, rule) = slots[i];
                let rule = rule.map_or(u32::MAX, |r| number[r as usize]);
                Entry { key, value: Value { process: val[0], file: val[1], rule }, text: text.render() }
            })
            .collect();
        MapImage { target: name, entries, rules }
    }
}

/// `Policy::id()`, concatenated instead of formatted: it is built for every policy of every target.
fn policy_id(policy: &ir::Policy) -> String {
    let parts = [policy.kind.as_str(), policy.namespace.as_deref().unwrap_or("-"), &policy.name];
    parts.join("/")
}

/// `RuleRef::action`: the IR action's name (`Block`, `Allow`, `Audit`).
fn action_name(action: Action) -> &'static str {
    match action {
        Action::Allow => "Allow",
        Action::Audit => "Audit",
        Action::Block => "Block",
    }
}

fn flag(on: bool, bit: u16) -> u16 {
    if on {
        bit
    } else {
        0
    }
}

fn file_mask(read_only: bool, owner_only: bool, pts_false: bool) -> u16 {
    image::READ | flag(!read_only, image::WRITE) | flag(owner_only, image::OWNER) | flag(pts_false, image::PTS)
}

/// Policies (ids, in order) that contributed at least one rule to a target: for over-capacity errors.
pub fn contributing_policies(image: &MapImage) -> Vec<String> {
    let mut ids: Vec<String> = image.rules.iter().map(|r| r.policy.clone()).collect();
    ids.dedup();
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    ids
}

#[cfg(test)]
mod tests;
