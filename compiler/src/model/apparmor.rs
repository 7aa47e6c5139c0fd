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
    /// Where the cache indexes it: the hash of its path (exact rules), of the first path component
    /// every match has, or of the start of a component every match has (`needle_key`; `None`:
    /// none of these, checked for every path).
    key: Option<u64>,
}

impl FileRule {
    /// An exact path that enters a named profile (`/bin/sh px -> kubearmor-..._bin_sh`): such
    /// lines name their file's own sub-profiles, so no two files share them.
    fn names_profile(&self) -> bool {
        matches!(self.exec, Some(ExecMode::Profile(Some(_)) | ExecMode::Child(Some(_))))
            && self.glob.literal_str().is_some()
    }
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
    /// Its file lines, by their numbers in the set's `LineCache`, in profile order.
    files: Vec<u32>,
    network: Vec<Arc<WordRule>>,
    caps: Vec<Arc<WordRule>>,
    /// `files` as a set (one bit per line number): which of the cache's lines matching a path
    /// it has.
    members: Vec<u64>,
    /// Its lines that name a profile (`FileRule::names_profile`): the cache does not index them.
    named: Vec<u32>,
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

/// The profiles of one profile file. Their file lines are numbers in the `LineCache` they were
/// parsed with: the set's own (`parse`) or one shared by many sets (`parse_cached`).
pub struct ProfileSet<'c> {
    pub profiles: BTreeMap<String, Profile>,
    lines: Lines<'c>,
}

enum Lines<'c> {
    Own(Box<LineCache>),
    Shared(&'c LineCache),
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
/// Also remembers which lines match which path: the same lines meet the same paths in many
/// profiles, so each (line, path) pair is matched once, and a profile keeps the matching lines it
/// has (`ProfileSet::lines_for_cached`).
#[derive(Default)]
pub struct LineCache {
    /// Line text -> its number: the index of its parsed form in `parsed`.
    lines: HashMap<Box<str>, u32, FixedState>,
    parsed: Vec<Parsed>,
    /// Compiled globs by their path text (`parse_rule`).
    globs: HashMap<String, Glob, FixedState>,
    /// Per line number: what it is, for adding it to a profile without looking at its parsed form.
    kinds: Vec<Kind>,
    /// Per number of a `TextLine` of table `numbers_of`: the line's number here (`u32::MAX`: not
    /// seen yet).
    numbered: Vec<u32>,
    numbers_of: Option<u64>,
    /// File lines by `FileRule::key`, in number order, and the lines without a key.
    by_key: HashMap<u64, Vec<u32>, FixedState>,
    unkeyed: Vec<u32>,
    /// One past the last line in `by_key` or `unkeyed`: lines parsed since that can match no path
    /// (px lines naming a target's profiles are new in every target) leave paths' answers valid.
    listed_end: u32,
    /// Paths asked about, numbered.
    paths: RefCell<HashMap<Box<str>, u32, FixedState>>,
    /// Per path number: the file lines matching it.
    path_lines: RefCell<Vec<PathMatches>>,
}

/// The file lines matching one path, among the first `upto` lines of the cache, and the keys
/// (`FileRule::key`) of the lines that may match it: its own text's, its first component's and
/// its components' starts' (`needle_key`).
struct PathMatches {
    upto: u32,
    ids: Vec<u32>,
    keys: Vec<u64>,
}

impl PathMatches {
    fn new(path: &str) -> PathMatches {
        let mut keys = vec![key_hash(path)];
        keys.extend(first_component(path, true).map(key_hash));
        let bytes = path.as_bytes();
        for (i, _) in bytes.iter().enumerate().filter(|&(_, &b)| b == b'/') {
            if let Some(run) = bytes.get(i + 1..i + 1 + NEEDLE) {
                keys.push(needle_key(run));
            }
        }
        PathMatches { upto: 0, ids: Vec::new(), keys }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    File,
    /// A file line naming a profile (`FileRule::names_profile`).
    Named,
    Other,
}

#[derive(Clone, Debug)]
enum Parsed {
    File(FileRule),
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
        self.path_lines.borrow_mut().push(PathMatches::new(path));
        id
    }

    /// The numbers of the file lines matching `path` (numbered `path_id`), in number order. Lines
    /// parsed since the last question about the path are matched now: those of the path's keys
    /// and those without a key.
    fn matching(&self, path: &str, path_id: u32) -> std::cell::Ref<'_, [u32]> {
        let all = self.listed_end;
        let stale = self.path_lines.borrow()[path_id as usize].upto < all;
        if stale {
            let mut path_lines = self.path_lines.borrow_mut();
            let known = &mut path_lines[path_id as usize];
            let from = known.upto;
            let mut new: Vec<u32> = Vec::new();
            let mut take = |ids: &[u32]| {
                // Lists are in number order: most have nothing new.
                if ids.last().is_some_and(|&last| last >= from) {
                    new.extend_from_slice(&ids[ids.partition_point(|&i| i < from)..]);
                }
            };
            for k in &known.keys {
                if let Some(ids) = self.by_key.get(k) {
                    take(ids)
                }
            }
            take(&self.unkeyed);
            new.sort_unstable();
            // A path that is also its own first component (`/etc`) finds an exact line twice.
            new.dedup();
            for id in new {
                if let Parsed::File(r) = &self.parsed[id as usize] {
                    if r.glob.could_match(path) && r.glob.matches(path) {
                        known.ids.push(id);
                    }
                }
            }
            known.upto = all;
        }
        std::cell::Ref::map(self.path_lines.borrow(), |p| p[path_id as usize].ids.as_slice())
    }

    /// The number of one rule line (without its `,`), parsed when new.
    fn id_of(&mut self, body: &str) -> Result<u32, String> {
        if let Some(&id) = self.lines.get(body) {
            return Ok(id);
        }
        let id = self.parsed.len() as u32;
        let parsed = parse_rule(body, &mut self.globs)?;
        match &parsed {
            // Only the file that names the profile has such a line: its profiles keep them.
            Parsed::File(r) if r.names_profile() => {}
            Parsed::File(r) => {
                match r.key {
                    Some(k) => self.by_key.entry(k).or_default().push(id),
                    None => self.unkeyed.push(id),
                }
                self.listed_end = id + 1;
            }
            _ => {}
        }
        self.kinds.push(match &parsed {
            Parsed::File(r) if r.names_profile() => Kind::Named,
            Parsed::File(_) => Kind::File,
            _ => Kind::Other,
        });
        self.parsed.push(parsed);
        self.lines.insert(body.into(), id);
        Ok(id)
    }

    fn file_rule(&self, id: u32) -> Option<&FileRule> {
        match self.parsed.get(id as usize)? {
            Parsed::File(r) => Some(r),
            _ => None,
        }
    }
}

impl ProfileSet<'static> {
    pub fn parse(text: &str) -> Result<ProfileSet<'static>, String> {
        let mut cache = Box::new(LineCache::default());
        let profiles = read_profiles(text, &TextLines::default(), &mut cache)?;
        Ok(ProfileSet { profiles, lines: Lines::Own(cache) })
    }
}

/// The lines of a profile text as its writer made them, every line in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextLines {
    /// Which table the numbers are of: texts of one writer with the same `table` share it.
    pub table: u64,
    pub lines: Vec<TextLine>,
}

/// One line of a profile text: its byte range (without the newline) and its number, if its writer
/// numbered it (one number, one text). A numbered rule line seen before is not read again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextLine {
    pub start: u32,
    pub end: u32,
    pub number: Option<LineNumber>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineNumber {
    /// In the table the writer shares across texts (`TextLines::table`).
    Table(u32),
    /// In this text only.
    Text(u32),
}

/// The profiles of a profile file, their lines numbered in `cache`. With `lines` (the writer's
/// account of `text`, every line in order) a numbered line the cache has seen is taken by its
/// number; without, every line of `text` is read.
fn read_profiles(text: &str, lines: &TextLines, cache: &mut LineCache) -> Result<BTreeMap<String, Profile>, String> {
    if cache.numbers_of != Some(lines.table) {
        // Numbers of another table mean other texts.
        cache.numbered.clear();
        cache.numbers_of = Some(lines.table);
    }
    let mut reader = Reader::default();
    if lines.lines.is_empty() {
        for (n, raw) in text.lines().enumerate() {
            reader.line(raw, n, None, cache)?;
        }
    } else {
        for (n, l) in lines.lines.iter().enumerate() {
            let known = match l.number {
                Some(LineNumber::Table(k)) => cache.numbered.get(k as usize),
                Some(LineNumber::Text(k)) => reader.numbered.get(k as usize),
                None => None,
            };
            if let (Some(&id), Some(p)) = (known.filter(|&&id| id != u32::MAX), reader.current.as_mut()) {
                p.add(id, cache);
                continue;
            }
            let raw =
                text.get(l.start as usize..l.end as usize).ok_or_else(|| format!("line {}: not in the text", n + 1))?;
            reader.line(raw, n, l.number, cache)?;
        }
    }
    if reader.current.is_some() {
        return Err("unterminated profile".into());
    }
    Ok(reader.profiles)
}

#[derive(Default)]
struct Reader {
    profiles: BTreeMap<String, Profile>,
    current: Option<Profile>,
    /// Per `LineNumber::Text`: the line's number in the cache (`u32::MAX`: not seen yet).
    numbered: Vec<u32>,
}

impl Reader {
    /// Line `n` (from 0) of the text; `number`: its number in the writer's table, if any.
    fn line(&mut self, raw: &str, n: usize, number: Option<LineNumber>, cache: &mut LineCache) -> Result<(), String> {
        let line = raw.trim();
        let err = |m: String| format!("line {}: {m}: `{line}`", n + 1);
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix("profile ") {
            let rest = rest.strip_suffix('{').ok_or_else(|| err("profile without `{`".into()))?.trim();
            let mut words = rest.split_whitespace().filter(|w| !w.starts_with("flags="));
            let name = words.next().ok_or_else(|| err("profile without name".into()))?.to_string();
            let attachment = words.next().map(str::to_string);
            // Sized for a typical compiled profile: growing from empty cost more than parsing.
            self.current = Some(Profile { name, attachment, files: Vec::with_capacity(128), ..Default::default() });
            return Ok(());
        }
        if line == "}" {
            let mut p = self.current.take().ok_or_else(|| err("`}` outside a profile".into()))?;
            p.members = vec![0; cache.parsed.len() / 64 + 1];
            for &id in &p.files {
                p.members[id as usize / 64] |= 1 << (id % 64);
            }
            self.profiles.insert(p.name.clone(), p);
            return Ok(());
        }
        let p = self.current.as_mut().ok_or_else(|| err("rule outside a profile".into()))?;
        let body = line.strip_suffix(',').ok_or_else(|| err("rule without `,`".into()))?;
        let id = cache.id_of(body).map_err(err)?;
        let table = match number {
            Some(LineNumber::Table(k)) => Some((&mut cache.numbered, k)),
            Some(LineNumber::Text(k)) => Some((&mut self.numbered, k)),
            None => None,
        };
        if let Some((table, k)) = table {
            if table.len() <= k as usize {
                table.resize(k as usize + 1, u32::MAX);
            }
            table[k as usize] = id;
        }
        p.add(id, cache);
        Ok(())
    }
}

impl Profile {
    /// Adds line `id` of `cache`.
    fn add(&mut self, id: u32, cache: &LineCache) {
        match cache.kinds[id as usize] {
            Kind::File => return self.files.push(id),
            Kind::Named => {
                self.named.push(id);
                return self.files.push(id);
            }
            Kind::Other => {}
        }
        match &cache.parsed[id as usize] {
            Parsed::File(_) => {}
            Parsed::Network(r) => self.network.push(r.clone()),
            Parsed::Caps(r) => self.caps.extend(r.iter().cloned()),
            Parsed::Nothing => {}
        }
    }
}

impl<'c> ProfileSet<'c> {
    /// `parse`, taking already parsed lines from `cache` (and adding new ones); the set's lines
    /// are numbers there.
    /// `lines`: the writer's account of `text` (`TextLines`), or none (empty).
    pub fn parse_cached(text: &str, lines: &TextLines, cache: &'c mut LineCache) -> Result<ProfileSet<'c>, String> {
        let profiles = read_profiles(text, lines, cache)?;
        Ok(ProfileSet { profiles, lines: Lines::Shared(cache) })
    }

    /// The cache numbering this set's lines.
    pub fn lines(&self) -> &LineCache {
        match &self.lines {
            Lines::Own(c) => c,
            Lines::Shared(c) => c,
        }
    }

    /// The named profile; an unknown name is an empty profile (it allows nothing).
    pub fn profile(&self, name: &str) -> &Profile {
        static EMPTY: Profile = Profile {
            name: String::new(),
            attachment: None,
            files: Vec::new(),
            network: Vec::new(),
            caps: Vec::new(),
            members: Vec::new(),
            named: Vec::new(),
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
        let lines = self.lines();
        self.profile(profile).files.iter().filter_map(|&id| lines.file_rule(id)).filter(|r| !r.deny).filter_map(|r| {
            match (&r.exec, r.glob.literal_str()) {
                (Some(ExecMode::Profile(Some(t))), Some(path)) => Some((path, t.as_str())),
                _ => None,
            }
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
        let lines = self.lines();
        let rules = self
            .profile(profile)
            .files
            .iter()
            .filter_map(|&id| lines.file_rule(id))
            .filter(|r| r.glob.matches(path))
            .collect();
        PathLines { set: self, profile, path, rules }
    }

    /// `lines_for`, with the answers of the set's `LineCache` (matching lines per path, kept
    /// for every set parsed with it); `path_id` is `self.lines().path_id(path)`.
    pub fn lines_for_cached<'a>(&'a self, profile: &'a str, path: &'a str, path_id: u32) -> PathLines<'a> {
        let (p, lines) = (self.profile(profile), self.lines());
        let mut rules: Vec<&FileRule> = lines
            .matching(path, path_id)
            .iter()
            .filter(|&&id| p.members.get(id as usize / 64).is_some_and(|w| w & (1 << (id % 64)) != 0))
            .filter_map(|&id| lines.file_rule(id))
            .collect();
        rules.extend(
            p.named.iter().filter_map(|&id| lines.file_rule(id)).filter(|r| r.glob.literal_str() == Some(path)),
        );
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
    set: &'a ProfileSet<'a>,
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

/// One rule line (without its `,`); `globs`: globs already compiled, by their path text (lines
/// that differ only in their permissions or exec target share them).
fn parse_rule(body: &str, globs: &mut HashMap<String, Glob, FixedState>) -> Result<Parsed, String> {
    let file = |deny: bool, qual: Qual, glob: Glob, perms: String, exec: Option<ExecMode>| {
        let key = match glob.literal_str() {
            Some(path) => Some(key_hash(path)),
            None => first_component(glob.prefix(), false).map(key_hash).or_else(|| {
                let run = glob.needle()?.strip_prefix('/')?.as_bytes();
                run.get(..NEEDLE).map(needle_key)
            }),
        };
        Parsed::File(FileRule { deny, qual, glob, perms, exec, key })
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
            let glob = match globs.get(&path) {
                Some(g) => g.clone(),
                None => {
                    let g = path_glob(&path)?;
                    globs.insert(path, g.clone());
                    g
                }
            };
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
