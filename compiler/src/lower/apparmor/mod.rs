//! AppArmor lowering: one profile file per container (or the host), with one sub-profile per
//! fromSource path in the same file, and a source map for every line. Semantics and every
//! deliberate difference from KubeArmor are in docs/semantics.md "## AppArmor".

mod lines;
pub mod parser;
mod patch;
mod rules;
pub mod sourcemap;
pub mod syntax;
mod writer;

pub use parser::{check_with_parser, CheckError, Rejection};
pub use patch::patches;
use sourcemap::OriginEntry;
pub use sourcemap::{explain, LineFrom, MapLine, RuleOrigin, SourceMap};

use crate::compose::{Enforcement, PostureAction, Target};
use crate::ir;
use crate::model::apparmor::TextLines;
use foldhash::fast::FixedState;
use hashbrown::HashTable;
use lines::{dispatch_line, rule_lines, SubProfiles};
use rules::{AaRule, Category};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use syntax::{escape_literal, quote_path, sanitize_profile_name, source_suffix};
use writer::Writer;

/// One generated profile file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The profile name (`kubearmor-<namespace>-<workload>-<container>` or `kubearmor.host`).
    pub name: String,
    /// File name for the profile; the source map is `<file_name>.map.json`.
    pub file_name: String,
    pub text: String,
    /// The lines of `text` as written, for readers that skip lines they have read before
    /// (the divergence analysis).
    pub lines: TextLines,
    pub map_json: String,
}

/// Where KubeArmor attaches the host profile: host shells only (reference §4.1).
pub const HOST_ATTACHMENT: &str = "/{usr/,}bin/*sh";

const PROFILE_FLAGS: &str = "flags=(attach_disconnected,mediate_deleted)";

/// Lower the policies that apply to `target` (in `target.policies` order) into its profile.
/// For many targets, build one [`Lowering`] and call [`Lowering::lower`] per target instead.
pub fn lower_target(target: &Target, policies: &[&ir::Policy]) -> Profile {
    let mut lowering = Lowering::new(policies.iter().copied());
    let applied: Vec<usize> = (0..policies.len()).collect();
    lowering.lower(target, &applied)
}

/// Every policy's AppArmor records with their lines rendered once, shared by all the targets they
/// apply to: a run over thousands of containers renders each rule once, and per profile compares
/// numbers (key order, line ids) instead of strings.
pub struct Lowering {
    tables: Tables,
    scratch: Scratch,
    /// This lowering's number in the process: the table `Profile::lines` numbers lines of.
    table: u64,
    /// Whether profiles come with their `lines` (`Lowering::recording_lines`).
    record_lines: bool,
}

/// The next lowering's number (0: none, the table of profiles without recorded lines).
static LOWERINGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

struct Tables {
    policies: Vec<Prepared>,
    /// Every distinct rule origin; `PreparedRule::origin` indexes it.
    origins: Interned<OriginEntry>,
    /// Distinct line texts of all prepared rules (identical lines of a profile merge by id).
    lines: Interned<String>,
}

/// Distinct values, each stored once and numbered in first-use order (ids index `items`).
struct Interned<T> {
    items: Vec<T>,
    ids: HashTable<u32>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Interned { items: Vec::new(), ids: HashTable::new() }
    }
}

/// What identifies an interned value.
trait Identity {
    type Id: std::hash::Hash + Eq + ?Sized;
    fn identity(&self) -> &Self::Id;
}

impl Identity for String {
    type Id = str;
    fn identity(&self) -> &str {
        self
    }
}

impl Identity for OriginEntry {
    type Id = RuleOrigin;
    fn identity(&self) -> &RuleOrigin {
        &self.origin
    }
}

impl<T: Identity> Interned<T> {
    fn hash(id: &T::Id) -> u64 {
        FixedState::default().hash_one(id)
    }

    fn get(&self, id: &T::Id) -> Option<u32> {
        self.ids.find(Self::hash(id), |&i| self.items[i as usize].identity() == id).copied()
    }

    /// The id of `value`, added when new.
    fn intern(&mut self, value: T) -> u32 {
        let next = self.items.len() as u32;
        let items = &self.items;
        let entry = self.ids.entry(
            Self::hash(value.identity()),
            |&i| items[i as usize].identity() == value.identity(),
            |&i| Self::hash(items[i as usize].identity()),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(next);
                self.items.push(value);
                next
            }
        }
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

struct Prepared {
    rules: Vec<PreparedRule>,
    natives: Vec<PreparedNative>,
}

struct PreparedRule {
    rule: AaRule,
    /// Rank of (category, key identity) among all rules of the run: profiles sort by it, and equal
    /// numbers mean "a rule for the same thing".
    key_order: u32,
    origin: u32,
    /// Line ids, as rendered when the key is none of the target's fromSource paths.
    lines: SmallVec<[u32; 2]>,
}

/// A `spec.apparmor` line.
struct PreparedNative {
    line: u32,
    origin: u32,
}

/// Per-profile merging of identical lines: `slots[line id]` = (profile generation, index of the
/// line in that profile), valid only while the generation is current.
#[derive(Default)]
struct Scratch {
    slots: Vec<(u32, u32)>,
    generation: u32,
}

impl Scratch {
    fn next_profile(&mut self, line_count: usize) {
        if self.slots.len() < line_count {
            self.slots.resize(line_count, (0, 0));
        }
        if self.generation == u32::MAX {
            self.slots.iter_mut().for_each(|s| *s = (0, 0));
            self.generation = 0;
        }
        self.generation += 1;
    }
}

impl Lowering {
    pub fn new<'p>(policies: impl IntoIterator<Item = &'p ir::Policy>) -> Lowering {
        let mut origins = Interned::default();
        let mut lines = Interned::default();
        // Keys get provisional numbers here and their sorted rank below.
        let mut key_ids: HashMap<(Category, String), u32, FixedState> = HashMap::default();
        let no_subs = SubProfiles::new();
        let mut prepared = Vec::new();
        for p in policies {
            let rules = rules::from_policy(p)
                .into_iter()
                .map(|mut rule| {
                    let rule_lines = rule_lines(&rule, &no_subs).into_iter().map(|l| lines.intern(l)).collect();
                    // The table keeps the origin; the record needs it no more.
                    let origin = origins.intern(OriginEntry::new(std::mem::take(&mut rule.origin)));
                    let next = key_ids.len() as u32;
                    let key_order = *key_ids.entry((rule.category, rule.key.identity().into_owned())).or_insert(next);
                    PreparedRule { rule, key_order, origin, lines: rule_lines }
                })
                .collect();
            let natives = p
                .apparmor
                .iter()
                .map(|n| PreparedNative {
                    line: lines.intern(n.text.clone()),
                    origin: origins.intern(OriginEntry::new(RuleOrigin {
                        policy: p.id(),
                        action: "native".into(),
                        file: n.origin.file.clone(),
                        line: n.origin.line,
                        column: n.origin.column,
                        at: n.origin.at.clone(),
                    })),
                })
                .collect();
            prepared.push(Prepared { rules, natives });
        }
        let mut keys: Vec<(&(Category, String), &u32)> = key_ids.iter().collect();
        keys.sort_unstable();
        let mut rank = vec![0u32; keys.len()];
        for (r, (_, &provisional)) in keys.iter().enumerate() {
            rank[provisional as usize] = r as u32;
        }
        for r in prepared.iter_mut().flat_map(|p| &mut p.rules) {
            r.key_order = rank[r.key_order as usize];
        }
        Lowering {
            tables: Tables { policies: prepared, origins, lines },
            scratch: Scratch::default(),
            table: LOWERINGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            record_lines: false,
        }
    }

    /// Profiles come with `Profile::lines` (for the divergence analysis, which then reads each
    /// rule line of the run once); without, `lines` is empty.
    pub fn recording_lines(mut self) -> Lowering {
        self.record_lines = true;
        self
    }

    /// The profile of `target`, from the policies given to [`Lowering::new`] at the indexes
    /// `applied` (in that order).
    pub fn lower(&mut self, target: &Target, applied: &[usize]) -> Profile {
        let name = sanitize_profile_name(&target.apparmor_profile_name());
        let mut w = Writer::new(self.record_lines);
        w.base("## == Managed by armorc: regenerate instead of editing == ##");
        w.base(format!("## target: {}", describe(target)));
        match &target.enforcement {
            Enforcement::Enabled => w.base("## enforcement: enabled"),
            Enforcement::Audited => w.base("## enforcement: audited (alerts only; no rule is lowered)"),
            Enforcement::Disabled(reason) => w.base(format!("## enforcement: disabled ({})", one_line(reason))),
        }
        w.base("#include <tunables/global>");
        w.base("");
        match target.enforcement {
            Enforcement::Enabled => write_enforced(&self.tables, &mut self.scratch, &mut w, &name, target, applied),
            Enforcement::Audited | Enforcement::Disabled(_) => write_permissive(&mut w, &name, target.host),
        }
        let (text, lines, map_json) = w.finish(&name, &name, self.table);
        Profile { file_name: name.clone(), name, text, lines, map_json }
    }
}

fn describe(target: &Target) -> String {
    if target.host {
        return format!("host (attached to {HOST_ATTACHMENT})");
    }
    one_line(&format!(
        "namespace {} {} {} container {}",
        target.namespace.as_deref().unwrap_or("default"),
        target.workload_kind.as_deref().unwrap_or("workload"),
        target.workload.as_deref().unwrap_or("-"),
        target.container.as_deref().unwrap_or("-")
    ))
}

/// Text that must stay on one comment line.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn profile_header(name: &str, host: bool) -> String {
    let attach = if host { format!(" {HOST_ATTACHMENT}") } else { String::new() };
    format!("profile {name}{attach} {PROFILE_FLAGS} {{")
}

/// Host profiles are privileged, as KubeArmor's are.
const PRIVILEGED_BASE: [&str; 6] = ["umount,", "mount,", "signal,", "unix,", "ptrace,", "dbus,"];

fn write_permissive(w: &mut Writer, name: &str, host: bool) {
    w.open_profile(name, profile_header(name, host));
    w.base("#include <abstractions/base>");
    if host {
        PRIVILEGED_BASE.iter().for_each(|l| w.base(*l));
    }
    w.base("file,");
    w.base("network,");
    w.base("capability,");
    w.close_profile();
}

/// Which categories are in allowlist mode with a block posture (their header line is dropped).
/// Process allowlists use the file posture, as KubeArmor does, but file and exec are closed
/// independently (KubeArmor's AppArmor enforcer closes both when either has an Allow).
#[derive(Clone, Copy)]
struct Closed {
    file: bool,
    exec: bool,
    network: bool,
    capability: bool,
}

impl Closed {
    fn of<'r>(rules: impl Iterator<Item = &'r AaRule> + Clone, target: &Target) -> Closed {
        let allows = |c: Category| rules.clone().any(|r| r.category == c && !r.deny && r.lowered());
        let block = |p: PostureAction| p == PostureAction::Block;
        Closed {
            file: allows(Category::File) && block(target.posture.file),
            exec: allows(Category::Process) && block(target.posture.file),
            network: allows(Category::Network) && block(target.posture.network),
            capability: allows(Category::Capability) && block(target.posture.capabilities),
        }
    }

    fn header_lines(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        match (self.file, self.exec) {
            (false, false) => out.push("file,"),
            // Everything except exec (process allowlist only).
            (false, true) => out.push("/{,**} mrwlk,"),
            // Exec of anything, inheriting this profile (file allowlist only).
            (true, false) => out.push("/{,**} ix,"),
            (true, true) => {}
        }
        if !self.network {
            out.push("network,");
        }
        if !self.capability {
            out.push("capability,");
        }
        out
    }
}

/// A rule of one target: its prepared record, its index in the file's source-map rule table, and
/// its position among the file's rules sorted by category and key.
struct TargetRule<'t> {
    p: &'t PreparedRule,
    map_id: u32,
    rank: u32,
    /// The prepared line ids, or lines rendered again because the key is one of the file's sources.
    lines: Cow<'t, [u32]>,
}

/// Line ids for texts only this file has (exec transitions into its sub-profiles, dispatch
/// lines), numbered after the prepared ones.
struct FileLines<'t> {
    known: &'t Interned<String>,
    extra: Interned<String>,
}

impl FileLines<'_> {
    fn id(&mut self, text: String) -> u32 {
        match self.known.get(&text) {
            Some(id) => id,
            None => (self.known.len() + self.extra.intern(text) as usize) as u32,
        }
    }

    fn text(&self, id: u32) -> &str {
        let id = id as usize;
        match id.checked_sub(self.known.len()) {
            None => &self.known.items[id],
            Some(extra) => &self.extra.items[extra],
        }
    }

    fn count(&self) -> usize {
        self.known.len() + self.extra.len()
    }

    /// The number of a line of the run-wide table (the same in every file of the run); `None`
    /// for this file's own lines.
    fn shared_number(&self, id: u32) -> Option<u32> {
        ((id as usize) < self.known.len()).then_some(id)
    }
}

/// The dispatcher line of one source and the rules it stands for.
struct Dispatch<'s> {
    source: &'s str,
    line: u32,
    origins: Vec<u32>,
}

fn write_enforced<'t>(
    t: &'t Tables,
    scratch: &mut Scratch,
    w: &mut Writer<'t>,
    name: &str,
    target: &Target,
    applied: &[usize],
) {
    let mut all: Vec<TargetRule<'t>> = applied
        .iter()
        .flat_map(|&i| &t.policies[i].rules)
        .map(|p| TargetRule { p, map_id: 0, rank: 0, lines: Cow::Borrowed(&p.lines) })
        .collect();
    let natives: Vec<&PreparedNative> = applied.iter().flat_map(|&i| &t.policies[i].natives).collect();
    let closed = Closed::of(all.iter().map(|r| &r.p.rule), target);
    let subs = sub_profile_names(name, all.iter().map(|r| &r.p.rule));
    let mut file_lines = FileLines { known: &t.lines, extra: Interned::default() };
    for r in &mut all {
        r.map_id = w.intern(r.p.origin, &t.origins.items[r.p.origin as usize]);
        // An exec of a source's own path transitions into its sub-profile (`px -> ...`).
        if let (Category::Process, rules::Key::Path(path)) = (r.p.rule.category, &r.p.rule.key) {
            if subs.contains_key(path) {
                r.lines = Cow::Owned(rule_lines(&r.p.rule, &subs).into_iter().map(|l| file_lines.id(l)).collect());
            }
        }
    }
    // Stable: rules for the same key keep policy order.
    all.sort_by_key(|r| r.p.key_order);
    for (i, r) in all.iter_mut().enumerate() {
        r.rank = i as u32;
    }
    let dispatch: Vec<Dispatch> = subs
        .iter()
        .map(|(source, sub)| {
            let mut origins: Vec<u32> =
                all.iter().filter(|r| r.p.rule.source.as_deref() == Some(source.as_str())).map(|r| r.map_id).collect();
            // Ids were given in policy order; rules are sorted by key.
            origins.sort_unstable();
            Dispatch { source, line: file_lines.id(dispatch_line(source, sub)), origins }
        })
        .collect();
    let (global, local): (Vec<&TargetRule>, Vec<&TargetRule>) = all.iter().partition(|r| r.p.rule.source.is_none());

    let shared = Shared {
        host: target.host,
        closed,
        dispatch: &dispatch,
        natives: &natives,
        lines: &file_lines,
        origins: &t.origins,
    };
    let root = ProfileBody { name, self_source: None, rules: global.clone() };
    write_profile(w, scratch, &root, &shared);
    for (source, sub_name) in &subs {
        let own: Vec<&TargetRule> =
            local.iter().copied().filter(|r| r.p.rule.source.as_deref() == Some(source.as_str())).collect();
        // Global rules apply inside the sub-profile unless the source has its own rule for the
        // same thing (source-specific rules take precedence, as in BPF-LSM's lookup order).
        let mut own_keys: Vec<u32> = own.iter().map(|o| o.p.key_order).collect();
        own_keys.sort_unstable();
        let own_dirs: Vec<&TargetRule> =
            own.iter().copied().filter(|o| matches!(o.p.rule.key, rules::Key::Dir { .. })).collect();
        let inherited = global.iter().copied().filter(|g| {
            own_keys.binary_search(&g.p.key_order).is_err() && !own_dirs.iter().any(|o| o.p.rule.covers(&g.p.rule))
        });
        let mut rules = own.clone();
        rules.extend(inherited);
        let body = ProfileBody { name: sub_name, self_source: Some(source), rules };
        w.base("");
        write_profile(w, scratch, &body, &shared);
    }
}

/// `<profile>_<source>`; distinct sources whose names collide get `-2`, `-3`, ... in source order.
fn sub_profile_names<'r>(profile: &str, rules: impl Iterator<Item = &'r AaRule>) -> SubProfiles {
    let mut sources: Vec<&str> = rules.filter_map(|r| r.source.as_deref()).collect();
    sources.sort_unstable();
    sources.dedup();
    let mut used: HashMap<String, usize> = HashMap::new();
    let mut out = BTreeMap::new();
    for s in sources {
        let base = sanitize_profile_name(&format!("{profile}_{}", source_suffix(s)));
        let n = used.entry(base.clone()).or_insert(0);
        *n += 1;
        let name = if *n == 1 { base } else { format!("{base}-{n}") };
        out.insert(s.to_string(), name);
    }
    out
}

struct ProfileBody<'a, 't> {
    name: &'a str,
    /// The fromSource path this sub-profile confines; `None` for the container's profile.
    self_source: Option<&'a str>,
    rules: Vec<&'a TargetRule<'t>>,
}

/// What every profile of one file shares.
struct Shared<'a, 't> {
    host: bool,
    closed: Closed,
    dispatch: &'a [Dispatch<'a>],
    natives: &'a [&'t PreparedNative],
    lines: &'a FileLines<'t>,
    origins: &'t Interned<OriginEntry>,
}

/// A rule line before writing: identical lines from several rules are merged.
struct Pending {
    line: u32,
    from: LineFrom,
    /// Indexes into the writer's rule table.
    origins: SmallVec<[u32; 2]>,
}

struct Body<'s> {
    lines: Vec<Pending>,
    scratch: &'s mut Scratch,
}

impl Body<'_> {
    fn add(&mut self, line: u32, from: LineFrom, origins: &[u32]) {
        let slot = &mut self.scratch.slots[line as usize];
        if slot.0 == self.scratch.generation {
            let line = &mut self.lines[slot.1 as usize];
            for &o in origins {
                if !line.origins.contains(&o) {
                    line.origins.push(o);
                }
            }
            return;
        }
        *slot = (self.scratch.generation, self.lines.len() as u32);
        self.lines.push(Pending { line, from, origins: SmallVec::from_slice(origins) });
    }

    fn section(&mut self, sorted: &[&TargetRule], category: Category) {
        for r in sorted.iter().filter(|r| r.p.rule.category == category) {
            for &l in r.lines.iter() {
                self.add(l, LineFrom::Rule, &[r.map_id]);
            }
        }
    }
}

fn write_profile<'t>(w: &mut Writer<'t>, scratch: &mut Scratch, body: &ProfileBody<'_, 't>, shared: &Shared<'_, 't>) {
    let privileged = shared.host && body.self_source.is_none();
    w.open_profile(body.name, profile_header(body.name, privileged));
    w.base("#include <abstractions/base>");
    if privileged {
        PRIVILEGED_BASE.iter().for_each(|l| w.base(*l));
    }
    if let Some(src) = body.self_source {
        // The source binary maps itself (the exec into this profile is the dispatcher's px).
        w.base(format!("{} mr,", quote_path(&escape_literal(src))));
    }
    for l in shared.closed.header_lines() {
        w.base(l);
    }

    scratch.next_profile(shared.lines.count());
    let mut out = Body { lines: Vec::with_capacity(body.rules.len() + shared.dispatch.len()), scratch };
    // Rules sorted by what they name, then by line text; ties keep policy order.
    let mut sorted: Vec<&TargetRule> = body.rules.clone();
    sorted.sort_unstable_by_key(|r| r.rank);
    out.section(&sorted, Category::File);
    // Dispatcher: every source's binary enters its sub-profile, from every profile of the file;
    // under a process allowlist only where the profile allows executing it (`px` also allows).
    for d in shared.dispatch {
        if shared.closed.exec && !body.rules.iter().any(|r| allows_exec(&r.p.rule, d.source)) {
            continue;
        }
        out.add(d.line, LineFrom::Rule, &d.origins);
    }
    out.section(&sorted, Category::Process);
    out.section(&sorted, Category::Network);
    out.section(&sorted, Category::Capability);
    for n in shared.natives {
        let id = w.intern(n.origin, &shared.origins.items[n.origin as usize]);
        out.add(n.line, LineFrom::Native, &[id]);
    }
    for p in &out.lines {
        w.rule(shared.lines.text(p.line), p.from, &p.origins, shared.lines.shared_number(p.line));
    }

    w.post("/{usr/,}lib/@{multiarch}/{*,**} rm,");
    if !privileged {
        POST_DENIES.iter().for_each(|l| w.post(*l));
    }
    w.close_profile();
}

/// Does this Allow process rule let `path` execute? Patterns count as yes: we do not evaluate
/// globs here, and keeping the transition keeps the source's own rules in force.
fn allows_exec(r: &AaRule, path: &str) -> bool {
    if r.category != Category::Process || r.deny {
        return false;
    }
    match &r.key {
        rules::Key::Path(p) => p == path,
        rules::Key::Dir { dir, recursive } => {
            path.strip_prefix(dir.as_str()).is_some_and(|rest| !rest.is_empty() && (*recursive || !rest.contains('/')))
        }
        rules::Key::Execname(n) => path.rsplit('/').next() == Some(n.as_str()),
        rules::Key::Pattern(_) => true,
        _ => false,
    }
}

/// Baseline hardening of unprivileged profiles: kernel interfaces a container never needs.
const POST_DENIES: [&str; 13] = [
    "deny @{PROC}/{*,**^[0-9*],sys/kernel/shm*} wkx,",
    "deny @{PROC}/sysrq-trigger rwklx,",
    "deny @{PROC}/mem rwklx,",
    "deny @{PROC}/kmem rwklx,",
    "deny @{PROC}/kcore rwklx,",
    "deny mount,",
    "deny /sys/[^f]*/** wklx,",
    "deny /sys/f[^s]*/** wklx,",
    "deny /sys/fs/[^c]*/** wklx,",
    "deny /sys/fs/c[^g]*/** wklx,",
    "deny /sys/fs/cg[^r]*/** wklx,",
    "deny /sys/firmware/efi/efivars/** rwklx,",
    "deny /sys/kernel/security/** rwklx,",
];
