//! Where the enforcers disagree: for one target, the operations its rules are about, decided by
//! the BPF-LSM reference model (`model::Model::decide_operation` on the target's map image) and by
//! the AppArmor evaluator (`model::apparmor` on the target's profile text). Every disagreement is
//! classified by the shape of the rules behind it and reported once per rule (docs/semantics.md,
//! "Where the enforcers diverge"); a disagreement no known shape explains is still reported (D001).
//! One static check needs no query: a non-recursive directory under a recursive one, dead in
//! BPF-LSM for its direct children (D005). Where the target's Landlock plan applies (a host, or a
//! container armor-exec wraps), the same operations are also decided by the Landlock model
//! (`model::landlock` on the plan) and each disagreement with BPF-LSM is reported once per rule
//! (D010), except on rules the Landlock lowering already warns about (K001-K004).
//!
//! Disagreements that another diagnostic already reports or that come from fixed profile lines are
//! left out: matchPatterns (L007), host capability rules (L017), unknown capability names (L002),
//! AppArmor's baseline lines (`/proc`, `/sys`, the system libraries), a source reading itself.

use crate::codes::Code;
use crate::compose::{Enforcement, Target};
use crate::image::MapImage;
use crate::ir::{self, Action, RuleTarget as T};
use crate::landlock::Plan;
use crate::lower::apparmor::Profile as Written;
use crate::model::apparmor::{self, glob::Glob, LineCache, PathLines, ProfileSet};
use crate::model::landlock as ll;
use crate::model::{By, Hook, Model, Op, Operation, Query};
use foldhash::fast::FixedState;
use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;

/// One divergence: a rule (or the posture it switches on) that the two enforcers apply
/// differently, with one operation showing it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Divergence {
    pub code: Code,
    /// The rule the warning is about.
    pub rule: ir::Origin,
    /// Its policy's id.
    pub policy: String,
    /// The operation both enforcers were asked (`exec /usr/bin/id`, `open /etc/passwd as non-owner`).
    pub operation: String,
    /// BPF-LSM's answer and why (`denies (file_open: file posture block)`).
    pub bpf: String,
    /// AppArmor's answer (`allows (in the target's profile)`); none for a Landlock divergence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apparmor: Option<String>,
    /// Landlock's answer (`denies (read_file of /etc/x: layer deny read_file, rule ...)`), for a
    /// Landlock divergence (D010).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landlock: Option<String>,
    /// What makes them differ.
    pub why: String,
    pub suggestion: String,
    /// The other rule involved, if any, with a label.
    pub related: Option<(ir::Origin, String)>,
}

impl Divergence {
    /// The warning text: the shape, both answers, the suggested rewrite.
    pub fn message(&self) -> String {
        let (other, answer) = match &self.landlock {
            Some(landlock) => ("Landlock", landlock.as_str()),
            None => ("AppArmor", self.apparmor.as_deref().unwrap_or_default()),
        };
        format!(
            "{}: {}: BPF-LSM {}, {other} {answer}; suggestion: {}",
            self.why, self.operation, self.bpf, self.suggestion
        )
    }
}

/// A target's Landlock plan, for a target where it applies, and what its lowering warned about
/// (K001-K004, with the rule: the divergences they explain are not reported again).
#[derive(Clone, Copy)]
pub struct Landlock<'a> {
    pub plan: &'a Plan,
    pub warned: &'a [(Code, ir::Origin)],
}

/// Why a target was not analysed (its profile could not be read back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unanalysed(pub String);

/// The analysis for many targets of one run: parsed profile lines and compiled patterns are
/// shared, and targets with the same policies, posture, enforcement and kind (container or host)
/// share one result (their profiles differ only in names).
#[derive(Default)]
pub struct Analyzer {
    lines: LineCache,
    patterns: RefCell<Patterns>,
    /// Per analysed target: its divergences as indexes into `texts.distinct`.
    results: HashMap<TargetKey, Result<Vec<u32>, Unanalysed>, FixedState>,
    /// Each divergence made once (many targets share them).
    texts: RefCell<Texts>,
    /// Run-wide rule numbers: per composed policy (its index), the number of its first rule.
    bases: HashMap<usize, u32, FixedState>,
    next_base: u32,
}

/// Distinct divergences and, for the ones found by a probe, the number of each by what its texts
/// are made of (`TextKey`): a divergence many targets share is made once, not once per target.
#[derive(Default)]
struct Texts {
    distinct: Interned,
    by_key: HashMap<TextKey, u32, FixedState>,
}

/// What a probe's divergence texts are made of: code, blamed rule (run-wide number), the query
/// (path and source by their `LineCache` ids; op, owner; socket type, protocol; capability), each
/// BPF-LSM hook's answer (denied, by what) with the deciding rule's number, AppArmor's answer and
/// profile, the related rule's number.
type TextKey = [u32; 12];

/// Distinct divergences, numbered in first-seen order: `items` and the index of their numbers.
#[derive(Default)]
struct Interned {
    items: Vec<Divergence>,
    ids: Index,
}

/// Numbers of divergences by their hash (the divergences are in a `Vec` beside it).
#[derive(Default)]
struct Index(hashbrown::HashTable<u32>);

impl Index {
    fn hash(d: &Divergence) -> u64 {
        FixedState::with_seed(0x5eed).hash_one(d)
    }

    /// The number of `d` in `items`, pushed there when new.
    fn intern(&mut self, items: &mut Vec<Divergence>, d: Divergence) -> u32 {
        let entry = self.0.entry(Self::hash(&d), |&i| items[i as usize] == d, |&i| Self::hash(&items[i as usize]));
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let id = items.len() as u32;
                e.insert(id);
                items.push(d);
                id
            }
        }
    }
}

impl Interned {
    fn intern(&mut self, d: Divergence) -> u32 {
        self.ids.intern(&mut self.items, d)
    }
}

impl Analyzer {
    /// The divergences of one target, one per (code, rule), in rule order, each with its number in
    /// this analyzer (equal numbers, equal divergences). Audited and disabled targets have none
    /// (neither enforcer denies there). `profile` is the target's profile and `image` its map
    /// image, both lowered from `policies` (the target's, in order); `landlock`: its Landlock plan,
    /// where one applies.
    pub fn analyze(
        &mut self,
        target: &Target,
        policies: &[&ir::Policy],
        image: &MapImage,
        profile: &Written,
        landlock: Option<Landlock>,
    ) -> Result<Vec<(u32, &Divergence)>, Unanalysed> {
        let key = (
            target.policies.clone(),
            format!("{:?}{:?}", target.posture, target.enforcement),
            target.host,
            landlock.is_some(),
        );
        if !self.results.contains_key(&key) {
            let r = self.analyze_once(target, policies, image, profile, landlock);
            self.results.insert(key.clone(), r);
        }
        let items = &self.texts.get_mut().distinct.items;
        self.results[&key]
            .as_ref()
            .map(|ids| ids.iter().map(|&i| (i, &items[i as usize])).collect())
            .map_err(Clone::clone)
    }

    /// The run-wide number of the first rule of composed policy `policy` (with `rules` rules).
    fn base(&mut self, policy: usize, rules: usize) -> u32 {
        let next = &mut self.next_base;
        *self.bases.entry(policy).or_insert_with(|| {
            let base = *next;
            *next += rules as u32;
            base
        })
    }

    fn analyze_once(
        &mut self,
        target: &Target,
        policies: &[&ir::Policy],
        image: &MapImage,
        profile: &Written,
        landlock: Option<Landlock>,
    ) -> Result<Vec<u32>, Unanalysed> {
        if target.enforcement != Enforcement::Enabled {
            return Ok(Vec::new());
        }
        let bases: Vec<u32> =
            target.policies.iter().zip(policies).map(|(&p, policy)| self.base(p, policy.rules.len())).collect();
        let set = ProfileSet::parse_cached(&profile.text, &profile.lines, &mut self.lines).map_err(Unanalysed)?;
        let root = set.entry_profile().unwrap_or_default();
        let mut transitions: HashMap<&[u8], &str, FixedState> = HashMap::default();
        for name in std::iter::once(root.as_str()).chain(set.profiles.keys().map(String::as_str)) {
            for (path, profile) in set.transitions_of(name) {
                transitions.entry(path.as_bytes()).or_insert(profile);
            }
        }
        let ids: Vec<String> = policies.iter().map(|p| p.id()).collect();
        let rules: Vec<Applied> = policies
            .iter()
            .zip(&ids)
            .zip(&bases)
            .flat_map(|((p, id), &base)| {
                p.rules.iter().enumerate().map(move |(i, rule)| Applied { id, rule, number: base + i as u32 })
            })
            .filter(|a| a.rule.action != Action::Audit)
            .collect();
        let mut exact_rules: HashMap<&str, Vec<usize>, FixedState> = HashMap::default();
        let mut scanned_rules: [Vec<usize>; 4] = Default::default();
        for (i, a) in rules.iter().enumerate() {
            match &a.rule.target {
                T::ProcessPath { path, .. } | T::FilePath { path, .. } => {
                    exact_rules.entry(path.as_str()).or_default().push(i);
                }
                T::ProcessExecname { .. } | T::ProcessDir { .. } | T::ProcessPattern { .. } => {
                    scanned_rules[QueryKind::Exec as usize].push(i)
                }
                T::FileDir { .. } | T::FilePattern { .. } => scanned_rules[QueryKind::File as usize].push(i),
                T::Protocol { .. } => scanned_rules[QueryKind::Socket as usize].push(i),
                T::Capability { .. } => scanned_rules[QueryKind::Capable as usize].push(i),
                // No query matches the others (`rule_matches`).
                _ => {}
            }
        }
        let by_ref = RefCell::new(None);
        let pattern_ids = {
            let mut patterns = self.patterns.borrow_mut();
            rules
                .iter()
                .map(|a| match &a.rule.target {
                    T::ProcessPattern { pattern, .. } | T::FilePattern { pattern, .. } => patterns.id(pattern),
                    _ => 0,
                })
                .collect()
        };
        let cx = Context {
            target,
            rules: &rules,
            model: Model::new(image),
            image,
            set: &set,
            root: &root,
            transitions,
            by_ref,
            allow_list_rule: rules
                .iter()
                .position(|a| a.rule.action == Action::Allow && a.category() == Some(Cat::File)),
            patterns: &self.patterns,
            pattern_ids,
            exact_rules,
            scanned_rules,
            matched: RefCell::default(),
            lines: set.lines(),
            reported: RefCell::default(),
            texts: &self.texts,
            landlock: landlock.map(|l| LandlockCx { model: ll::Model::new(l.plan), plan: l.plan, warned: l.warned }),
            by_plan_rule: RefCell::new(None),
        };
        let mut found = Found::default();
        for d in dead_directories(&rules) {
            let (code, rule) = (d.code, d.rule.clone());
            found.add(self.texts.borrow_mut().distinct.intern(d), code, &rule);
        }
        let probes = probes(&cx);
        // Probes come grouped by path and source: the profile lines matching a path are found once.
        let mut at: Option<At> = None;
        for probe in &probes {
            let q = &probe.query;
            let profile = cx.profile_for(q);
            if !at.as_ref().is_some_and(|at| at.profile == profile && at.path.as_bytes() == q.path.as_slice()) {
                let path = std::str::from_utf8(&q.path).unwrap_or("");
                let path_id = cx.lines.path_id(path);
                let lines = set.lines_for_cached(profile, path, path_id);
                at = Some(At { profile, path, path_id, lines, root_lines: OnceCell::new() });
            }
            if let Some(at) = &at {
                let op = cx.model.decide_operation(q);
                for number in [cx.compare(probe, at, &op), cx.compare_landlock(probe, &op)].into_iter().flatten() {
                    let texts = self.texts.borrow();
                    let d = &texts.distinct.items[number as usize];
                    found.add(number, d.code, &d.rule);
                }
            }
        }
        let items = &self.texts.get_mut().distinct.items;
        let mut out = found.numbers;
        out.sort_by(|&a, &b| {
            let (a, b) = (&items[a as usize], &items[b as usize]);
            (&a.rule.file, a.rule.line, a.rule.column, a.code).cmp(&(&b.rule.file, b.rule.line, b.rule.column, b.code))
        });
        Ok(out)
    }
}

/// matchPatterns compiled once per run and numbered (None: not a glob the evaluator reads), and
/// which pattern matched which path (by their numbers): the same patterns meet the same paths in
/// many targets.
#[derive(Default)]
struct Patterns {
    ids: HashMap<String, u32, FixedState>,
    globs: Vec<Option<Glob>>,
    /// Per pattern, by path number: 0 not asked yet, 1 no match, 2 match.
    matched: Vec<Vec<u8>>,
}

impl Patterns {
    fn id(&mut self, pattern: &str) -> u32 {
        if let Some(&id) = self.ids.get(pattern) {
            return id;
        }
        let id = self.globs.len() as u32;
        self.globs.push(Glob::parse(pattern).ok());
        self.matched.push(Vec::new());
        self.ids.insert(pattern.to_string(), id);
        id
    }

    /// Whether pattern `id` matches `path` (numbered `path_id` by the run's `LineCache`).
    fn matches(&mut self, id: u32, path: &str, path_id: u32) -> bool {
        let answers = &mut self.matched[id as usize];
        if answers.len() <= path_id as usize {
            answers.resize(path_id as usize + 1, 0);
        }
        let answer = &mut answers[path_id as usize];
        if *answer == 0 {
            *answer = 1 + u8::from(self.globs[id as usize].as_ref().is_some_and(|g| g.matches(path)));
        }
        *answer == 2
    }
}

/// (policies, posture and enforcement, host, Landlock applies): what makes two targets' analyses
/// equal (the plan is lowered from the same policies).
type TargetKey = (Vec<usize>, String, bool, bool);

/// The probes of one path in one profile: the profile's lines matching the path are found once.
struct At<'a> {
    profile: &'a str,
    path: &'a str,
    path_id: u32,
    lines: PathLines<'a>,
    /// The root profile's lines, when a probe in a sub-profile needs them too.
    root_lines: OnceCell<PathLines<'a>>,
}

/// `Analyzer::analyze` for a single target.
pub fn analyze(
    target: &Target,
    policies: &[&ir::Policy],
    image: &MapImage,
    profile: &Written,
    landlock: Option<Landlock>,
) -> Result<Vec<Divergence>, Unanalysed> {
    Analyzer::default()
        .analyze(target, policies, image, profile, landlock)
        .map(|found| found.into_iter().map(|(_, d)| d.clone()).collect())
}

/// A target's divergences (numbers in `Texts::distinct`), one per (code, rule origin).
#[derive(Default)]
struct Found {
    numbers: Vec<u32>,
    seen: HashSet<(Code, String, usize, usize), FixedState>,
}

impl Found {
    fn add(&mut self, number: u32, code: Code, rule: &ir::Origin) {
        if self.seen.insert((code, rule.file.clone(), rule.line, rule.column)) {
            self.numbers.push(number);
        }
    }
}

#[derive(Clone, Copy)]
struct Applied<'a> {
    /// Its policy's id.
    id: &'a str,
    rule: &'a ir::Rule,
    /// Its run-wide number (`Analyzer::base`).
    number: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cat {
    Process,
    File,
}

impl Applied<'_> {
    fn source(&self) -> Option<&str> {
        self.rule.source.as_deref().filter(|s| !s.is_empty())
    }
    fn category(&self) -> Option<Cat> {
        match self.rule.target {
            T::ProcessPath { .. } | T::ProcessExecname { .. } | T::ProcessDir { .. } | T::ProcessPattern { .. } => {
                Some(Cat::Process)
            }
            T::FilePath { .. } | T::FileDir { .. } | T::FilePattern { .. } => Some(Cat::File),
            _ => None,
        }
    }
    fn is_pattern(&self) -> bool {
        matches!(self.rule.target, T::ProcessPattern { .. } | T::FilePattern { .. })
    }
    fn read_only(&self) -> bool {
        matches!(
            self.rule.target,
            T::FilePath { read_only: true, .. }
                | T::FileDir { read_only: true, .. }
                | T::FilePattern { read_only: true, .. }
        )
    }
    fn owner_only(&self) -> bool {
        match self.rule.target {
            T::FilePath { owner_only, .. }
            | T::FileDir { owner_only, .. }
            | T::FilePattern { owner_only, .. }
            | T::ProcessPath { owner_only, .. }
            | T::ProcessExecname { owner_only, .. }
            | T::ProcessDir { owner_only, .. }
            | T::ProcessPattern { owner_only, .. } => owner_only,
            _ => false,
        }
    }
    fn pts_false(&self) -> bool {
        match self.rule.target {
            T::ProcessPath { pts_false, .. }
            | T::ProcessExecname { pts_false, .. }
            | T::ProcessDir { pts_false, .. }
            | T::FilePath { pts_false, .. }
            | T::FileDir { pts_false, .. }
            | T::Protocol { pts_false, .. } => pts_false,
            _ => false,
        }
    }
    /// The directory of a matchDirectories rule and whether it is recursive.
    fn dir(&self) -> Option<(&str, bool)> {
        match &self.rule.target {
            T::ProcessDir { dir, recursive, .. } | T::FileDir { dir, recursive, .. } => Some((dir, *recursive)),
            _ => None,
        }
    }
    /// The path or directory the rule names (its pattern, for matchPatterns).
    fn scope(&self) -> String {
        match &self.rule.target {
            T::ProcessPath { path, .. } | T::FilePath { path, .. } => path.clone(),
            T::ProcessDir { dir, recursive: true, .. } | T::FileDir { dir, recursive: true, .. } => {
                format!("{dir} (recursive)")
            }
            T::ProcessDir { dir, .. } | T::FileDir { dir, .. } => dir.clone(),
            T::ProcessPattern { pattern, .. } | T::FilePattern { pattern, .. } => pattern.clone(),
            T::ProcessExecname { name, .. } => name.clone(),
            _ => String::new(),
        }
    }

    fn describe(&self) -> String {
        let what = match &self.rule.target {
            T::ProcessPath { path, .. } | T::FilePath { path, .. } => path.clone(),
            T::ProcessExecname { name, .. } => format!("execname {name}"),
            T::ProcessDir { dir, recursive, .. } | T::FileDir { dir, recursive, .. } => {
                format!("{}directory {dir}", if *recursive { "recursive " } else { "" })
            }
            T::ProcessPattern { pattern, .. } | T::FilePattern { pattern, .. } => format!("pattern {pattern}"),
            T::Protocol { protocol, .. } => format!("protocol {protocol}"),
            T::Capability { name, .. } => format!("capability {name}"),
            _ => "rule".to_string(),
        };
        format!("{:?} {what} ({} {})", self.rule.action, self.id, self.rule.origin.at)
    }
}

/// Is `path` inside directory `dir` (which ends in `/`), not `dir` itself?
fn dir_covers(dir: &str, recursive: bool, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(dir) else { return false };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    !rest.is_empty() && (recursive || !rest.contains('/'))
}

/// D005: a non-recursive directory rule under a recursive one of the same category and source,
/// where one of them blocks. BPF-LSM's walk lets the remembered recursive directory decide the
/// direct children, so the inner rule is dead there; AppArmor applies every matching line and
/// deny wins.
fn dead_directories(rules: &[Applied]) -> Vec<Divergence> {
    let mut found = Vec::new();
    for inner in rules {
        let Some((dir, false)) = inner.dir() else { continue };
        for outer in rules {
            let Some((outer_dir, true)) = outer.dir() else { continue };
            if outer.category() != inner.category()
                || outer.source() != inner.source()
                || !dir_covers(outer_dir, true, dir)
                || (inner.rule.action != Action::Block && outer.rule.action != Action::Block)
            {
                continue;
            }
            let child = format!("{dir}f");
            let inner_block = inner.rule.action == Action::Block;
            let outer_block = outer.rule.action == Action::Block;
            let same_qualifiers = inner.read_only() == outer.read_only() && inner.owner_only() == outer.owner_only();
            let (apparmor, ignored_by, suggestion) = match (inner_block, outer_block) {
                (true, true) if same_qualifiers => (
                    "denies (both rules deny)".to_string(),
                    "BPF-LSM ignores it and AppArmor denies by both rules: it changes nothing",
                    "remove it (the recursive directory already covers its children)".to_string(),
                ),
                (true, true) => (
                    "denies what the inner rule denies (deny always wins)".to_string(),
                    "BPF-LSM ignores it, AppArmor enforces it",
                    format!("give {dir} a recursive rule or make the qualifiers of both rules the same"),
                ),
                (true, false) => (
                    "denies (deny always wins)".to_string(),
                    "BPF-LSM ignores it, AppArmor enforces it",
                    format!("move the Allow off {outer_dir} or block {dir} recursively in both (`recursive: true`)"),
                ),
                _ => (
                    "denies (deny always wins)".to_string(),
                    "both enforcers ignore it",
                    format!("remove it, or narrow the Block of {outer_dir} so it does not cover {dir}"),
                ),
            };
            found.push(Divergence {
                code: Code::D005,
                rule: inner.rule.origin.clone(),
                policy: inner.id.to_string(),
                operation: format!("a direct child such as {child}"),
                bpf: format!("applies only {} (the remembered recursive directory decides first)", outer.describe()),
                apparmor: Some(apparmor),
                landlock: None,
                why: format!("non-recursive directory {dir} lies under recursive directory {outer_dir}; {ignored_by}"),
                suggestion,
                related: Some((outer.rule.origin.clone(), format!("recursive directory {outer_dir}"))),
            });
        }
    }
    found
}

/// One operation to ask both enforcers, and the rule it was made for.
#[derive(Clone, Debug)]
struct Probe {
    query: Query,
    /// Index into the applied rules; `None` for posture probes.
    rule: Option<usize>,
}

/// Socket (type, protocol) pairs, as a program asks for them.
pub const SOCKETS: [(u32, u32); 10] =
    [(1, 6), (2, 17), (3, 1), (3, 58), (2, 1), (1, 132), (5, 132), (4, 0), (10, 0), (6, 33)];

/// A binary no rule names, for the file allow-list's exec probe.
const UNLISTED_BINARY: &str = "/usr/bin/id";

/// AppArmor's word for a socket type (`network TYPE`).
pub fn type_word(t: u32) -> &'static str {
    match t {
        1 => "stream",
        2 => "dgram",
        3 => "raw",
        4 => "rdm",
        5 => "seqpacket",
        6 => "dccp",
        10 => "packet",
        _ => "?",
    }
}

/// AppArmor's word for a socket's protocol (`network PROTOCOL`).
pub fn proto_word(ty: u32, p: u32) -> &'static str {
    match crate::model::net_protocol(ty, p) {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        58 => "icmpv6",
        132 => "sctp",
        _ => "?",
    }
}

fn protocol_matches(known: Option<ir::Protocol>, ty: u32, proto: u32) -> bool {
    use ir::Protocol as P;
    let word = match known {
        None | Some(P::All) => return true,
        Some(P::Tcp) => "tcp",
        Some(P::Udp) => "udp",
        Some(P::Icmp) => "icmp",
        Some(P::Icmpv6) => "icmpv6",
        Some(P::Sctp) => "sctp",
        Some(P::Raw) => "raw",
        Some(P::Stream) => "stream",
        Some(P::Dgram) => "dgram",
        Some(P::Rdm) => "rdm",
        Some(P::Seqpacket) => "seqpacket",
        Some(P::Dccp) => "dccp",
        Some(P::Packet) => "packet",
    };
    word == type_word(ty) || word == proto_word(ty, proto)
}

/// The operations the target's rules are about: each rule's own path (a direct and a deeper child
/// for directories) with the ops of its category, from its source; its protocol's sockets; its
/// capability; and, under a file allow-list, the exec of a binary no rule names.
fn probes(cx: &Context) -> Vec<Probe> {
    let mut out = Vec::with_capacity(4 * cx.rules.len());
    let query = |op: Op, path: &str, owner: bool, source: Option<&str>| Query {
        path: path.as_bytes().to_vec(),
        owner,
        source: source.unwrap_or("").as_bytes().to_vec(),
        ..Query::new(op)
    };
    for (i, a) in cx.rules.iter().enumerate() {
        let src = a.source();
        let owners: &[bool] = if a.owner_only() { &[true, false] } else { &[true] };
        let paths: Vec<String> = match &a.rule.target {
            T::ProcessPath { path, .. } | T::FilePath { path, .. } if !path.is_empty() => vec![path.clone()],
            T::ProcessExecname { name, .. } => vec![format!("/usr/bin/{name}")],
            T::ProcessDir { dir, recursive, .. } | T::FileDir { dir, recursive, .. } => {
                let mut v = vec![format!("{dir}f")];
                if *recursive {
                    v.push(format!("{dir}sub/f"));
                }
                v
            }
            _ => Vec::new(),
        };
        let ops: &[Op] = match (a.category(), &a.rule.target) {
            (Some(Cat::Process), _) => &[Op::Exec],
            (Some(Cat::File), T::FilePath { .. }) if a.rule.action == Action::Block => {
                &[Op::Open, Op::Write, Op::Unlink, Op::Mkdir]
            }
            (Some(Cat::File), _) if a.read_only() || a.owner_only() => &[Op::Open, Op::Write, Op::Unlink],
            (Some(Cat::File), _) => &[Op::Open, Op::Write],
            _ => &[],
        };
        for path in &paths {
            for &op in ops {
                for &owner in owners {
                    out.push(Probe { query: query(op, path, owner, src), rule: Some(i) });
                }
            }
        }
        match &a.rule.target {
            T::Protocol { known, .. } => {
                for &(ty, proto) in SOCKETS.iter().filter(|(t, p)| protocol_matches(*known, *t, *p)) {
                    let q = Query {
                        sock_type: ty,
                        protocol: proto,
                        source: src.unwrap_or("").as_bytes().to_vec(),
                        ..Query::new(Op::Socket)
                    };
                    out.push(Probe { query: q, rule: Some(i) });
                }
            }
            T::Capability { number: Some(n), .. } => {
                let q = Query {
                    capability: u32::from(*n),
                    source: src.unwrap_or("").as_bytes().to_vec(),
                    ..Query::new(Op::Capable)
                };
                out.push(Probe { query: q, rule: Some(i) });
            }
            _ => {}
        }
    }
    if cx.allow_list_rule.is_some() && cx.target.posture.file == crate::compose::PostureAction::Block {
        out.push(Probe { query: query(Op::Exec, UNLISTED_BINARY, true, None), rule: None });
    }
    out
}

struct Context<'a> {
    target: &'a Target,
    rules: &'a [Applied<'a>],
    model: Model,
    image: &'a MapImage,
    set: &'a ProfileSet<'a>,
    root: &'a str,
    /// Exact `px` lines of every profile: which executable enters which sub-profile.
    transitions: HashMap<&'a [u8], &'a str, FixedState>,
    /// Per rule of the image's provenance: the applied rule it is (built when first needed).
    by_ref: RefCell<Option<Vec<Option<usize>>>>,
    /// (code, rule) pairs already reported for this target.
    reported: RefCell<HashSet<(Code, usize), FixedState>>,
    /// The first file Allow rule: it switches a file allow-list on (under a file posture block).
    allow_list_rule: Option<usize>,
    /// The run's parsed lines (and glob answers).
    lines: &'a LineCache,
    /// `matching` answers of path operations: the sources numbered, and the answers by (source,
    /// path, exec).
    matched: RefCell<Matched>,
    /// Compiled matchPatterns and their answers (shared by the run).
    patterns: &'a RefCell<Patterns>,
    /// Per applied rule: its pattern's number in `patterns` (0 for other rules).
    pattern_ids: Vec<u32>,
    /// matchPaths rules by their path, and the other rules (which `matching` checks for every
    /// query).
    exact_rules: HashMap<&'a str, Vec<usize>, FixedState>,
    /// By the `QueryKind` they can match.
    scanned_rules: [Vec<usize>; 4],
    /// The run's divergences, and their numbers by what their texts are made of.
    texts: &'a RefCell<Texts>,
    /// The Landlock model of the target's plan, where the plan applies.
    landlock: Option<LandlockCx<'a>>,
    /// Per rule of the plan's provenance: the applied rule it is (built when first needed).
    by_plan_rule: RefCell<Option<Vec<Option<usize>>>>,
}

struct LandlockCx<'a> {
    model: ll::Model<'a>,
    plan: &'a Plan,
    warned: &'a [(Code, ir::Origin)],
}

type ByRef<'a> = HashMap<(&'a str, &'a str), usize, FixedState>;

/// Sources numbered, and `matching` answers by (source number, path number, exec).
type Matched = (HashMap<Vec<u8>, u64, FixedState>, HashMap<u64, std::rc::Rc<[usize]>, FixedState>);

/// Which rules a query can match (`Context::rule_matches`): process rules an exec, file rules
/// another path operation, protocols a socket, capabilities a capability.
#[derive(Clone, Copy)]
enum QueryKind {
    Exec,
    File,
    Socket,
    Capable,
}

impl QueryKind {
    fn of(op: Op) -> Option<QueryKind> {
        match op {
            Op::Exec => Some(QueryKind::Exec),
            Op::Socket => Some(QueryKind::Socket),
            Op::Capable => Some(QueryKind::Capable),
            op if op.has_path() => Some(QueryKind::File),
            _ => None,
        }
    }
}

/// An answer of the AppArmor evaluator.
struct AaAnswer {
    allow: bool,
    profile: Profile,
}

/// Which profile answered.
#[derive(Clone, Copy)]
enum Profile {
    Root,
    /// The sub-profile of the query's source.
    Sub,
    /// The root profile, where a process that starts as the source runs.
    RootStart,
}

/// The answer BPF-LSM's is compared with.
#[derive(Clone, Copy)]
enum Other<'x> {
    AppArmor(&'x AaAnswer),
    /// Landlock's answer and the applied rule behind it.
    Landlock(&'x ll::Answer, Option<usize>),
}

impl AaAnswer {
    fn label(&self, q: &Query) -> String {
        match self.profile {
            Profile::Root => "in the target's profile".to_string(),
            Profile::Sub => format!("in the sub-profile of {}", String::from_utf8_lossy(&q.source)),
            Profile::RootStart => "in the target's profile, where a process that starts as the source runs".to_string(),
        }
    }
}

impl<'a> Context<'a> {
    /// AppArmor's answer; `lines` are the profile's lines matching the query's path.
    fn apparmor(&self, q: &Query, profile: &str, path: &str, lines: &PathLines) -> bool {
        match q.op {
            Op::Exec => matches!(lines.exec(q.owner), apparmor::Exec::Runs(_) | apparmor::Exec::Unconfined),
            Op::Open => lines.file('r', q.owner) == apparmor::Decision::Allow,
            // AppArmor names a directory with a trailing `/`.
            Op::Mkdir | Op::Rmdir => {
                let dir = format!("{path}/");
                let id = self.lines.path_id(&dir);
                self.set.lines_for_cached(profile, &dir, id).file('w', q.owner) == apparmor::Decision::Allow
            }
            Op::Socket => {
                self.set.network(profile, type_word(q.sock_type), proto_word(q.sock_type, q.protocol))
                    == apparmor::Decision::Allow
            }
            Op::Capable => {
                let name = ir::CAPABILITIES.iter().find(|c| u32::from(c.1) == q.capability).map_or("", |c| c.0);
                self.set.capability(profile, name) == apparmor::Decision::Allow
            }
            _ => lines.file('w', q.owner) == apparmor::Decision::Allow,
        }
    }

    /// The profile a task with the query's source runs under after exec'ing it from the
    /// container's profile (the root when the source enters none).
    fn profile_for(&self, q: &Query) -> &'a str {
        if q.source.is_empty() {
            return self.root;
        }
        self.transitions.get(q.source.as_slice()).copied().unwrap_or(self.root)
    }

    /// The number of the divergence `probe` shows in this target, if the enforcers disagree in a
    /// way not reported for this target yet.
    fn compare(&self, probe: &Probe, at: &At<'a>, op: &Operation) -> Option<u32> {
        let q = &probe.query;
        let bpf_allow = !op.decision.deny;
        let entered = !q.source.is_empty() && at.profile != self.root;
        let allow = self.apparmor(q, at.profile, at.path, &at.lines);
        if allow == bpf_allow {
            // Agreement in the sub-profile; a process that *starts* as the source (the container's
            // entrypoint) never exec'd it inside the profile and runs under the root profile.
            if !entered {
                return None;
            }
            let root_lines = at.root_lines.get_or_init(|| self.set.lines_for_cached(self.root, at.path, at.path_id));
            let root =
                AaAnswer { allow: self.apparmor(q, self.root, at.path, root_lines), profile: Profile::RootStart };
            if root.allow == bpf_allow {
                return None;
            }
            return probe.rule.and_then(|i| self.source_entrypoint(i, q, op, &root));
        }
        let aa = AaAnswer { allow, profile: if entered { Profile::Sub } else { Profile::Root } };
        if !q.source.is_empty() && !entered {
            // The source never enters its sub-profile: every exec of it stays in the root profile.
            if let Some(i) = probe.rule.filter(|&i| self.rules[i].source().is_some()) {
                return self.source_entrypoint(i, q, op, &aa);
            }
        }
        self.classify(probe, at, op, &aa)
    }

    /// The number of the divergence between BPF-LSM and Landlock `probe` shows (D010), where the
    /// target's plan applies and the rules behind it are not K-warned.
    fn compare_landlock(&self, probe: &Probe, op: &Operation) -> Option<u32> {
        let landlock = self.landlock.as_ref()?;
        let q = &probe.query;
        let answer = landlock.model.decide(q);
        if answer.deny == op.decision.deny {
            return None;
        }
        // Host capability rules: BPF-LSM does not enforce them (L017).
        if q.op == Op::Capable && self.target.host {
            return None;
        }
        let blamed = answer.rule.and_then(|r| self.plan_rule(landlock.plan, r));
        let subject = probe.rule.or_else(|| self.bpf_rule(op)).or(blamed).or(self.allow_list_rule)?;
        // Explained by the rule's K warning: a rule left out of the plan (K001-K003), or, for a
        // Block Landlock enforces (K004), the entry operations on its own path.
        let entry =
            matches!(q.op, Op::Unlink | Op::Rename | Op::Mkdir | Op::Rmdir | Op::Link | Op::Symlink | Op::Mknod);
        let origin = &self.rules[subject].rule.origin;
        if landlock.warned.iter().any(|(code, o)| o == origin && (*code != Code::K004 || entry)) {
            return None;
        }
        let why = || {
            let shape = match (answer.deny, blamed) {
                (true, Some(_)) => "a Block's layer refuses the right whatever Allow BPF-LSM finds first",
                (true, None) => "an allow-list layer of the plan does not grant it",
                (false, _) => "no layer of the plan refuses what a BPF-LSM hook does",
            };
            let (refuses, allows) = if answer.deny { ("Landlock", "BPF-LSM") } else { ("BPF-LSM", "Landlock") };
            format!("{refuses} refuses what {allows} allows: {shape}")
        };
        let suggestion = || {
            "check both with `armorc query` (--enforcer landlock for the plan) and make the rules agree, or keep the \
             workload off nodes where Landlock is the enforcer"
                .to_string()
        };
        let related = blamed.filter(|&b| b != subject);
        self.divergence(Code::D010, subject, q, op, Other::Landlock(&answer, blamed), why, suggestion, related)
    }

    /// The applied rule that plan rule `r` (the plan's provenance) is.
    fn plan_rule(&self, plan: &Plan, r: u32) -> Option<usize> {
        let mut by_plan_rule = self.by_plan_rule.borrow_mut();
        let by_plan_rule = by_plan_rule
            .get_or_insert_with(|| self.applied_rules(plan.rules.iter().map(|r| (r.policy.as_str(), r.at.as_str()))));
        by_plan_rule.get(r as usize).copied().flatten()
    }

    /// Landlock's answer in words: `denies (read_file of /etc/x: layer deny read_file, rule ...)`.
    fn describe_landlock(&self, a: &ll::Answer, blamed: Option<usize>) -> String {
        if !a.deny {
            return "allows (no layer refuses it)".to_string();
        }
        let plan = self.landlock.as_ref().map(|l| l.plan);
        let what = match (a.right, a.net) {
            (Some(right), _) => format!("{} of {}", right.name(), a.checked),
            (None, Some(net)) => format!("{} ({})", net.name(), a.checked),
            (None, None) => "the capability: dropped".to_string(),
        };
        let by = match (a.layer.and_then(|l| plan.and_then(|p| p.layers.get(l))), a.net) {
            (Some(layer), _) => format!("layer {}", layer.name),
            (None, Some(net)) => net.by().to_string(),
            (None, None) => "the plan's capability drops".to_string(),
        };
        let rule = blamed.map_or(String::new(), |i| {
            let r = self.rules[i];
            format!(", rule {} {}", r.id, r.rule.origin.at)
        });
        format!("denies ({what}: {by}{rule})")
    }

    fn source_entrypoint(&self, i: usize, q: &Query, op: &Operation, aa: &AaAnswer) -> Option<u32> {
        let a = self.rules[i];
        let source = a.source().unwrap_or("");
        self.divergence(
            Code::D006,
            i,
            q,
            op,
            Other::AppArmor(aa),
            || {
                format!(
                    "fromSource {source}: AppArmor applies the rule only to a process that exec'd {source} inside \
                     the profile, BPF-LSM to every task running {source}"
                )
            },
            || {
                format!(
                    "if {source} is the container's entrypoint, start it through a shell or wrapper (so the exec \
                     enters its sub-profile), or make the rule global"
                )
            },
            None,
        )
    }

    /// Applied rules (of the query's source, or global) matching the query.
    fn matching(&self, q: &Query, at: &At) -> std::rc::Rc<[usize]> {
        if !q.op.has_path() {
            return self.matching_uncached(q, at).into();
        }
        // Path operations depend on (source, path, exec or not) only.
        let mut matched = self.matched.borrow_mut();
        let source = match matched.0.get(q.source.as_slice()) {
            Some(&n) => n,
            None => {
                let n = matched.0.len() as u64;
                matched.0.insert(q.source.clone(), n);
                n
            }
        };
        let key = (source << 33) | (u64::from(at.path_id) << 1) | u64::from(q.op == Op::Exec);
        if let Some(m) = matched.1.get(&key) {
            return m.clone();
        }
        let m: std::rc::Rc<[usize]> = self.matching_uncached(q, at).into();
        matched.1.insert(key, m.clone());
        m
    }

    fn matching_uncached(&self, q: &Query, at: &At) -> Vec<usize> {
        let source = String::from_utf8_lossy(&q.source);
        // Path rules can only match their own path: only those of this path are checked.
        let exact = self.exact_rules.get(at.path).map_or(&[][..], Vec::as_slice);
        let scanned = QueryKind::of(q.op).map_or(&[][..], |k| self.scanned_rules[k as usize].as_slice());
        let mut m: Vec<usize> = exact
            .iter()
            .chain(scanned)
            .copied()
            .filter(|&i| {
                let a = self.rules[i];
                a.source().is_none_or(|s| s == source) && self.rule_matches(i, q, at)
            })
            .collect();
        m.sort_unstable();
        m
    }

    /// Whether applied rule `i` matches a query (the policy's meaning, independent of either
    /// lowering).
    fn rule_matches(&self, i: usize, q: &Query, at: &At) -> bool {
        let exec = q.op == Op::Exec;
        let file = q.op.has_path() && !exec;
        let path = at.path;
        let pattern = || self.patterns.borrow_mut().matches(self.pattern_ids[i], path, at.path_id);
        match &self.rules[i].rule.target {
            T::ProcessPath { path: p, .. } if exec => p == path,
            T::ProcessExecname { name, .. } if exec => path.rsplit('/').next() == Some(name.as_str()),
            T::ProcessDir { dir, recursive, .. } if exec => dir_covers(dir, *recursive, path),
            T::ProcessPattern { .. } if exec => pattern(),
            T::FilePath { path: p, .. } if file => p == path,
            T::FileDir { dir, recursive, .. } if file => dir_covers(dir, *recursive, path),
            T::FilePattern { .. } if file => pattern(),
            T::Protocol { known, .. } if q.op == Op::Socket => protocol_matches(*known, q.sock_type, q.protocol),
            T::Capability { number, .. } if q.op == Op::Capable => number.map(u32::from) == Some(q.capability),
            _ => false,
        }
    }

    /// The applied rule behind a BPF-LSM decision (the image's provenance).
    fn bpf_rule(&self, op: &Operation) -> Option<usize> {
        let (_, d) = op.hooks.iter().find(|(_, d)| d.deny).or(op.hooks.last())?;
        if d.by != By::Rule {
            return None;
        }
        let mut by_ref = self.by_ref.borrow_mut();
        let by_ref = by_ref.get_or_insert_with(|| {
            self.applied_rules(self.image.rules.iter().map(|r| (r.policy.as_str(), r.at.as_str())))
        });
        by_ref.get(d.rule? as usize).copied().flatten()
    }

    /// For each rule of an artifact's provenance, by (policy, at): the applied rule it is (the
    /// last applied rule of a pair answers).
    fn applied_rules<'r>(&self, provenance: impl Iterator<Item = (&'r str, &'r str)>) -> Vec<Option<usize>> {
        let applied: ByRef =
            self.rules.iter().enumerate().map(|(i, a)| ((a.id, a.rule.origin.at.as_str()), i)).collect();
        provenance.map(|key| applied.get(&key).copied()).collect()
    }

    fn classify(&self, probe: &Probe, at: &At, op: &Operation, aa: &AaAnswer) -> Option<u32> {
        let q = &probe.query;
        let path = at.path;
        let bpf_allow = !op.decision.deny;
        let m = self.matching(q, at);
        let rule = |i: usize| self.rules[i];
        // Reported elsewhere, or fixed profile lines (module comment).
        if path.starts_with("/proc/") || path.starts_with("/sys/") {
            return None;
        }
        if aa.allow && q.op == Op::Open && (q.source == q.path || baseline_library(path)) {
            return None;
        }
        if m.iter().any(|&i| rule(i).is_pattern()) {
            return None;
        }
        if q.op == Op::Capable
            && (self.target.host
                || self.rules.iter().any(|a| matches!(a.rule.target, T::Capability { number: None, .. })))
        {
            return None;
        }
        let subject = probe.rule.or_else(|| self.bpf_rule(op)).or(self.allow_list_rule)?;
        // An exec BPF-LSM refuses only at the file_open of the binary.
        let open_only = op.hooks.iter().all(|(h, d)| !d.deny || *h == Hook::FileOpen);
        if q.op == Op::Exec && !bpf_allow && aa.allow && open_only {
            let open = op.hooks.iter().find(|(h, _)| *h == Hook::FileOpen).map(|(_, d)| d);
            let by_rule = open.is_some_and(|d| d.by == By::Rule);
            let blame = if by_rule {
                self.bpf_rule(op).unwrap_or(subject)
            } else {
                probe.rule.or(self.allow_list_rule).unwrap_or(subject)
            };
            let why = || {
                if by_rule {
                    format!("exec of {path} also opens it, and a file rule denies that open in BPF-LSM only")
                } else {
                    format!(
                        "exec of {path} under a file allow-list: BPF-LSM also checks the file open (not on the \
                         allow-list), AppArmor only the exec (`/{{,**}} ix`)"
                    )
                }
            };
            let suggestion = || {
                if by_rule {
                    format!("add a process Block for {path} so AppArmor denies the exec too, or exempt it from the file rule")
                } else {
                    let parent = path.rsplit_once('/').map_or("/".to_string(), |(d, _)| format!("{d}/"));
                    format!("add `{parent}` (readOnly) to the file allow-list")
                }
            };
            return self.divergence(Code::D002, blame, q, op, Other::AppArmor(aa), why, suggestion, None);
        }
        let decided = self.bpf_rule(op);
        if q.op == Op::Open && bpf_allow && !aa.allow {
            if let Some(i) = decided.filter(|&i| rule(i).read_only() && rule(i).rule.action == Action::Block) {
                return self.divergence(
                    Code::D003,
                    i,
                    q,
                    op,
                    Other::AppArmor(aa),
                    || {
                        "readOnly Block: BPF-LSM lets reads through, AppArmor allows only what another line allows \
                     (none under an allow-list)"
                            .to_string()
                    },
                    || format!("make the read explicit: add an Allow of {} with readOnly: true", rule(i).scope()),
                    None,
                );
            }
        }
        let modify = matches!(q.op, Op::Unlink | Op::Rename | Op::Chmod | Op::Truncate);
        if modify && bpf_allow && !aa.allow {
            if let Some(&i) = m.iter().find(|&&i| rule(i).read_only() || rule(i).owner_only()) {
                return self.divergence(
                    Code::D007,
                    i,
                    q,
                    op,
                    Other::AppArmor(aa),
                    || {
                        "readOnly/ownerOnly: BPF-LSM's unlink, rename, chmod and truncate hooks ignore them, AppArmor \
                     treats these as writes"
                            .to_string()
                    },
                    || {
                        format!(
                            "if {path} must not change on BPF-LSM nodes either, add a Block of it for those operations"
                        )
                    },
                    None,
                );
            }
        }
        if matches!(q.op, Op::Mkdir | Op::Rmdir) && !bpf_allow && aa.allow {
            if let Some(&i) = m
                .iter()
                .find(|&&i| matches!(rule(i).rule.target, T::FilePath { .. } | T::FileDir { recursive: false, .. }))
            {
                return self.divergence(
                    Code::D008,
                    i,
                    q,
                    op,
                    Other::AppArmor(aa),
                    || format!("AppArmor names the directory {path} as `{path}/`, which the rule does not match"),
                    || {
                        format!(
                            "if {path} may also be a directory, block it as one too (matchDirectories dir `{path}/`)"
                        )
                    },
                    None,
                );
            }
        }
        if bpf_allow && !aa.allow {
            if let Some(&i) = m.iter().find(|&&i| rule(i).rule.action == Action::Block && rule(i).pts_false()) {
                return self.divergence(
                    Code::D009,
                    i,
                    q,
                    op,
                    Other::AppArmor(aa),
                    || {
                        "a Block limited by `pts`: BPF-LSM denies only from a terminal, AppArmor cannot see terminals \
                     and denies from every task"
                            .to_string()
                    },
                    || "drop the pts qualifier, or accept that AppArmor nodes deny without a terminal too".to_string(),
                    None,
                );
            }
            // The rule BPF-LSM's first lookup found (or an Allow), and a Block AppArmor applies too.
            let first = decided
                .filter(|i| m.contains(i))
                .or_else(|| m.iter().copied().find(|&i| rule(i).rule.action == Action::Allow));
            let block = m.iter().copied().find(|&i| rule(i).rule.action == Action::Block && Some(i) != first);
            if let (Some(b), Some(a)) = (block, first) {
                // A dead non-recursive directory (D005) already names this pair.
                let dead_dir = rule(b).dir().is_some_and(|(_, r)| !r) && rule(a).dir().is_some_and(|(_, r)| r);
                if dead_dir {
                    return None;
                }
                let blocked = rule(b);
                return self.divergence(
                    Code::D004,
                    a,
                    q,
                    op,
                    Other::AppArmor(aa),
                    || {
                        format!(
                        "{:?} rule under {}: BPF-LSM applies only its first matching lookup and allows, AppArmor's \
                         deny always wins",
                        rule(a).rule.action,
                        blocked.describe()
                    )
                    },
                    || {
                        format!(
                        "make the rules agree on {path}: narrow the Block so it does not cover it, or give the inner \
                         rule the Block's effect"
                    )
                    },
                    Some(b),
                );
            }
        }
        let blame = decided.unwrap_or(subject);
        self.divergence(
            Code::D001,
            blame,
            q,
            op,
            Other::AppArmor(aa),
            || "BPF-LSM and AppArmor decide this rule differently".to_string(),
            || {
                "check both artifacts with `armorc explain` and rewrite the rule so both enforcers express it"
                    .to_string()
            },
            None,
        )
    }

    /// The number of the divergence of rule `i` with code `code`, unless this target has it
    /// already; its texts are made when no target of the run made them before. `related`: the
    /// other rule involved (D004's Block).
    #[allow(clippy::too_many_arguments)]
    fn divergence(
        &self,
        code: Code,
        i: usize,
        q: &Query,
        op: &Operation,
        other: Other,
        why: impl FnOnce() -> String,
        suggestion: impl FnOnce() -> String,
        related: Option<usize>,
    ) -> Option<u32> {
        // Once per (code, rule): later operations showing the same divergence add nothing.
        if !self.reported.borrow_mut().insert((code, i)) {
            return None;
        }
        let number = |i: Option<usize>| i.map_or(u32::MAX, |i| self.rules[i].number);
        let path = std::str::from_utf8(&q.path).unwrap_or("");
        let source = std::str::from_utf8(&q.source).unwrap_or("");
        // Each hook's answer: denied, and by what (the texts name the deciding one).
        let hooks = op
            .hooks
            .iter()
            .enumerate()
            .fold(0u32, |w, (k, (_, d))| w | (u32::from(d.deny) | (d.by as u32) << 1) << (4 * k.min(7)));
        let key: TextKey = [
            code as u32,
            number(Some(i)),
            self.lines.path_id(path),
            self.lines.path_id(source),
            q.op as u32 | u32::from(q.owner) << 8,
            q.sock_type,
            q.protocol,
            q.capability,
            hooks | u32::from(op.decision.deny) << 31,
            number(self.bpf_rule(op)),
            match other {
                Other::AppArmor(aa) => u32::from(aa.allow) | (aa.profile as u32) << 1,
                Other::Landlock(a, _) => {
                    1 << 16
                        | u32::from(a.deny)
                        | a.right.map_or(0, |r| r as u32 + 1) << 1
                        | a.net.map_or(0, |n| n as u32 + 1) << 6
                        | u32::from(a.layer.is_some()) << 8
                }
            },
            match other {
                Other::AppArmor(_) => number(related),
                Other::Landlock(_, blamed) => number(blamed),
            },
        ];
        if let Some(&n) = self.texts.borrow().by_key.get(&key) {
            return Some(n);
        }
        let a = self.rules[i];
        let d = Divergence {
            code,
            rule: a.rule.origin.clone(),
            policy: a.id.to_string(),
            operation: describe_query(q),
            bpf: self.describe_bpf(op),
            apparmor: match other {
                Other::AppArmor(aa) => {
                    Some(format!("{} ({})", if aa.allow { "allows" } else { "denies" }, aa.label(q)))
                }
                Other::Landlock(..) => None,
            },
            landlock: match other {
                Other::AppArmor(_) => None,
                Other::Landlock(a, blamed) => Some(self.describe_landlock(a, blamed)),
            },
            why: why(),
            suggestion: suggestion(),
            related: related.map(|b| {
                let blocked = self.rules[b];
                (blocked.rule.origin.clone(), format!("Block of {}", blocked.id))
            }),
        };
        let mut texts = self.texts.borrow_mut();
        let n = texts.distinct.intern(d);
        texts.by_key.insert(key, n);
        Some(n)
    }

    fn describe_bpf(&self, op: &Operation) -> String {
        let word = if op.decision.deny { "denies" } else { "allows" };
        let (hook, d) =
            op.hooks.iter().find(|(_, d)| d.deny).or(op.hooks.last()).map_or(("", None), |(h, d)| (h.name(), Some(d)));
        let why = match d.map(|d| d.by) {
            Some(By::Rule) => match self.bpf_rule(op) {
                Some(i) => {
                    let a = self.rules[i];
                    format!("rule {} {}", a.id, a.rule.origin.at)
                }
                None => "a rule".to_string(),
            },
            Some(By::Posture) => "the posture: no rule matches".to_string(),
            _ => "no rule matches".to_string(),
        };
        format!("{word} ({hook}: {why})")
    }
}

/// AppArmor's post-section library line (`/{usr/,}lib/@{multiarch}/{*,**} rm`).
fn baseline_library(path: &str) -> bool {
    ["/lib/", "/usr/lib/"].iter().any(|p| path.strip_prefix(p).is_some_and(|rest| rest.contains("-linux-gnu")))
}

fn describe_query(q: &Query) -> String {
    let mut s = match q.op {
        Op::Socket => format!("socket {}/{}", type_word(q.sock_type), proto_word(q.sock_type, q.protocol)),
        Op::Capable => {
            let name = ir::CAPABILITIES.iter().find(|c| u32::from(c.1) == q.capability).map_or("?", |c| c.0);
            format!("capability {name}")
        }
        op => format!("{} {}", op.name(), String::from_utf8_lossy(&q.path)),
    };
    if q.op.has_path() && !q.owner {
        s.push_str(" as non-owner");
    }
    if !q.source.is_empty() {
        s.push_str(&format!(" from {}", String::from_utf8_lossy(&q.source)));
    }
    s
}

/// Divergences of many targets, each distinct one kept once with the targets it occurs in.
#[derive(Default)]
pub struct Collected {
    /// Distinct divergences in first-seen order (once `finish` took them from the analyzer).
    pub items: Vec<Divergence>,
    /// Per number of the `Analyzer` that found them: the index in `items` (`u32::MAX`: not yet).
    by_number: Vec<u32>,
    /// Per item: its number in the analyzer.
    numbers: Vec<u32>,
    /// Per item: how many targets have it.
    pub targets: Vec<usize>,
}

impl Collected {
    /// Add one target's divergences, by their numbers in the one `Analyzer` that found every
    /// divergence added here; returns their indexes into `items`.
    pub fn add(&mut self, found: impl IntoIterator<Item = u32>) -> Vec<usize> {
        let mut ids = Vec::new();
        for number in found {
            let n = number as usize;
            if self.by_number.len() <= n {
                self.by_number.resize(n + 1, u32::MAX);
            }
            if self.by_number[n] == u32::MAX {
                self.by_number[n] = self.numbers.len() as u32;
                self.numbers.push(number);
                self.targets.push(0);
            }
            let id = self.by_number[n] as usize;
            self.targets[id] += 1;
            ids.push(id);
        }
        ids
    }

    /// Takes the divergences added from the analyzer that found them (not copied: a large run
    /// has tens of thousands).
    pub fn finish(&mut self, analyzer: Analyzer) {
        let mut all: Vec<Option<Divergence>> =
            analyzer.texts.into_inner().distinct.items.into_iter().map(Some).collect();
        self.items = self.numbers.iter().map(|&n| all[n as usize].take().expect("numbers are distinct")).collect();
    }

    /// One warning per (code, rule): the first divergence found for it, and in how many targets
    /// any divergence of that code and rule occurs.
    pub fn per_rule(&self) -> Vec<(&Divergence, usize)> {
        let mut first: BTreeMap<(Code, &str, usize, usize), (usize, usize)> = BTreeMap::new();
        for (i, d) in self.items.iter().enumerate() {
            let e = first.entry((d.code, d.rule.file.as_str(), d.rule.line, d.rule.column)).or_insert((i, 0));
            e.1 += self.targets[i];
        }
        let mut out: Vec<(usize, usize)> = first.into_values().collect();
        out.sort_by_key(|&(i, _)| {
            let d = &self.items[i];
            (d.rule.file.clone(), d.rule.line, d.rule.column, d.code)
        });
        out.into_iter().map(|(i, n)| (&self.items[i], n)).collect()
    }
}
