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
pub use sourcemap::{explain, LineFrom, MapLine, RuleOrigin, SourceMap};

use crate::compose::{Enforcement, PostureAction, Target};
use crate::ir;
use lines::{dispatch_line, rule_lines, SubProfiles};
use rules::{AaRule, Category};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
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
    pub map_json: String,
}

/// Where KubeArmor attaches the host profile: host shells only (reference §4.1).
pub const HOST_ATTACHMENT: &str = "/{usr/,}bin/*sh";

const PROFILE_FLAGS: &str = "flags=(attach_disconnected,mediate_deleted)";

/// Lower the policies that apply to `target` (in `target.policies` order) into its profile.
pub fn lower_target(target: &Target, policies: &[&ir::Policy]) -> Profile {
    let name = sanitize_profile_name(&target.apparmor_profile_name());
    let mut w = Writer::default();
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
        Enforcement::Enabled => write_enforced(&mut w, &name, target, policies),
        Enforcement::Audited | Enforcement::Disabled(_) => write_permissive(&mut w, &name, target.host),
    }
    let (text, map_json) = w.finish(&name, &name);
    Profile { file_name: name.clone(), name, text, map_json }
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
    fn of(rules: &[AaRule], target: &Target) -> Closed {
        let allows = |c: Category| rules.iter().any(|r| r.category == c && !r.deny && r.lowered());
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

struct Native {
    text: String,
    origin: RuleOrigin,
}

fn write_enforced(w: &mut Writer, name: &str, target: &Target, policies: &[&ir::Policy]) {
    let mut all = Vec::new();
    let mut natives = Vec::new();
    for p in policies {
        all.extend(rules::from_policy(p));
        for n in &p.apparmor {
            natives.push(Native {
                text: n.text.clone(),
                origin: RuleOrigin {
                    policy: p.id(),
                    action: "native".into(),
                    file: n.origin.file.clone(),
                    line: n.origin.line,
                    column: n.origin.column,
                    at: n.origin.at.clone(),
                },
            });
        }
    }
    let closed = Closed::of(&all, target);
    let subs = sub_profile_names(name, &all);
    for r in &mut all {
        r.map_id = w.intern(&r.origin);
        r.lines = rule_lines(r, &subs);
    }
    // Sorted once here (stable: ties keep policy order); each profile then sorts by rank. A
    // sub-profile never holds two rules with the same key from its own and the global set, so
    // rank order is the same as sorting that profile's rules by key.
    all.sort_by(by_key);
    for (i, r) in all.iter_mut().enumerate() {
        r.rank = i as u32;
    }
    let dispatch: BTreeMap<&str, String> = subs.iter().map(|(s, sub)| (s.as_str(), dispatch_line(s, sub))).collect();
    let (global, local): (Vec<AaRule>, Vec<AaRule>) = all.into_iter().partition(|r| r.source.is_none());

    let root = ProfileBody { name, self_source: None, rules: global.iter().collect() };
    write_profile(w, &root, target.host, closed, &dispatch, &local, &natives);
    for (source, sub_name) in &subs {
        let own: Vec<&AaRule> = local.iter().filter(|r| r.source.as_deref() == Some(source.as_str())).collect();
        // Global rules apply inside the sub-profile unless the source has its own rule for the
        // same thing (source-specific rules take precedence, as in BPF-LSM's lookup order).
        let own_keys: HashSet<(Category, Cow<str>)> = own.iter().map(|o| (o.category, o.key.identity())).collect();
        let own_dirs: Vec<&&AaRule> = own.iter().filter(|o| matches!(o.key, rules::Key::Dir { .. })).collect();
        let inherited = global.iter().filter(|g| {
            !own_keys.contains(&(g.category, g.key.identity())) && !own_dirs.iter().any(|o| o.covers(g))
        });
        let mut rules = own.clone();
        rules.extend(inherited);
        let body = ProfileBody { name: sub_name, self_source: Some(source), rules };
        w.base("");
        write_profile(w, &body, false, closed, &dispatch, &local, &natives);
    }
}

/// `<profile>_<source>`; distinct sources whose names collide get `-2`, `-3`, ... in source order.
fn sub_profile_names(profile: &str, rules: &[AaRule]) -> SubProfiles {
    let mut sources: Vec<&str> = rules.iter().filter_map(|r| r.source.as_deref()).collect();
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

struct ProfileBody<'a> {
    name: &'a str,
    /// The fromSource path this sub-profile confines; `None` for the container's profile.
    self_source: Option<&'a str>,
    rules: Vec<&'a AaRule>,
}

/// Rule order inside a profile: by category, then by what the rule names.
fn by_key(a: &impl std::borrow::Borrow<AaRule>, b: &impl std::borrow::Borrow<AaRule>) -> std::cmp::Ordering {
    let (a, b) = (a.borrow(), b.borrow());
    (a.category, a.key.identity()).cmp(&(b.category, b.key.identity()))
}

/// A rule line before writing: identical lines from several rules are merged.
struct Pending<'a> {
    text: Cow<'a, str>,
    from: LineFrom,
    /// Indexes into the writer's rule table.
    origins: Vec<u32>,
}

#[derive(Default)]
struct Body<'a> {
    lines: Vec<Pending<'a>>,
    /// Line text -> index in `lines`.
    index: HashMap<Cow<'a, str>, usize, foldhash::fast::FixedState>,
}

impl<'a> Body<'a> {
    fn add(&mut self, text: Cow<'a, str>, from: LineFrom, origins: Vec<u32>) {
        if let Some(&i) = self.index.get(&text) {
            let line = &mut self.lines[i];
            for o in origins {
                if !line.origins.contains(&o) {
                    line.origins.push(o);
                }
            }
            return;
        }
        self.index.insert(text.clone(), self.lines.len());
        self.lines.push(Pending { text, from, origins });
    }
}

fn write_profile<'a>(
    w: &mut Writer,
    body: &ProfileBody<'a>,
    host: bool,
    closed: Closed,
    dispatch: &'a BTreeMap<&str, String>,
    local: &[AaRule],
    natives: &'a [Native],
) {
    w.open_profile(body.name, profile_header(body.name, host && body.self_source.is_none()));
    w.base("#include <abstractions/base>");
    let privileged = host && body.self_source.is_none();
    if privileged {
        PRIVILEGED_BASE.iter().for_each(|l| w.base(*l));
    }
    if let Some(src) = body.self_source {
        // The source binary maps itself (the exec into this profile is the dispatcher's px).
        w.base(format!("{} mr,", quote_path(&escape_literal(src))));
    }
    for l in closed.header_lines() {
        w.base(l);
    }

    let mut out = Body::default();
    // Rules sorted by what they name, then by line text; ties keep policy order.
    let mut sorted: Vec<&AaRule> = body.rules.clone();
    sorted.sort_unstable_by_key(|r| r.rank);
    let section = |out: &mut Body<'a>, cat: Category| {
        for r in sorted.iter().filter(|r| r.category == cat) {
            for l in &r.lines {
                out.add(Cow::Borrowed(l), LineFrom::Rule, vec![r.map_id]);
            }
        }
    };
    section(&mut out, Category::File);
    // Dispatcher: every source's binary enters its sub-profile, from every profile of the file;
    // under a process allowlist only where the profile allows executing it (`px` also allows).
    for (source, line) in dispatch {
        if closed.exec && !body.rules.iter().any(|r| allows_exec(r, source)) {
            continue;
        }
        let mut origins: Vec<u32> =
            local.iter().filter(|r| r.source.as_deref() == Some(*source)).map(|r| r.map_id).collect();
        // Ids were given in policy order; `local` is sorted by key.
        origins.sort_unstable();
        out.add(Cow::Borrowed(line.as_str()), LineFrom::Rule, origins);
    }
    section(&mut out, Category::Process);
    section(&mut out, Category::Network);
    section(&mut out, Category::Capability);
    for n in natives {
        let id = w.intern(&n.origin);
        out.add(Cow::Borrowed(&n.text), LineFrom::Native, vec![id]);
    }
    for p in &out.lines {
        w.rule(&p.text, p.from, &p.origins);
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
        rules::Key::Dir { dir, recursive } => path
            .strip_prefix(dir.as_str())
            .is_some_and(|rest| !rest.is_empty() && (*recursive || !rest.contains('/'))),
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
