//! The AppArmor enforcer: is AppArmor usable here (enabled, `apparmor_parser` present, a test
//! profile loads), loading a compiled profile, and starting a command under it (as aa-exec does:
//! `exec PROFILE` written to the task's exec attribute right before execve); alerts from the
//! kernel's AppArmor audit records (/dev/kmsg), named from the bundle's profile and source map.

use crate::bundle::TargetEntry;
use crate::events::Event;
use anyhow::{bail, Context, Result};
use armorc_compiler::lower::apparmor::{LineFrom, RuleOrigin, SourceMap};
use armorc_compiler::model::apparmor::glob::Glob;
use armorc_compiler::model::apparmor::{path_glob, take_path};
use serde::Deserialize;
use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Ok(why usable) or Err(why not).
pub fn usable(lsms: &[String]) -> Result<String, String> {
    if !lsms.iter().any(|l| l == "apparmor") {
        return Err(format!("`apparmor` is not an active LSM ({})", lsms.join(",")));
    }
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").unwrap_or_default();
    if enabled.trim() != "Y" {
        return Err("AppArmor is not enabled (/sys/module/apparmor/parameters/enabled)".into());
    }
    if Command::new("apparmor_parser").arg("--version").output().is_err() {
        return Err("apparmor_parser not found (Debian: apt-get install apparmor)".into());
    }
    let name = format!("armorc-probe-{}", std::process::id());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join(&name);
    std::fs::write(&file, format!("profile {name} flags=(complain) {{\n}}\n")).map_err(|e| e.to_string())?;
    load_profile(&file).map_err(|e| format!("a test profile does not load: {e:#}"))?;
    let _ = Command::new("apparmor_parser").arg("-R").arg(&file).output();
    Ok("AppArmor enabled, apparmor_parser loads profiles".into())
}

/// Load (or replace) the profile in `path` into the kernel.
pub fn load_profile(path: &Path) -> Result<()> {
    let out = Command::new("apparmor_parser")
        .args(["--replace", "--skip-cache"])
        .arg(path)
        .output()
        .context("running apparmor_parser")?;
    if !out.status.success() {
        bail!("apparmor_parser --replace {}: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// What the child writes to its AppArmor attribute, prepared before fork (the child may only make
/// async-signal-safe calls): the profile of its next execve (`new`), or of itself now (`change`).
pub struct ExecAttr {
    paths: [CString; 2],
    value: Vec<u8>,
}

impl ExecAttr {
    pub fn new(profile: &str) -> ExecAttr {
        ExecAttr {
            paths: [c"/proc/self/attr/apparmor/exec".to_owned(), c"/proc/self/attr/exec".to_owned()],
            value: format!("exec {profile}").into_bytes(),
        }
    }

    /// The task itself enters the profile now (aa_change_profile: `changeprofile NAME` written to
    /// its current attribute; an unconfined task may change to any profile): for `exec --op`,
    /// whose operation is the task's own system call, with no execve for `new`'s transition.
    pub fn change(profile: &str) -> ExecAttr {
        ExecAttr {
            paths: [c"/proc/self/attr/apparmor/current".to_owned(), c"/proc/self/attr/current".to_owned()],
            value: format!("changeprofile {profile}").into_bytes(),
        }
    }

    /// In the child: the next execve runs under the profile (`new`), or the task runs under it
    /// now (`change`). Returns false on failure.
    pub fn apply_in_child(&self) -> bool {
        for p in &self.paths {
            // SAFETY: p is NUL-terminated (CString); write reads self.value, live for the call, for
            // exactly its length; fd is the descriptor just opened, closed once. open/write/close
            // are async-signal-safe and nothing here allocates (this runs in a forked child).
            unsafe {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    continue;
                }
                let n = libc::write(fd, self.value.as_ptr().cast(), self.value.len());
                libc::close(fd);
                if n == self.value.len() as isize {
                    return true;
                }
            }
        }
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Alerts: AppArmor audit records from the kernel log, mapped back to the policy rule.
//
// Every line our profiles deny on behalf of a policy is `audit deny` (plain `deny` is quiet), and
// AppArmor logs implicit denials (nothing allowed the access: an allowlist posture) by itself, so
// every denial of a confined task reaches the kernel log as `apparmor="DENIED"`. Without auditd
// the kernel prints audit records to the kernel log (`audit: type=1400 ...`), rate-limited by
// printk_ratelimit; with auditd running they go to auditd (audit.log lines parse the same way).

/// One AppArmor audit record (`apparmor="DENIED"` or `apparmor="AUDIT"`), values decoded (quotes
/// removed, hex-encoded strings decoded). Fields the record does not carry are empty / `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Denial {
    /// `DENIED` or `AUDIT`.
    pub verdict: String,
    /// `audit(SECS.MILLIS:SERIAL)`: wall-clock time of the record (0 when the line has none).
    pub secs: i64,
    pub millis: u32,
    pub serial: u64,
    /// `open`, `exec`, `mkdir`, `create` (sockets), `capable`, ...
    pub operation: String,
    /// `file`, `net`, `cap`, ... (older kernels print no class).
    pub class: String,
    /// The profile that denied (a sub-profile name for fromSource processes).
    pub profile: String,
    /// The path (file and exec records).
    pub name: String,
    /// Host PID (thread group id in the initial pid namespace).
    pub pid: u32,
    pub comm: String,
    pub requested_mask: String,
    pub denied_mask: String,
    pub fsuid: Option<u32>,
    pub ouid: Option<u32>,
    /// Exec records: the profile the program would have run under.
    pub target: String,
    pub info: String,
    pub error: Option<i32>,
    /// Network records.
    pub family: String,
    pub sock_type: String,
    pub protocol: Option<u32>,
    /// Capability records.
    pub capability: Option<u32>,
    pub capname: String,
    /// Every `key=value` of the record from `apparmor=` on, in order, values decoded.
    pub fields: Vec<(String, String)>,
}

/// What a record is about, as KubeArmor's `Operation` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Process,
    File,
    Network,
    Capabilities,
    /// signal, ptrace, mount, unix, dbus, ...: nothing our policies lower to.
    Other,
}

impl Category {
    pub fn operation(self) -> &'static str {
        match self {
            Category::Process => "Process",
            Category::File => "File",
            Category::Network => "Network",
            Category::Capabilities => "Capabilities",
            Category::Other => "Unknown",
        }
    }
}

impl Denial {
    pub fn category(&self) -> Category {
        if self.operation == "capable" || self.class == "cap" || !self.capname.is_empty() {
            Category::Capabilities
        } else if self.class == "net" || !self.family.is_empty() || !self.sock_type.is_empty() {
            Category::Network
        } else if self.operation == "exec" {
            Category::Process
        } else if self.class == "file" || (self.class.is_empty() && !self.name.is_empty()) {
            Category::File
        } else {
            Category::Other
        }
    }

    /// `apparmor="DENIED"` (as opposed to an audited allow).
    pub fn denied(&self) -> bool {
        self.verdict == "DENIED"
    }
}

/// Keys whose values the kernel prints with `audit_log_untrustedstring`: quoted, or as unquoted
/// uppercase hex when the value holds a space, a quote, a control or a non-ASCII character.
const UNTRUSTED_KEYS: [&str; 10] =
    ["name", "name2", "srcname", "comm", "profile", "peer", "target", "label", "exe", "path"];

/// Parse one kernel log line: a /dev/kmsg record (`PRIO,SEQ,USEC,FLAGS;MESSAGE`, continuation
/// lines ignored, `\xHH` escapes decoded), a dmesg or journal line, or an audit.log line
/// (`type=AVC msg=audit(...): ...`). `None` unless it is an AppArmor `DENIED` or `AUDIT` record.
pub fn parse_denial(line: &str) -> Option<Denial> {
    let first = line.split('\n').next().unwrap_or_default();
    let unescaped;
    let text = match kmsg_message(first) {
        Some(message) => {
            unescaped = unescape_kmsg(message);
            unescaped.as_str()
        }
        None => first,
    };
    let at = text.find("apparmor=")?;
    let mut d = Denial::default();
    if let Some(i) = text[..at].rfind("audit(") {
        parse_stamp(&text[i + "audit(".len()..], &mut d);
    }
    for (key, value) in record_fields(&text[at..]) {
        let num = || value.parse::<u32>().ok();
        match key.as_str() {
            "apparmor" => d.verdict = value.clone(),
            "operation" => d.operation = value.clone(),
            "class" => d.class = value.clone(),
            "profile" => d.profile = value.clone(),
            "label" if d.profile.is_empty() => d.profile = value.clone(),
            "name" => d.name = value.clone(),
            "pid" => d.pid = num().unwrap_or(0),
            "comm" => d.comm = value.clone(),
            "requested_mask" => d.requested_mask = value.clone(),
            "denied_mask" => d.denied_mask = value.clone(),
            "fsuid" => d.fsuid = num(),
            "ouid" => d.ouid = num(),
            "target" => d.target = value.clone(),
            "info" => d.info = value.clone(),
            "error" => d.error = value.parse().ok(),
            "family" => d.family = value.clone(),
            "sock_type" => d.sock_type = value.clone(),
            "protocol" => d.protocol = num(),
            "capability" => d.capability = num(),
            "capname" => d.capname = value.clone(),
            _ => {}
        }
        d.fields.push((key, value));
    }
    matches!(d.verdict.as_str(), "DENIED" | "AUDIT").then_some(d)
}

/// The message of a /dev/kmsg record: `PRIO,SEQ,USEC,FLAGS[,...];MESSAGE`.
fn kmsg_message(line: &str) -> Option<&str> {
    let (head, message) = line.split_once(';')?;
    let mut parts = head.split(',');
    let numeric = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (numeric(parts.next()) && numeric(parts.next()) && numeric(parts.next())).then_some(message)
}

/// /dev/kmsg escapes `\` and unprintable bytes of a message as `\xHH`.
fn unescape_kmsg(message: &str) -> String {
    let b = message.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(v) = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `SECS.MILLIS:SERIAL)`.
fn parse_stamp(s: &str, d: &mut Denial) {
    let Some(end) = s.find(')') else { return };
    let Some((time, serial)) = s[..end].split_once(':') else { return };
    let (secs, frac) = time.split_once('.').unwrap_or((time, "0"));
    d.secs = secs.parse().unwrap_or(0);
    // The kernel prints milliseconds (three digits); scale anything else to them.
    let digits: String = frac.chars().take(3).collect();
    d.millis = format!("{digits:0<3}").parse().unwrap_or(0);
    d.serial = serial.parse().unwrap_or(0);
}

/// `key=value` pairs: `"quoted"` values as written, bare values as written, except hex-encoded
/// untrusted strings, which are decoded. auditd's enrichment (after `\x1d`) is not read.
fn record_fields(s: &str) -> Vec<(String, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() && b[i] != 0x1d {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() && b[i] != 0x1d {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            continue;
        }
        let key = s[start..i].to_string();
        i += 1;
        let value = if b.get(i) == Some(&b'"') {
            let end = s[i + 1..].find('"').map_or(b.len(), |e| i + 1 + e);
            let v = s[i + 1..end].to_string();
            i = (end + 1).min(b.len());
            v
        } else {
            let st = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != 0x1d {
                i += 1;
            }
            let raw = &s[st..i];
            match UNTRUSTED_KEYS.contains(&key.as_str()).then(|| decode_hex(raw)).flatten() {
                Some(decoded) => decoded,
                None => raw.to_string(),
            }
        };
        out.push((key, value));
    }
    out
}

fn decode_hex(s: &str) -> Option<String> {
    if s.is_empty() || !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> =
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digits")).collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

// ---------------------------------------------------------------------------------------------
// AppArmor path globs.

/// Does the AppArmor glob `pattern` match `path`? Variables (`@{PROC}`, ...) are expanded as
/// Debian's tunables define them and runs of `/` folded, as apparmor_parser reads them; the glob
/// is the compiler's evaluator's (`armorc_compiler::model::apparmor::glob`). A pattern it cannot
/// read matches nothing.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    path_glob(pattern).is_ok_and(|g| g.matches(path))
}

// ---------------------------------------------------------------------------------------------
// Which profile line decided: the bundle's index.json, profile text and source map.

/// owner / other qualifiers of file rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qual {
    Any,
    Owner,
    Other,
}

#[derive(Clone, Debug)]
enum RuleKind {
    File { qual: Qual, glob: Glob, perms: String },
    Network(Vec<String>),
    Capability(Vec<String>),
}

/// One rule line of a profile block, parsed.
#[derive(Clone, Debug)]
struct ProfileRule {
    /// 1-based line in the profile file.
    line: usize,
    text: String,
    deny: bool,
    kind: RuleKind,
    origins: Vec<RuleOrigin>,
}

/// A rule line: `[audit] [allow|deny] [owner|other]` then `file`, `network ...`, `capability ...`
/// or `PATH PERMS [-> target]`. Other rules (mount, signal, includes, ...) give `None`.
fn parse_profile_rule(text: &str) -> Option<(bool, RuleKind)> {
    let mut body = text.trim().strip_suffix(',')?.trim();
    let (mut deny, mut qual) = (false, Qual::Any);
    loop {
        let (word, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
        match word {
            "audit" | "allow" => {}
            "deny" => deny = true,
            "owner" => qual = Qual::Owner,
            "other" => qual = Qual::Other,
            _ => break,
        }
        body = rest.trim_start();
    }
    let (word, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    let words = || rest.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let kind = match word {
        "file" if rest.trim().is_empty() => {
            RuleKind::File { qual, glob: path_glob("/{,**}").ok()?, perms: "rwalkmx".into() }
        }
        "network" => RuleKind::Network(words()),
        "capability" => RuleKind::Capability(words()),
        _ => {
            let body = body.strip_prefix("file ").map_or(body, str::trim_start);
            if !(body.starts_with('/') || body.starts_with('"') || body.starts_with('@')) {
                return None;
            }
            let (pattern, tail) = take_path(body).ok()?;
            let perms = tail.split_whitespace().next()?.to_string();
            RuleKind::File { qual, glob: path_glob(&pattern).ok()?, perms }
        }
    };
    Some((deny, kind))
}

/// Does a mask letter of an audit record (`r w a c d x m k l`) fall under a rule's permissions?
/// `w` in a profile also grants/denies append, create and delete.
fn perm_covers(perms: &str, letter: char) -> bool {
    let perms = perms.split("->").next().unwrap_or_default();
    match letter {
        'a' => perms.contains('a') || perms.contains('w'),
        'c' | 'd' => perms.contains('w'),
        'r' | 'w' | 'x' | 'm' | 'k' | 'l' => perms.contains(letter),
        _ => false,
    }
}

/// Protocol words of network rules against a record's family, type and protocol number.
fn network_word_matches(word: &str, d: &Denial) -> bool {
    let proto = d.protocol.unwrap_or(0);
    let inet = matches!(d.family.as_str(), "inet" | "inet6");
    match word {
        // protocol 0 is the family's default protocol for the type.
        "tcp" => proto == 6 || (proto == 0 && inet && d.sock_type == "stream"),
        "udp" => proto == 17 || (proto == 0 && inet && d.sock_type == "dgram"),
        "icmp" => proto == 1,
        "icmpv6" => proto == 58,
        w => w == d.family || w == d.sock_type,
    }
}

impl ProfileRule {
    /// Does this line apply to the access in `d`? `all`: every denied permission falls under the
    /// rule (an allow that grants the access), else any (a deny that refuses part of it).
    fn applies(&self, d: &Denial, category: Category, all: bool) -> bool {
        match (&self.kind, category) {
            (RuleKind::File { qual, glob, perms }, Category::File | Category::Process) => {
                let owner = match (d.fsuid, d.ouid) {
                    (Some(f), Some(o)) => Some(f == o),
                    _ => None,
                };
                let qual_ok = match qual {
                    Qual::Any => true,
                    Qual::Owner => owner != Some(false),
                    Qual::Other => owner != Some(true),
                };
                let mask = if d.denied_mask.is_empty() { &d.requested_mask } else { &d.denied_mask };
                let mut letters = mask.chars().filter(|c| "rwacdxmkl".contains(*c)).peekable();
                let perm_ok = if letters.peek().is_none() {
                    true
                } else if all {
                    letters.all(|l| perm_covers(perms, l))
                } else {
                    letters.any(|l| perm_covers(perms, l))
                };
                qual_ok && perm_ok && glob.matches(&d.name)
            }
            (RuleKind::Network(words), Category::Network) => words.iter().all(|w| network_word_matches(w, d)),
            (RuleKind::Capability(names), Category::Capabilities) => names.is_empty() || names.contains(&d.capname),
            _ => false,
        }
    }
}

/// The parsed rule lines of one profile file, by (sub-)profile name.
#[derive(Debug, Default)]
struct ProfileFile {
    blocks: HashMap<String, Vec<ProfileRule>>,
}

impl ProfileFile {
    fn load(text: &str, map_json: &str) -> Result<ProfileFile> {
        let map = SourceMap::from_json(map_json)?;
        let mut out = ProfileFile::default();
        for (entry, line) in map.lines.iter().zip(text.lines()) {
            let Some(profile) = &entry.profile else { continue };
            let Some((deny, kind)) = parse_profile_rule(line) else { continue };
            let origins = match entry.from {
                LineFrom::Rule | LineFrom::Native => entry.origins.clone(),
                LineFrom::Base | LineFrom::Post => Vec::new(),
            };
            out.blocks.entry(profile.clone()).or_default().push(ProfileRule {
                line: entry.line,
                text: line.trim().to_string(),
                deny,
                kind,
                origins,
            });
        }
        Ok(out)
    }
}

/// What the bundle says about a record: the target whose profile logged it and the profile line
/// that decided.
#[derive(Clone, Debug)]
pub struct Decided {
    pub target: TargetEntry,
    /// The (sub-)profile that logged the record.
    pub profile: String,
    /// The deciding line (a deny line for `DENIED`, an allow line for `AUDIT`): 1-based line
    /// number in the profile file and its text. `None`: no line matched.
    pub line: Option<(usize, String)>,
    /// The policy rules behind that line (identical lines of several rules merge; the first
    /// names the alert). Empty for template lines and when no line matched.
    pub origins: Vec<RuleOrigin>,
    /// No line allows or denies the access and the category is File, Process, Network or
    /// Capabilities: the target's default posture (an allowlist) denied it.
    pub posture: bool,
}

impl Decided {
    /// `(metadata.name, kind)` of the policy behind the deciding line.
    pub fn policy(&self) -> Option<(String, String)> {
        let id = &self.origins.first()?.policy;
        let mut parts = id.splitn(3, '/');
        let kind = parts.next()?.to_string();
        let name = parts.nth(1)?.to_string();
        Some((name, kind))
    }
}

#[derive(Deserialize)]
struct Index {
    version: u32,
    targets: Vec<TargetEntry>,
}

/// A compiled bundle (`armorc compile --target all` output) read for alerts: index.json once,
/// each profile file (text + source map) on first use.
pub struct DenialMapper {
    dir: PathBuf,
    targets: Vec<TargetEntry>,
    /// By profile file (index.json `apparmor`); `None` when it could not be read.
    files: HashMap<String, Option<ProfileFile>>,
}

impl DenialMapper {
    pub fn open(dir: &Path) -> Result<DenialMapper> {
        let path = dir.join("index.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let index: Index =
            serde_json::from_str(&text).with_context(|| format!("{}: not an armorc index", path.display()))?;
        if index.version != 1 {
            bail!("{}: index version {} (this loader reads version 1)", path.display(), index.version);
        }
        Ok(DenialMapper { dir: dir.to_path_buf(), targets: index.targets, files: HashMap::new() })
    }

    fn file(&mut self, t: &TargetEntry) -> Option<&ProfileFile> {
        let (rel, map) = (t.apparmor.as_ref()?, t.apparmor_map.as_ref()?);
        let dir = &self.dir;
        self.files
            .entry(rel.clone())
            .or_insert_with(|| {
                let text = std::fs::read_to_string(dir.join(rel)).ok()?;
                let map = std::fs::read_to_string(dir.join(map)).ok()?;
                ProfileFile::load(&text, &map).ok()
            })
            .as_ref()
    }

    /// The target whose profile file defines `profile` (its own name, or one of its sub-profiles
    /// `<name>_<source>`).
    fn target_of(&mut self, profile: &str) -> Option<TargetEntry> {
        if let Some(t) = self.targets.iter().find(|t| t.apparmor_profile.as_deref() == Some(profile)) {
            return Some(t.clone());
        }
        let candidates: Vec<TargetEntry> = self
            .targets
            .iter()
            .filter(|t| t.apparmor_profile.as_deref().is_some_and(|p| profile.starts_with(&format!("{p}_"))))
            .cloned()
            .collect();
        candidates.into_iter().find(|t| self.file(t).is_some_and(|f| f.blocks.contains_key(profile)))
    }

    /// The target and deciding line of a record; `None` when no target of the bundle has the
    /// record's profile.
    pub fn decide(&mut self, d: &Denial) -> Option<Decided> {
        // `a//b` (hats, null profiles, stacks): the profile our file defines is the first part.
        let profile = d.profile.split("//").next().unwrap_or_default().to_string();
        let target = self.target_of(&profile)?;
        let category = d.category();
        let want_deny = d.denied();
        let rules: &[ProfileRule] = self.file(&target).and_then(|f| f.blocks.get(&profile)).map_or(&[], Vec::as_slice);
        // AppArmor: any matching deny line refuses, whatever allows; the first in file order names it.
        let decisive = rules.iter().find(|r| r.deny == want_deny && r.applies(d, category, !want_deny));
        let (line, origins, posture) = match decisive {
            Some(r) => (Some((r.line, r.text.clone())), r.origins.clone(), false),
            None => {
                let allowed = rules.iter().any(|r| !r.deny && r.applies(d, category, true));
                (None, Vec::new(), want_deny && !allowed && category != Category::Other)
            }
        };
        Some(Decided { target, profile, line, origins, posture })
    }

    /// The alert of a record, named from this bundle.
    pub fn alert(&mut self, d: &Denial) -> Event {
        let decided = self.decide(d);
        build_alert(d, decided.as_ref())
    }
}

/// KubeArmor's alert for an AppArmor record. With `bundle` (an `armorc compile` output
/// directory), the target (namespace, workload as PodName, container) and the policy come from
/// the profile line that decided (see [`DenialMapper`]; reuse one for a stream of records).
/// Severity, tags and message are not in the AppArmor artifacts and stay empty.
pub fn alert_from_denial(d: &Denial, bundle: Option<&Path>) -> Event {
    match bundle.and_then(|dir| DenialMapper::open(dir).ok()) {
        Some(mut m) => m.alert(d),
        None => build_alert(d, None),
    }
}

/// The process of a record, if it is still alive (same pid and comm).
#[derive(Default)]
struct Live {
    exe: Option<String>,
    ppid: Option<u32>,
    ns_pid: Option<u32>,
    uid: Option<u32>,
}

fn live_process(pid: u32, comm: &str) -> Live {
    if pid == 0 {
        return Live::default();
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let live_comm = std::fs::read_to_string(proc_dir.join("comm")).unwrap_or_default();
    if live_comm.trim_end_matches('\n') != comm {
        return Live::default();
    }
    let status = std::fs::read_to_string(proc_dir.join("status")).unwrap_or_default();
    let field = |name: &str| -> Option<Vec<u32>> {
        let line = status.lines().find_map(|l| l.strip_prefix(name))?;
        Some(line.split_whitespace().filter_map(|v| v.parse().ok()).collect())
    };
    Live {
        exe: std::fs::read_link(proc_dir.join("exe")).ok().map(|p| p.to_string_lossy().into_owned()),
        ppid: field("PPid:").and_then(|v| v.first().copied()),
        ns_pid: field("NSpid:").and_then(|v| v.last().copied()),
        uid: field("Uid:").and_then(|v| v.first().copied()),
    }
}

fn sock_type_name(t: &str) -> String {
    match t {
        "stream" => "SOCK_STREAM".into(),
        "dgram" => "SOCK_DGRAM".into(),
        "raw" => "SOCK_RAW".into(),
        "rdm" => "SOCK_RDM".into(),
        "seqpacket" => "SOCK_SEQPACKET".into(),
        "packet" => "SOCK_PACKET".into(),
        other => other.to_string(),
    }
}

fn build_alert(d: &Denial, decided: Option<&Decided>) -> Event {
    let (secs, nanos) = if d.secs > 0 {
        (d.secs, d.millis * 1_000_000)
    } else {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (now.as_secs() as i64, now.subsec_nanos())
    };
    let live = live_process(d.pid, &d.comm);
    let category = d.category();
    let process_name = live.exe.clone().unwrap_or_else(|| d.comm.clone());
    let mut a = Event {
        timestamp: secs,
        updated_time: crate::events::rfc3339(secs, nanos),
        cluster_name: "default".into(),
        host_name: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        host_pid: d.pid,
        host_ppid: live.ppid.unwrap_or(0),
        pid: live.ns_pid.unwrap_or(0),
        uid: live.uid.or(d.fsuid).unwrap_or(0),
        parent_process_name: live
            .ppid
            .and_then(|pp| std::fs::read_link(format!("/proc/{pp}/exe")).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        source: process_name.clone(),
        process_name,
        operation: category.operation().into(),
        resource: match category {
            Category::Network => format!(
                "type={} protocol={}",
                sock_type_name(&d.sock_type),
                d.protocol.map_or(String::new(), |p| p.to_string())
            ),
            Category::Capabilities => format!("cap={}", d.capname),
            _ => d.name.clone(),
        },
        enforcer: "AppArmor".into(),
        kind: "MatchedPolicy".into(),
        ..Event::default()
    };
    let mut data = format!("lsm=AppArmor operation={}", d.operation);
    for (key, value) in [("requested_mask", &d.requested_mask), ("denied_mask", &d.denied_mask), ("info", &d.info)] {
        if !value.is_empty() {
            data.push_str(&format!(" {key}={value:?}"));
        }
    }
    a.data = data;
    if d.denied() {
        a.action = "Block".into();
        a.result = "Permission denied".into();
    } else {
        a.action = "Audit".into();
        a.result = "Passed".into();
    }
    if let Some(dec) = decided {
        let t = &dec.target;
        if t.host {
            a.kind = "MatchedHostPolicy".into();
        } else {
            a.namespace_name = t.namespace.clone().unwrap_or_default();
            // index.json names the workload, not the pod.
            a.pod_name = t.workload.clone().unwrap_or_default();
            a.container_name = t.container.clone().unwrap_or_default();
        }
        if let Some((name, _kind)) = dec.policy() {
            a.policy_name = name;
        } else if dec.posture {
            a.policy_name = "DefaultPosture".into();
        }
    }
    a
}

// ---------------------------------------------------------------------------------------------
// /dev/kmsg

/// Read the kernel log from /dev/kmsg and call `f` for every AppArmor `DENIED`/`AUDIT` record:
/// the records still in the ring buffer first, then (with `follow`) new ones as they arrive,
/// until an error. Records overwritten before they were read are skipped. Needs CAP_SYSLOG when
/// kernel.dmesg_restrict is 1.
pub fn read_kmsg(follow: bool, mut f: impl FnMut(Denial)) -> Result<()> {
    use std::io::{ErrorKind, Read};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let mut kmsg = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .context("opening /dev/kmsg")?;
    // One record per read; records are at most 8 KiB (CONSOLE_EXT_LOG_MAX).
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match kmsg.read(&mut buf) {
            Ok(n) if n > 0 => {
                if let Some(d) = parse_denial(&String::from_utf8_lossy(&buf[..n])) {
                    f(d);
                }
            }
            Ok(_) => {
                if !follow {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if !follow {
                    return Ok(());
                }
                let mut pfd = libc::pollfd { fd: kmsg.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: pfd is one live pollfd (nfds = 1) on kmsg, open for the whole loop; poll
                // only writes its revents. EINTR and spurious wake-ups just read again.
                unsafe { libc::poll(&mut pfd, 1, -1) };
            }
            // Records were overwritten since the last read: the next read continues after them.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading /dev/kmsg"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHADOW: &str = "6,1234,5678,-;audit: type=1400 audit(1700000000.123:45): apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"kubearmor-lab-demo-main\" name=\"/etc/shadow\" pid=147 comm=\"cat\" requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0";
    const EXEC: &str = "6,1240,5700,-;audit: type=1400 audit(1700000001.500:46): apparmor=\"DENIED\" operation=\"exec\" class=\"file\" profile=\"kubearmor-lab-demo-main\" name=\"/usr/bin/apt\" pid=150 comm=\"bash\" requested_mask=\"x\" denied_mask=\"x\" fsuid=0 ouid=0";
    const UDP: &str = "4,1241,5800,-;audit: type=1400 audit(1700000002.007:47): apparmor=\"DENIED\" operation=\"create\" class=\"net\" profile=\"kubearmor-lab-demo-main\" pid=151 comm=\"nc\" family=\"inet\" sock_type=\"dgram\" protocol=17 requested_mask=\"create\" denied_mask=\"create\"";
    const CAP: &str = "4,1242,5900,-;audit: type=1400 audit(1700000003.999:48): apparmor=\"DENIED\" operation=\"capable\" class=\"cap\" profile=\"kubearmor-lab-demo-main\" pid=152 comm=\"ping\" capability=13  capname=\"net_raw\"";
    /// `/root/secret dir/key` and comm `my cat`, hex-encoded (they hold spaces).
    const HEX: &str = "6,1243,6000,-;audit: type=1400 audit(1700000004.010:49): apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"kubearmor-lab-demo-main\" name=2F726F6F742F73656372657420646972 2F6B6579 pid=153 comm=6D7920636174 requested_mask=\"r\" denied_mask=\"r\" fsuid=1000 ouid=0";

    fn with(line: &str, from: &str, to: &str) -> Denial {
        parse_denial(&line.replace(from, to)).unwrap()
    }

    #[test]
    fn parses_file_exec_network_and_capability_records() {
        let d = parse_denial(SHADOW).unwrap();
        assert_eq!((d.verdict.as_str(), d.operation.as_str(), d.class.as_str()), ("DENIED", "open", "file"));
        assert_eq!((d.secs, d.millis, d.serial), (1_700_000_000, 123, 45));
        assert_eq!(d.profile, "kubearmor-lab-demo-main");
        assert_eq!((d.name.as_str(), d.pid, d.comm.as_str()), ("/etc/shadow", 147, "cat"));
        assert_eq!((d.requested_mask.as_str(), d.denied_mask.as_str()), ("r", "r"));
        assert_eq!((d.fsuid, d.ouid), (Some(0), Some(0)));
        assert_eq!(d.category(), Category::File);
        assert_eq!(d.fields.first(), Some(&("apparmor".to_string(), "DENIED".to_string())));

        let e = parse_denial(EXEC).unwrap();
        assert_eq!((e.operation.as_str(), e.name.as_str(), e.denied_mask.as_str()), ("exec", "/usr/bin/apt", "x"));
        assert_eq!(e.category(), Category::Process);

        let n = parse_denial(UDP).unwrap();
        assert_eq!((n.family.as_str(), n.sock_type.as_str(), n.protocol), ("inet", "dgram", Some(17)));
        assert_eq!((n.millis, n.category()), (7, Category::Network));

        let c = parse_denial(CAP).unwrap();
        assert_eq!((c.capability, c.capname.as_str(), c.category()), (Some(13), "net_raw", Category::Capabilities));
    }

    #[test]
    fn hex_encoded_values_are_decoded() {
        // The kernel prints one hex run; split above only to keep the line short.
        let d = parse_denial(&HEX.replace("646972 2F", "6469722F")).unwrap();
        assert_eq!(d.name, "/root/secret dir/key");
        assert_eq!(d.comm, "my cat");
        assert_eq!(d.pid, 153, "numbers are never hex-decoded");
        let d = with(SHADOW, "name=\"/etc/shadow\"", "name=2F746D702F6D792066696C65");
        assert_eq!(d.name, "/tmp/my file");
        let d = with(SHADOW, "profile=\"kubearmor-lab-demo-main\"", "profile=6120622F2F63");
        assert_eq!(d.profile, "a b//c");
        // Odd length or not hex: kept as written.
        assert_eq!(with(SHADOW, "name=\"/etc/shadow\"", "name=ABC").name, "ABC");
        assert_eq!(with(SHADOW, "name=\"/etc/shadow\"", "name=?").name, "?");
        // /dev/kmsg escapes `\` in messages as \x5c.
        assert_eq!(with(SHADOW, "name=\"/etc/shadow\"", "name=\"/data/a\\x5cb\"").name, "/data/a\\b");
    }

    #[test]
    fn other_log_formats_and_verdicts() {
        let body = &SHADOW[SHADOW.find("audit(").unwrap()..];
        // audit.log (auditd), with its enrichment after \x1d.
        let d = parse_denial(&format!("type=AVC msg={body}\x1dFSUID=\"root\" OUID=\"root\"")).unwrap();
        assert_eq!((d.name.as_str(), d.secs, d.fields.len()), ("/etc/shadow", 1_700_000_000, 11));
        // dmesg and journal lines.
        assert_eq!(parse_denial(&format!("[  123.456789] audit: type=1400 {body}")).unwrap().pid, 147);
        assert_eq!(parse_denial(&format!("Nov 14 22:13:20 node kernel: audit: type=1400 {body}")).unwrap().pid, 147);
        // A kmsg record with continuation (dictionary) lines.
        assert_eq!(parse_denial(&format!("{SHADOW}\n SUBSYSTEM=audit\n")).unwrap().comm, "cat");
        // Audited allows are records too; complain-mode, status and other lines are not.
        let a = with(SHADOW, "apparmor=\"DENIED\"", "apparmor=\"AUDIT\"");
        assert!(!a.denied());
        assert!(parse_denial(&SHADOW.replace("DENIED", "ALLOWED")).is_none());
        assert!(parse_denial("6,1,2,-;audit: type=1400 audit(1700000000.000:1): apparmor=\"STATUS\" operation=\"profile_load\" profile=\"unconfined\" name=\"kubearmor-lab-demo-main\" pid=99 comm=\"apparmor_parser\"").is_none());
        assert!(parse_denial("6,1,2,-;eth0: link up").is_none());
        assert!(parse_denial("").is_none());
    }

    #[test]
    fn globs_match_as_apparmor_parser_compiles_them() {
        let table: &[(&str, &str, bool)] = &[
            ("/etc/shadow", "/etc/shadow", true),
            ("/etc/shadow", "/etc/shadow-", false),
            // `*`: not `/`; as a whole component at least one character.
            ("/etc/*", "/etc/passwd", true),
            ("/etc/*", "/etc/", false),
            ("/etc/*", "/etc/ssl/certs", false),
            ("/etc/*.conf", "/etc/.conf", true),
            ("/bin/*sh", "/bin/sh", true),
            ("/*/x", "//x", false),
            ("/etc/*/", "/etc/ssl/", true),
            ("/etc/*/", "/etc//", false),
            // `**`: anything including `/`.
            ("/var/**", "/var/log/syslog", true),
            ("/var/**", "/var/", false),
            ("/var/**", "/var", false),
            ("/**/nc", "/usr/bin/nc", true),
            ("/**/nc", "/nc", false),
            ("/**/nc", "/usr/bin/ncat", false),
            ("/a/**/z", "/a/b/c/z", true),
            ("/a/**/z", "/a/z", false),
            ("/a**", "/a/b/c", true),
            ("/a**", "/a", true),
            // `?`.
            ("/tmp/file?", "/tmp/file1", true),
            ("/tmp/file?", "/tmp/file", false),
            ("/tmp/a?b", "/tmp/a/b", false),
            // Classes.
            ("/dev/tty[0-9]", "/dev/tty5", true),
            ("/dev/tty[0-9]", "/dev/ttyS", false),
            ("/dev/tty[^0-9]", "/dev/ttyS", true),
            ("/dev/tty[^0-9]", "/dev/tty1", false),
            ("/dev/sd[abc]", "/dev/sdc", true),
            ("/dev/sd[abc]", "/dev/sdd", false),
            ("/sys/[^f]*/**", "/sys/kernel/x", true),
            ("/sys/[^f]*/**", "/sys/fs/x", false),
            ("/x/[]a]", "/x/]", true),
            // Alternation, nested, with empty alternatives (the directory suffixes).
            ("/etc/{passwd,group}", "/etc/group", true),
            ("/etc/{passwd,group}", "/etc/shadow", false),
            ("/etc/{,*}", "/etc/", true),
            ("/etc/{,*}", "/etc/hosts", true),
            ("/etc/{,*}", "/etc/ssl/x", false),
            ("/etc/{,**}", "/etc/ssl/x", true),
            ("/etc/{,**}", "/etc", false),
            ("/{usr/,}bin/*sh", "/usr/bin/bash", true),
            ("/{usr/,}bin/*sh", "/sbin/sh", false),
            ("/a/{b,c{d,e}}", "/a/ce", true),
            ("/a/{b,c{d,e}}", "/a/c", false),
            // Escapes (the lowering escapes literal paths).
            ("/data/a\\*b", "/data/a*b", true),
            ("/data/a\\*b", "/data/axb", false),
            ("/data/\\{x\\}", "/data/{x}", true),
            ("/data/star\\*and\\?\\[x\\]\\{y\\}", "/data/star*and?[x]{y}", true),
            // Variables of the tunables, runs of `/` folded.
            ("@{PROC}/*/status", "/proc/12/status", true),
            ("@{PROC}/@{pid}/status", "/proc/4242/status", true),
            ("@{PROC}/@{pid}/status", "/proc/self/status", false),
            ("@{HOME}/.ssh/**", "/home/u/.ssh/id", true),
            ("@{HOME}/.ssh/**", "/root/.ssh/id", true),
            ("/usr/lib/@{multiarch}/*.so", "/usr/lib/x86_64-linux-gnu/libc.so", true),
            ("/a//b", "/a/b", true),
        ];
        let mut failures = Vec::new();
        for &(glob, path, expected) in table {
            if glob_matches(glob, path) != expected {
                failures.push(format!("{glob} ~ {path}: expected {expected}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        // Long paths against many stars stay linear.
        let long = format!("/{}", "a/".repeat(2000));
        assert!(!glob_matches("/**a*a*a*a*a*a*a*a*a*b", &long));
    }

    #[test]
    fn profile_lines_parse_like_ours() {
        let (deny, kind) = parse_profile_rule("  audit deny \"/root/secret dir/{,**}\" klmrw,").unwrap();
        let RuleKind::File { qual, glob, perms } = kind else { panic!() };
        assert!(deny && qual == Qual::Any && perms == "klmrw" && glob.matches("/root/secret dir/key"));
        let (deny, kind) = parse_profile_rule("audit deny other /bin/x x,").unwrap();
        assert!(deny && matches!(kind, RuleKind::File { qual: Qual::Other, .. }));
        let (deny, kind) = parse_profile_rule("/usr/bin/curl px -> kubearmor-x_usr_bin_curl,").unwrap();
        assert!(!deny && matches!(kind, RuleKind::File { ref perms, .. } if perms == "px"));
        assert!(
            matches!(parse_profile_rule("audit deny network udp,"), Some((true, RuleKind::Network(w))) if w == ["udp"])
        );
        assert!(matches!(parse_profile_rule("capability,"), Some((false, RuleKind::Capability(w))) if w.is_empty()));
        assert!(matches!(parse_profile_rule("file,"), Some((false, RuleKind::File { .. }))));
        // Escaped backslash written as octal inside quotes stays a literal backslash.
        let (_, kind) = parse_profile_rule("deny \"/data/a\\134b c\" r,").unwrap();
        assert!(matches!(kind, RuleKind::File { glob, .. } if glob.matches("/data/a\\b c")));
        for other in ["deny mount,", "#include <abstractions/base>", "profile x {", "}", "signal,", ""] {
            assert!(parse_profile_rule(other).is_none(), "{other}");
        }
    }

    const POLICIES: &str = "\
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-secrets
  namespace: lab
spec:
  severity: 7
  selector:
    matchLabels:
      app: demo
  file:
    matchPaths:
      - path: /etc/shadow
    matchDirectories:
      - dir: /root/secret dir/
        recursive: true
  process:
    matchPaths:
      - path: /usr/bin/apt
  network:
    matchProtocols:
      - protocol: udp
  capabilities:
    matchCapabilities:
      - capability: net_raw
  action: Block
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: curl-no-hostname
  namespace: lab
spec:
  selector:
    matchLabels:
      app: demo
  file:
    matchPaths:
      - path: /etc/hostname
        fromSource:
          - path: /usr/bin/curl
  action: Block
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: app-only
  namespace: lab
spec:
  selector:
    matchLabels:
      app: locked
  file:
    matchDirectories:
      - dir: /app/
        recursive: true
  action: Allow
";

    /// An `armorc compile --target apparmor` output with two targets, written from the real
    /// lowering: lab/demo/main (block rules, audit posture) and lab/locked/main (file allowlist,
    /// block posture).
    fn bundle() -> tempfile::TempDir {
        use armorc_compiler::compose::{Enforcement, Posture, PostureAction, Target};
        let checked = armorc_compiler::check_source(armorc_compiler::source::SourceFile::new("p.yaml", POLICIES));
        assert_eq!(checked.policies.len(), 3, "{:?}", checked.diagnostics);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("apparmor")).unwrap();
        let mut entries = Vec::new();
        for (workload, posture, applied) in
            [("demo", PostureAction::Audit, &[0usize, 1][..]), ("locked", PostureAction::Block, &[2][..])]
        {
            let target = Target {
                namespace: Some("lab".into()),
                workload: Some(workload.into()),
                workload_kind: Some("Deployment".into()),
                container: Some("main".into()),
                host: false,
                enforcement: Enforcement::Enabled,
                posture: Posture { file: posture, network: posture, capabilities: posture },
                policies: (0..applied.len()).collect(),
            };
            let refs: Vec<&armorc_compiler::ir::Policy> = applied.iter().map(|&i| &checked.policies[i]).collect();
            let p = armorc_compiler::lower::apparmor::lower_target(&target, &refs);
            std::fs::write(dir.path().join("apparmor").join(&p.file_name), &p.text).unwrap();
            std::fs::write(dir.path().join(format!("apparmor/{}.map.json", p.file_name)), &p.map_json).unwrap();
            entries.push(serde_json::json!({
                "namespace": "lab", "workload": workload, "workload_kind": "Deployment", "container": "main",
                "host": false, "enforcement": "enabled", "bpf": null,
                "apparmor": format!("apparmor/{}", p.file_name),
                "apparmor_map": format!("apparmor/{}.map.json", p.file_name),
                "apparmor_profile": p.name,
                "policies": refs.iter().map(|p| p.id()).collect::<Vec<_>>(),
            }));
        }
        let index = serde_json::json!({ "version": 1, "targets": entries });
        std::fs::write(dir.path().join("index.json"), serde_json::to_string_pretty(&index).unwrap()).unwrap();
        dir
    }

    #[test]
    fn alerts_name_the_rule_that_denied() {
        let out = bundle();
        let b = Some(out.path());
        let a = alert_from_denial(&parse_denial(SHADOW).unwrap(), b);
        assert_eq!(a.policy_name, "block-secrets");
        assert_eq!(
            (a.namespace_name.as_str(), a.pod_name.as_str(), a.container_name.as_str()),
            ("lab", "demo", "main")
        );
        assert_eq!((a.operation.as_str(), a.resource.as_str()), ("File", "/etc/shadow"));
        assert_eq!(
            (a.enforcer.as_str(), a.action.as_str(), a.result.as_str()),
            ("AppArmor", "Block", "Permission denied")
        );
        assert_eq!((a.timestamp, a.updated_time.as_str()), (1_700_000_000, "2023-11-14T22:13:20.123000Z"));
        assert_eq!((a.host_pid, a.kind.as_str()), (147, "MatchedPolicy"));
        assert_eq!(a.data, "lsm=AppArmor operation=open requested_mask=\"r\" denied_mask=\"r\"");
        assert!(a.severity.is_empty() && a.tags.is_empty() && a.message.is_empty());

        let mut m = DenialMapper::open(out.path()).unwrap();
        let decided = m.decide(&parse_denial(SHADOW).unwrap()).unwrap();
        let (n, text) = decided.line.clone().unwrap();
        assert_eq!(text, "audit deny /etc/shadow klmrw,");
        assert_eq!(decided.policy(), Some(("block-secrets".into(), "KubeArmorPolicy".into())));
        assert_eq!(decided.origins[0].at, "spec.file.matchPaths[0]");
        let profile = std::fs::read_to_string(out.path().join("apparmor/kubearmor-lab-demo-main")).unwrap();
        assert_eq!(profile.lines().nth(n - 1).map(str::trim), Some(text.as_str()));

        let hex = parse_denial(&HEX.replace("646972 2F", "6469722F")).unwrap();
        let a = m.alert(&hex);
        assert_eq!((a.resource.as_str(), a.policy_name.as_str()), ("/root/secret dir/key", "block-secrets"));
        assert_eq!(m.decide(&hex).unwrap().origins[0].at, "spec.file.matchDirectories[0]");

        let a = m.alert(&parse_denial(EXEC).unwrap());
        assert_eq!(
            (a.operation.as_str(), a.resource.as_str(), a.policy_name.as_str()),
            ("Process", "/usr/bin/apt", "block-secrets")
        );
        let a = m.alert(&parse_denial(UDP).unwrap());
        assert_eq!((a.operation.as_str(), a.resource.as_str()), ("Network", "type=SOCK_DGRAM protocol=17"));
        assert_eq!(a.policy_name, "block-secrets");
        let a = m.alert(&parse_denial(CAP).unwrap());
        assert_eq!(
            (a.operation.as_str(), a.resource.as_str(), a.policy_name.as_str()),
            ("Capabilities", "cap=net_raw", "block-secrets")
        );
        assert_eq!(a.updated_time, "2023-11-14T22:13:23.999000Z");
    }

    #[test]
    fn sub_profiles_postures_and_unknown_profiles() {
        let out = bundle();
        let mut m = DenialMapper::open(out.path()).unwrap();
        // curl's sub-profile: the fromSource rule.
        let sub = "kubearmor-lab-demo-main_usr_bin_curl";
        let curl = with(SHADOW, "name=\"/etc/shadow\"", "name=\"/etc/hostname\"");
        let curl = Denial { profile: sub.into(), comm: "curl".into(), ..curl };
        let decided = m.decide(&curl).unwrap();
        assert_eq!(decided.profile, sub);
        assert_eq!(decided.policy().unwrap().0, "curl-no-hostname");
        assert_eq!(m.alert(&curl).container_name, "main");
        // Global rules apply in the sub-profile too.
        let d = Denial { profile: sub.into(), ..parse_denial(SHADOW).unwrap() };
        assert_eq!(m.alert(&d).policy_name, "block-secrets");
        // In the container's own profile no line denies /etc/hostname and `file,` allows it: no
        // guess (the record cannot come from this bundle's rules).
        let d = with(SHADOW, "name=\"/etc/shadow\"", "name=\"/etc/hostname\"");
        let decided = m.decide(&d).unwrap();
        assert!(decided.line.is_none() && !decided.posture);
        assert_eq!(m.alert(&d).policy_name, "");
        // A write of /etc/shadow is denied by the same line (any denied permission).
        let w = with(SHADOW, "denied_mask=\"r\"", "denied_mask=\"wc\"");
        assert_eq!(m.alert(&w).policy_name, "block-secrets");

        // File allowlist with block posture: nothing allows /etc/passwd -> DefaultPosture.
        let locked = with(SHADOW, "kubearmor-lab-demo-main", "kubearmor-lab-locked-main");
        let locked = Denial { name: "/etc/passwd".into(), ..locked };
        let a = m.alert(&locked);
        assert_eq!((a.policy_name.as_str(), a.pod_name.as_str()), ("DefaultPosture", "locked"));
        assert!(m.decide(&locked).unwrap().line.is_none());
        // Under /app/ the allow rule covers the access, so a denial there is none of the posture's.
        let app = Denial { name: "/app/data".into(), ..locked.clone() };
        assert_eq!(m.alert(&app).policy_name, "");
        // Capabilities are not in allowlist mode there (`capability,` header).
        let cap = with(CAP, "kubearmor-lab-demo-main", "kubearmor-lab-locked-main");
        assert_eq!(m.alert(&cap).policy_name, "");

        // A profile no target has, and no bundle at all: the record's own fields only.
        let stranger = with(SHADOW, "kubearmor-lab-demo-main", "some-other-profile");
        assert!(m.decide(&stranger).is_none());
        for a in [m.alert(&stranger), alert_from_denial(&parse_denial(SHADOW).unwrap(), None)] {
            assert_eq!((a.policy_name.as_str(), a.namespace_name.as_str()), ("", ""));
            assert_eq!(
                (a.operation.as_str(), a.resource.as_str(), a.action.as_str()),
                ("File", "/etc/shadow", "Block")
            );
        }
        // An audited allow is no block.
        let audit = with(SHADOW, "apparmor=\"DENIED\"", "apparmor=\"AUDIT\"");
        let a = m.alert(&audit);
        assert_eq!((a.action.as_str(), a.result.as_str(), a.policy_name.as_str()), ("Audit", "Passed", ""));
    }

    #[test]
    fn live_processes_fill_pids_and_the_executable() {
        let me = std::process::id();
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap().trim_end().to_string();
        let d = Denial { pid: me, comm: comm.clone(), ..parse_denial(SHADOW).unwrap() };
        let a = alert_from_denial(&d, None);
        assert_eq!(a.process_name, std::env::current_exe().unwrap().to_string_lossy());
        assert!(a.host_ppid > 0 && a.pid > 0);
        // Same pid, other comm: the pid was reused; nothing is read from /proc.
        let other = Denial { comm: format!("{comm}x"), ..d };
        assert_eq!(alert_from_denial(&other, None).process_name, format!("{comm}x"));
    }

    #[test]
    fn reading_kmsg_without_follow_ends() {
        if std::fs::File::open("/dev/kmsg").is_err() {
            eprintln!("SKIP: /dev/kmsg not readable");
            return;
        }
        let mut n = 0;
        read_kmsg(false, |_| n += 1).unwrap();
        println!("{n} AppArmor records in the kernel log");
    }
}
