//! An AppArmor decision evaluator for profile text, written from apparmor.d(5) and sharing no
//! code with the lowering. It reads the subset of the language our profiles use (file rules with
//! owner/other and deny, exec modes with `-> target`, `file,`/`network,`/`capability,` header
//! lines, network and capability rules, the `audit` qualifier (logging only), `profile NAME
//! [attachment] [flags] {` blocks) and answers:
//! is this access allowed, and which profile does an exec run under.
//! Not modelled: `#include`d abstractions (their rules are not loaded), mount/signal/unix/ptrace/
//! dbus rules, network families. Unknown variables are kept literally.
//!
//! Used by the divergence analysis of `armorc compile` (crate::divergence) and by the AppArmor
//! tests (tests/apparmor_eval.rs pins it by a hand table, tests/apparmor_model.rs cross-checks it
//! with the BPF-LSM model). Any input is answered without panicking: a profile it cannot read is
//! an `Err`, an unknown profile name denies everything.

pub mod glob;

use foldhash::fast::FixedState;
use glob::Glob;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qual {
    Any,
    Owner,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecMode {
    /// `ix`: keep the current profile.
    Inherit,
    /// `px`/`Px` (with `-> name`, or the profile attached to the path).
    Profile(Option<String>),
    /// `cx`: a child profile.
    Child(Option<String>),
    /// `ux`/`Ux`.
    Unconfined,
}

#[derive(Clone, Debug)]
struct FileRule {
    deny: bool,
    qual: Qual,
    glob: Glob,
    perms: String,
    exec: Option<ExecMode>,
    /// Its number in the [`LineCache`] that parsed it: glob answers are remembered by it.
    id: u32,
    /// Where profiles index it: the hash of its path (exact rules), of the first path component
    /// every match has, or of the start of a component every match has (`needle_key`; `None`:
    /// none of these, checked for every path).
    key: Option<u64>,
}

/// The hash profiles index lines by (a path, or one path component).
fn key_hash(s: &str) -> u64 {
    FixedState::with_seed(0x5eed).hash_one(s)
}

/// How many bytes of a component start `needle_key` takes.
const NEEDLE: usize = 3;

/// The hash profiles index `/**/name*` lines by: the first `NEEDLE` bytes after a `/` of the
/// literal run every match contains (`/nam`), looked up at every `/` of a path.
fn needle_key(run: &[u8]) -> u64 {
    FixedState::with_seed(0x5eed).hash_one((b'/', run))
}

#[derive(Clone, Debug)]
struct WordRule {
    deny: bool,
    /// `None` = every network access / capability.
    word: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub name: String,
    pub attachment: Option<String>,
    files: Vec<Arc<FileRule>>,
    network: Vec<Arc<WordRule>>,
    caps: Vec<Arc<WordRule>>,
    /// `(FileRule::key, index into files)`, sorted: exact lines by their path, glob lines by the
    /// first path component every match has or by a component start (`needle_key`). A path is
    /// checked against the exact lines of its own text, the glob lines of its first component and
    /// of its components' starts, and `unbucketed` only.
    index: Vec<(u64, u32)>,
    unbucketed: Vec<u32>,
}

/// The first component of a glob's literal prefix, when the prefix fixes it (`/etc/` in
/// `/etc/{,**}`), or of a path.
fn first_component(text: &str, complete: bool) -> Option<&str> {
    let rest = text.strip_prefix('/')?;
    match rest.find('/') {
        Some(end) => Some(&rest[..end]),
        None if complete => Some(rest),
        None => None,
    }
}

impl Profile {
    fn index(&mut self) {
        for (i, r) in self.files.iter().enumerate() {
            match r.key {
                Some(k) => self.index.push((k, i as u32)),
                None => self.unbucketed.push(i as u32),
            }
        }
        self.index.sort_unstable();
    }

    /// The lines that may match `path`, in profile order.
    fn candidates<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a FileRule> + 'a {
        let range = |k: u64| {
            let start = self.index.partition_point(|&(key, _)| key < k);
            self.index[start..].iter().take_while(move |&&(key, _)| key == k).map(|&(_, i)| i)
        };
        let mut ids: Vec<u32> = range(key_hash(path)).collect();
        if let Some(c) = first_component(path, true) {
            ids.extend(range(key_hash(c)));
        }
        let bytes = path.as_bytes();
        for (i, _) in bytes.iter().enumerate().filter(|&(_, &b)| b == b'/') {
            if let Some(run) = bytes.get(i + 1..i + 1 + NEEDLE) {
                ids.extend(range(needle_key(run)));
            }
        }
        ids.extend_from_slice(&self.unbucketed);
        ids.sort_unstable();
        // A path that is also its own first component (`/etc`) finds an exact line twice.
        ids.dedup();
        ids.into_iter().map(move |i| &*self.files[i as usize])
    }
}

#[derive(Clone, Debug, Default)]
pub struct ProfileSet {
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exec {
    Denied,
    /// Allowed; the new process runs under this profile.
    Runs(String),
    Unconfined,
    /// `px` names a profile that is not loaded: the exec fails.
    MissingProfile(String),
    /// Two non-exact rules give different exec modes (the parser refuses such profiles).
    Conflict,
}

/// Variables of Debian's `<tunables/global>` (every profile includes it), as glob text.
fn variable(name: &str) -> Option<String> {
    // `[1-9]`, `[1-9][0-9]`, ... up to `digits` digits.
    let numbers = |digits: usize| -> String {
        (1..=digits).map(|n| format!("[1-9]{}", "[0-9]".repeat(n - 1))).collect::<Vec<_>>().join(",")
    };
    Some(match name {
        "PROC" => "/proc/".into(),
        "sys" => "/sys/".into(),
        "run" => "{/run/,/var/run/}".into(),
        "multiarch" => "*-linux-gnu*".into(),
        "HOMEDIRS" => "/home/".into(),
        "HOME" => "{/home/*/,/root/}".into(),
        "etc_ro" => "/{usr/,}etc/".into(),
        "etc_rw" => "/etc/".into(),
        "apparmorfs" => "/sys/kernel/security/apparmor/".into(),
        "securityfs" => "/sys/kernel/security/".into(),
        "pid" | "pids" | "tid" => format!("{{{}}}", numbers(7)),
        "uid" | "uids" => format!("{{0,{}}}", numbers(10)),
        _ => return None,
    })
}

/// The glob of a profile's path text: variables expanded, runs of `/` folded (as
/// `apparmor_parser` reads it). Also how the loader matches kernel-log paths (runtime::apparmor).
pub fn path_glob(text: &str) -> Result<Glob, String> {
    Glob::parse(&expand_variables(text))
}

fn expand_variables(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("@{") {
        if i > 0 && rest.as_bytes()[i - 1] == b'\\' {
            out.push_str(&rest[..i + 2]);
            rest = &rest[i + 2..];
            continue;
        }
        let Some(end) = rest[i..].find('}') else { break };
        let name = &rest[i + 2..i + end];
        out.push_str(&rest[..i]);
        rest = match variable(name) {
            Some(v) => {
                out.push_str(&v);
                let after = &rest[i + end + 1..];
                // `@{HOME}/x`: a value ending with `/` (also in each alternative) folds the next
                // `/`, as any `//`.
                match after.strip_prefix('/') {
                    Some(tail) if v.trim_end_matches('}').ends_with('/') => tail,
                    _ => after,
                }
            }
            None => {
                out.push_str(&rest[i..i + end + 1]);
                &rest[i + end + 1..]
            }
        };
    }
    out.push_str(rest);
    // The parser folds repeated slashes (`@{PROC}/x` = `/proc//x`).
    while out.contains("//") {
        out = out.replace("//", "/");
    }
    out
}

/// Split off a leading path token: a quoted string (with `\"`, `\\`, `\NNN` escapes; glob
/// escapes kept) or a bare word. Also the loader's reader of profile lines (runtime::apparmor).
pub fn take_path(s: &str) -> Result<(String, &str), String> {
    let s = s.trim_start();
    if let Some(q) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((out, &q[i + 1..])),
                '\\' => {
                    let (_, n) = chars.next().ok_or("bad escape")?;
                    match n {
                        '"' => out.push('"'),
                        '0'..='7' => {
                            let (_, b) = chars.next().ok_or("bad octal")?;
                            let (_, c2) = chars.next().ok_or("bad octal")?;
                            let v = u32::from_str_radix(&format!("{n}{b}{c2}"), 8).map_err(|e| e.to_string())?;
                            let ch = char::from_u32(v).ok_or("bad octal")?;
                            // Keep glob metacharacters (and variable and class syntax) literal.
                            if "*?[]{}\\@^".contains(ch) {
                                out.push('\\');
                            }
                            out.push(ch);
                        }
                        n => {
                            out.push('\\');
                            out.push(n);
                        }
                    }
                }
                c => out.push(c),
            }
        }
        return Err("unterminated quote".into());
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Ok((s[..end].to_string(), &s[end..]))
}

/// Rule lines already parsed, by their text: profiles of one compile repeat the same lines, so
/// each distinct line is parsed (and its glob compiled) once, and numbered.
/// Also remembers which glob line matched which path (by their numbers), since the same lines meet
/// the same paths in many profiles.
#[derive(Default)]
pub struct LineCache {
    /// Line text -> its number: the index of its parsed form in `parsed`.
    lines: HashMap<Box<str>, u32, FixedState>,
    parsed: Vec<Parsed>,
    /// Paths asked about, numbered.
    paths: RefCell<HashMap<Box<str>, u32, FixedState>>,
    /// (line number << 32 | path number) -> the line's glob matches the path.
    matched: RefCell<HashMap<u64, bool, FixedState>>,
}

#[derive(Clone, Debug)]
enum Parsed {
    File(Arc<FileRule>),
    Network(Arc<WordRule>),
    Caps(Vec<Arc<WordRule>>),
    /// Rules outside the model (mount, signal, ...).
    Nothing,
}

impl LineCache {
    /// The number of a path: the key of its remembered glob answers.
    pub fn path_id(&self, path: &str) -> u32 {
        let mut paths = self.paths.borrow_mut();
        if let Some(&id) = paths.get(path) {
            return id;
        }
        let id = paths.len() as u32;
        paths.insert(path.into(), id);
        id
    }

    /// The parsed form of one rule line (without its `,`), parsed when new.
    fn parsed(&mut self, body: &str) -> Result<&Parsed, String> {
        if let Some(&id) = self.lines.get(body) {
            return Ok(&self.parsed[id as usize]);
        }
        let id = self.parsed.len() as u32;
        self.parsed.push(parse_rule(body, id)?);
        self.lines.insert(body.into(), id);
        Ok(&self.parsed[id as usize])
    }
}

impl ProfileSet {
    pub fn parse(text: &str) -> Result<ProfileSet, String> {
        ProfileSet::parse_cached(text, &mut LineCache::default())
    }

    /// `parse`, taking already parsed lines from `cache` (and adding new ones).
    pub fn parse_cached(text: &str, cache: &mut LineCache) -> Result<ProfileSet, String> {
        let mut set = ProfileSet::default();
        let mut current: Option<Profile> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let err = |m: String| format!("line {}: {m}: `{line}`", n + 1);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("profile ") {
                let rest = rest.strip_suffix('{').ok_or_else(|| err("profile without `{`".into()))?.trim();
                let mut words = rest.split_whitespace().filter(|w| !w.starts_with("flags="));
                let name = words.next().ok_or_else(|| err("profile without name".into()))?.to_string();
                let attachment = words.next().map(str::to_string);
                // Sized for a typical compiled profile: growing from empty cost more than parsing.
                current = Some(Profile { name, attachment, files: Vec::with_capacity(128), ..Default::default() });
                continue;
            }
            if line == "}" {
                let p = current.take().ok_or_else(|| err("`}` outside a profile".into()))?;
                let mut p = p;
                p.index();
                set.profiles.insert(p.name.clone(), p);
                continue;
            }
            let p = current.as_mut().ok_or_else(|| err("rule outside a profile".into()))?;
            let body = line.strip_suffix(',').ok_or_else(|| err("rule without `,`".into()))?;
            match cache.parsed(body).map_err(err)? {
                Parsed::File(r) => p.files.push(r.clone()),
                Parsed::Network(r) => p.network.push(r.clone()),
                Parsed::Caps(r) => p.caps.extend(r.iter().cloned()),
                Parsed::Nothing => {}
            }
        }
        if current.is_some() {
            return Err("unterminated profile".into());
        }
        Ok(set)
    }

    /// The named profile; an unknown name is an empty profile (it allows nothing).
    pub fn profile(&self, name: &str) -> &Profile {
        static EMPTY: Profile = Profile {
            name: String::new(),
            attachment: None,
            files: Vec::new(),
            network: Vec::new(),
            caps: Vec::new(),
            index: Vec::new(),
            unbucketed: Vec::new(),
        };
        self.profiles.get(name).unwrap_or(&EMPTY)
    }

    /// `(path, profile)` of the exact `px -> profile` rules of a profile: which binaries enter
    /// which profile.
    pub fn transitions(&self, profile: &str) -> Vec<(String, String)> {
        self.transitions_of(profile).map(|(path, t)| (path.to_string(), t.to_string())).collect()
    }

    /// `transitions`, borrowed.
    pub fn transitions_of<'a>(&'a self, profile: &str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.profile(profile).files.iter().filter(|r| !r.deny).filter_map(|r| match (&r.exec, r.glob.literal_str()) {
            (Some(ExecMode::Profile(Some(t))), Some(path)) => Some((path, t.as_str())),
            _ => None,
        })
    }

    /// The profile carrying an attachment, or the first one: where a container's processes start.
    pub fn entry_profile(&self) -> Option<String> {
        self.profiles
            .values()
            .find(|p| p.attachment.is_some())
            .or_else(|| self.profiles.values().next())
            .map(|p| p.name.clone())
    }

    /// File access `op` (one of `r w a l k m`) on `path` by the file's owner or not.
    pub fn file(&self, profile: &str, path: &str, op: char, owner: bool) -> Decision {
        self.lines_for(profile, path).file(op, owner)
    }

    /// Executing `path`: denied, or which profile the new program runs under.
    pub fn exec(&self, profile: &str, path: &str, owner: bool) -> Exec {
        self.lines_for(profile, path).exec(owner)
    }

    /// The file lines of a profile whose path matches `path`: several questions about one path
    /// (read, write, exec, owner or not) then look at these lines only.
    pub fn lines_for<'a>(&'a self, profile: &'a str, path: &'a str) -> PathLines<'a> {
        let rules = self.profile(profile).candidates(path).filter(|r| r.glob.matches(path)).collect();
        PathLines { set: self, profile, path, rules }
    }

    /// `lines_for`, with glob answers remembered in `cache` (the one this set was parsed with:
    /// lines are told apart by their number there); `path_id` is `cache.path_id(path)`.
    pub fn lines_for_cached<'a>(
        &'a self,
        profile: &'a str,
        path: &'a str,
        path_id: u32,
        cache: &LineCache,
    ) -> PathLines<'a> {
        let mut matched = cache.matched.borrow_mut();
        let rules = self
            .profile(profile)
            .candidates(path)
            .filter(|r| {
                r.glob.could_match(path)
                    && (r.glob.exact
                        || *matched
                            .entry(u64::from(r.id) << 32 | u64::from(path_id))
                            .or_insert_with(|| r.glob.matches(path)))
            })
            .collect();
        PathLines { set: self, profile, path, rules }
    }

    /// A socket of this type and protocol (`stream`/`tcp`, `dgram`/`udp`, `raw`/`icmp`, ...).
    pub fn network(&self, profile: &str, sock_type: &str, protocol: &str) -> Decision {
        words(&self.profile(profile).network, &[sock_type, protocol])
    }

    pub fn capability(&self, profile: &str, name: &str) -> Decision {
        words(&self.profile(profile).caps, &[name])
    }
}

/// The lines of one profile matching one path (`ProfileSet::lines_for`).
pub struct PathLines<'a> {
    set: &'a ProfileSet,
    profile: &'a str,
    path: &'a str,
    rules: Vec<&'a FileRule>,
}

impl PathLines<'_> {
    fn applies(r: &FileRule, owner: bool) -> bool {
        match r.qual {
            Qual::Any => true,
            Qual::Owner => owner,
            Qual::Other => !owner,
        }
    }

    /// File access `op` (one of `r w a l k m`) by the file's owner or not.
    pub fn file(&self, op: char, owner: bool) -> Decision {
        let has = |r: &FileRule| r.perms.contains(op) || (op == 'a' && r.perms.contains('w'));
        let (mut allow, mut deny) = (false, false);
        for r in self.rules.iter().filter(|r| Self::applies(r, owner) && has(r)) {
            if r.deny {
                deny = true;
            } else {
                allow = true;
            }
        }
        if deny || !allow {
            Decision::Deny
        } else {
            Decision::Allow
        }
    }

    /// Executing the path: denied, or which profile the new program runs under.
    pub fn exec(&self, owner: bool) -> Exec {
        let (profile, path) = (self.profile, self.path);
        let rules: Vec<&FileRule> =
            self.rules.iter().copied().filter(|r| Self::applies(r, owner) && r.perms.contains('x')).collect();
        if rules.iter().any(|r| r.deny) {
            return Exec::Denied;
        }
        let allows: Vec<&FileRule> = rules.into_iter().filter(|r| !r.deny).collect();
        if allows.is_empty() {
            return Exec::Denied;
        }
        // Exact rules dominate globs; among the remaining rules the modes must agree.
        let exact: Vec<&&FileRule> = allows.iter().filter(|r| r.glob.exact).collect();
        let chosen: Vec<&FileRule> =
            if exact.is_empty() { allows.clone() } else { exact.into_iter().copied().collect() };
        let mode = chosen[0].exec.clone();
        if chosen.iter().any(|r| r.exec != mode) {
            return Exec::Conflict;
        }
        match mode {
            Some(ExecMode::Inherit) => Exec::Runs(profile.to_string()),
            Some(ExecMode::Profile(Some(t))) | Some(ExecMode::Child(Some(t))) => {
                if self.set.profiles.contains_key(&t) {
                    Exec::Runs(t)
                } else {
                    Exec::MissingProfile(t)
                }
            }
            Some(ExecMode::Profile(None)) => {
                match self
                    .set
                    .profiles
                    .values()
                    .find(|q| q.attachment.as_deref().is_some_and(|a| Glob::parse(a).is_ok_and(|g| g.matches(path))))
                {
                    Some(q) => Exec::Runs(q.name.clone()),
                    None => Exec::MissingProfile(path.to_string()),
                }
            }
            Some(ExecMode::Child(None)) => Exec::MissingProfile(path.to_string()),
            Some(ExecMode::Unconfined) => Exec::Unconfined,
            None => Exec::Denied,
        }
    }
}

fn words(rules: &[Arc<WordRule>], query: &[&str]) -> Decision {
    let hit = |r: &&Arc<WordRule>| r.word.as_deref().is_none_or(|w| query.contains(&w));
    let matching: Vec<&Arc<WordRule>> = rules.iter().filter(hit).collect();
    if matching.iter().any(|r| r.deny) || matching.is_empty() {
        Decision::Deny
    } else {
        Decision::Allow
    }
}

/// One rule line (without its `,`), numbered `id`.
fn parse_rule(body: &str, id: u32) -> Result<Parsed, String> {
    let file = |deny: bool, qual: Qual, glob: Glob, perms: String, exec: Option<ExecMode>| {
        let key = match glob.literal_str() {
            Some(path) => Some(key_hash(path)),
            None => first_component(glob.prefix(), false).map(key_hash).or_else(|| {
                let run = glob.needle()?.strip_prefix('/')?.as_bytes();
                run.get(..NEEDLE).map(needle_key)
            }),
        };
        Parsed::File(Arc::new(FileRule { deny, qual, glob, perms, exec, id, key }))
    };
    // `audit` only makes the kernel log what the rule matches; it changes no decision.
    let body = body.strip_prefix("audit ").map_or(body, str::trim_start);
    let (deny, rest) = match body.strip_prefix("deny ") {
        Some(r) => (true, r.trim_start()),
        None => (false, body),
    };
    let (qual, rest) = if let Some(r) = rest.strip_prefix("owner ") {
        (Qual::Owner, r.trim_start())
    } else if let Some(r) = rest.strip_prefix("other ") {
        (Qual::Other, r.trim_start())
    } else {
        (Qual::Any, rest)
    };
    let first = rest.split_whitespace().next().unwrap_or("");
    match first {
        "file" if rest == "file" => {
            // `file,` = every file permission, exec inheriting.
            Ok(file(deny, qual, Glob::parse("/**")?, "rwalkmx".into(), (!deny).then_some(ExecMode::Inherit)))
        }
        "network" => {
            let args: Vec<&str> = rest.split_whitespace().skip(1).collect();
            // Families are not modelled: `network inet tcp` is read as `network tcp`.
            let word = args.last().map(|s| s.to_string());
            Ok(Parsed::Network(Arc::new(WordRule { deny, word })))
        }
        "capability" => {
            let args: Vec<&str> = rest.split_whitespace().skip(1).collect();
            if args.is_empty() {
                return Ok(Parsed::Caps(vec![Arc::new(WordRule { deny, word: None })]));
            }
            Ok(Parsed::Caps(args.into_iter().map(|a| Arc::new(WordRule { deny, word: Some(a.to_string()) })).collect()))
        }
        "mount" | "umount" | "remount" | "signal" | "unix" | "ptrace" | "dbus" | "pivot_root" | "change_profile" => {
            Ok(Parsed::Nothing)
        }
        _ if rest.starts_with('/') || rest.starts_with('"') || rest.starts_with('@') => {
            let (path, tail) = take_path(rest)?;
            let glob = path_glob(&path)?;
            let mut tail = tail.split_whitespace();
            let perms = tail.next().ok_or("file rule without permissions")?.to_string();
            let target = match (tail.next(), tail.next()) {
                (Some("->"), Some(t)) => Some(t.to_string()),
                (None, _) => None,
                _ => return Err("unexpected text after permissions".into()),
            };
            let exec = exec_mode(&perms, target)?;
            Ok(file(deny, qual, glob, perms, exec))
        }
        _ => Err(format!("unsupported rule {first:?}")),
    }
}

fn exec_mode(perms: &str, target: Option<String>) -> Result<Option<ExecMode>, String> {
    let Some(i) = perms.find('x') else {
        return if target.is_some() { Err("`->` without x".into()) } else { Ok(None) };
    };
    let modifier = perms[..i].chars().last();
    Ok(Some(match modifier {
        Some('i') => ExecMode::Inherit,
        Some('p' | 'P') => ExecMode::Profile(target),
        Some('c' | 'C') => ExecMode::Child(target),
        Some('u' | 'U') => ExecMode::Unconfined,
        // A bare `x` only appears in deny rules.
        _ => return Ok(None),
    }))
}
