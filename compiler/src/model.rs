//! The reference decision model: what our BPF-LSM programs decide for one query against one map
//! image. It mirrors bpf/decide.h step by step (same lookup order, same walk, same verdict
//! branches), so `armor-loader verify` can compare it with the kernel query by query.
//! Semantics and deviations from KubeArmor: docs/semantics.md "## BPF-LSM".

use crate::image::*;
use std::collections::HashMap;

/// What an AppArmor profile decides, from its text (the other enforcer the divergence analysis
/// compares this model with).
pub mod apparmor;

/// What Landlock decides with a compiled plan applied (`armorc query --enforcer landlock`).
pub mod landlock;

/// Longest argument (bytes) the kernel hashes for allowedArgs, and how many arguments it checks.
pub const MAX_ARG_LEN: usize = 104;
pub const MAX_ARGS: usize = 20;
/// Directory levels the walk considers (prefixes ending in `/`, shallowest first).
pub const MAX_DIRS: usize = 64;

/// Which hooks decide (issue 3 item 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Exec,
    Open,
    Write,
    Unlink,
    Mkdir,
    Rmdir,
    Rename,
    Chmod,
    Truncate,
    Link,
    Symlink,
    Mknod,
    Socket,
    Capable,
}

impl Op {
    pub const ALL: [Op; 14] = [
        Op::Exec,
        Op::Open,
        Op::Write,
        Op::Unlink,
        Op::Mkdir,
        Op::Rmdir,
        Op::Rename,
        Op::Chmod,
        Op::Truncate,
        Op::Link,
        Op::Symlink,
        Op::Mknod,
        Op::Socket,
        Op::Capable,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Op::Exec => "exec",
            Op::Open => "open",
            Op::Write => "write",
            Op::Unlink => "unlink",
            Op::Mkdir => "mkdir",
            Op::Rmdir => "rmdir",
            Op::Rename => "rename",
            Op::Chmod => "chmod",
            Op::Truncate => "truncate",
            Op::Link => "link",
            Op::Symlink => "symlink",
            Op::Mknod => "mknod",
            Op::Socket => "socket",
            Op::Capable => "capable",
        }
    }
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == s)
    }
    /// The op number bpf/armor.h uses (OP_*).
    pub fn code(self) -> u8 {
        Op::ALL.iter().position(|&o| o == self).expect("Op::ALL lists every op") as u8 + 1
    }
    /// Ops that look up a path.
    pub fn has_path(self) -> bool {
        !matches!(self, Op::Socket | Op::Capable)
    }
}

/// One query, already parsed (see crate::query for the JSON line form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub op: Op,
    pub path: Vec<u8>,
    /// Executable of the task (for `exec`: of the parent). Empty = none: only global entries match.
    pub source: Vec<u8>,
    pub owner: bool,
    pub tty: bool,
    /// argv[1..] (argv[0] is never checked).
    pub args: Vec<Vec<u8>>,
    /// SOCK_* number (0 = not given).
    pub sock_type: u32,
    /// IPPROTO_* number (0 = not given).
    pub protocol: u32,
    /// CAP_* number.
    pub capability: u32,
    /// For `socket`: what is done with the new socket next (connect to or bind a port). BPF-LSM
    /// decides only the socket's creation; Landlock decides TCP connect and bind.
    pub call: Option<SocketCall>,
}

/// A socket's next system call, on an IPv4 or IPv6 socket (`connect`/`bind` of a query line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketCall {
    Connect(u16),
    Bind(u16),
}

impl Query {
    pub fn new(op: Op) -> Query {
        Query {
            op,
            path: Vec::new(),
            source: Vec::new(),
            owner: false,
            tty: false,
            args: Vec::new(),
            sock_type: 0,
            protocol: 0,
            capability: 0,
            call: None,
        }
    }
}

/// The lookup that matched (bpf/armor.h STEP_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    None = 0,
    ExactSource = 1,
    DirSource = 2,
    Exact = 3,
    Execname = 4,
    Dir = 5,
    TypeSource = 6,
    ProtoSource = 7,
    Type = 8,
    Proto = 9,
    CapSource = 10,
    Cap = 11,
}

impl Step {
    const ALL: [Step; 12] = [
        Step::None,
        Step::ExactSource,
        Step::DirSource,
        Step::Exact,
        Step::Execname,
        Step::Dir,
        Step::TypeSource,
        Step::ProtoSource,
        Step::Type,
        Step::Proto,
        Step::CapSource,
        Step::Cap,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Step::None => "none",
            Step::ExactSource => "exact+source",
            Step::DirSource => "dir+source",
            Step::Exact => "exact",
            Step::Execname => "execname",
            Step::Dir => "dir",
            Step::TypeSource => "type+source",
            Step::ProtoSource => "protocol+source",
            Step::Type => "type",
            Step::Proto => "protocol",
            Step::CapSource => "capability+source",
            Step::Cap => "capability",
        }
    }
}

/// Who decided (bpf/armor.h BY_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum By {
    Default = 0,
    Rule = 1,
    Posture = 2,
}

impl By {
    pub fn name(self) -> &'static str {
        match self {
            By::Default => "default",
            By::Rule => "rule",
            By::Posture => "posture",
        }
    }
}

/// A decision. `rule` indexes the image's provenance table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    pub deny: bool,
    /// Only for a posture-audit allow.
    pub audit: bool,
    pub by: By,
    pub step: Step,
    pub rule: Option<u32>,
}

/// Rule indexes at or above this do not fit the kernel's result word and are reported as none.
const RULE_LIMIT: u32 = 0x00ff_ffff;

impl Decision {
    fn new(deny: bool, audit: bool, by: By, step: Step, rule: u32) -> Decision {
        let rule = if rule >= RULE_LIMIT { None } else { Some(rule) };
        Decision { deny, audit, by, step, rule }
    }
    /// The kernel's result word (bpf/armor.h): bit 0 deny, bit 1 audit, bits 2-3 by,
    /// bits 4-7 step, bits 8-31 rule index + 1.
    pub fn to_word(&self) -> u32 {
        (self.deny as u32)
            | (self.audit as u32) << 1
            | (self.by as u32) << 2
            | (self.step as u32) << 4
            | self.rule.map(|r| r + 1).unwrap_or(0) << 8
    }
    pub fn from_word(w: u32) -> Option<Decision> {
        let by = match (w >> 2) & 3 {
            0 => By::Default,
            1 => By::Rule,
            2 => By::Posture,
            _ => return None,
        };
        let step = *Step::ALL.get(((w >> 4) & 0xf) as usize)?;
        let rule = match w >> 8 {
            0 => None,
            r => Some(r - 1),
        };
        Some(Decision { deny: w & 1 != 0, audit: w & 2 != 0, by, step, rule })
    }
}

/// An LSM hook of a real operation (bpf/lsm.bpf.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    FileOpen,
    FilePermission,
    Bprm,
    /// path_unlink, path_mkdir, ... (the op names the hook)
    Path(Op),
    /// socket_create (socket_connect and socket_accept decide the same)
    Socket,
    Capable,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::FileOpen => "file_open",
            Hook::FilePermission => "file_permission",
            Hook::Bprm => "bprm_check_security",
            Hook::Path(Op::Unlink) => "path_unlink",
            Hook::Path(Op::Mkdir) => "path_mkdir",
            Hook::Path(Op::Rmdir) => "path_rmdir",
            Hook::Path(Op::Rename) => "path_rename",
            Hook::Path(Op::Chmod) => "path_chmod",
            Hook::Path(Op::Truncate) => "path_truncate",
            Hook::Path(Op::Link) => "path_link",
            Hook::Path(Op::Symlink) => "path_symlink",
            Hook::Path(Op::Mknod) => "path_mknod",
            Hook::Path(_) => "path",
            Hook::Socket => "socket_create",
            Hook::Capable => "capable",
        }
    }
}

/// A real operation's answer and the hook-by-hook decisions behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub decision: Decision,
    pub hooks: Vec<(Hook, Decision)>,
}

/// A map image loaded for lookups, as the kernel holds it (key -> value).
pub struct Model {
    map: HashMap<Key, Value, foldhash::fast::FixedState>,
    /// The last path hashed and its hashes: queries come several per path. (A mutex keeps a
    /// model shareable between threads, as the fuzz target's static one is.)
    last: std::sync::Mutex<Option<(Vec<u8>, std::sync::Arc<Hashed>)>>,
}

/// One '/'-prefix of a path and the hashes the kernel snapshots there.
struct Prefix {
    len: u32,
    a: u64,
    b: u64,
}

struct Hashed {
    len: u32,
    a: u64,
    b: u64,
    dirs: Vec<Prefix>,
    base: Key,
}

fn hash_path(path: &[u8]) -> Hashed {
    let (mut ha, mut hb) = (hash_a(b""), hash_b(b""));
    let mut dirs = Vec::new();
    let mut base_start = 0;
    for (i, &c) in path.iter().enumerate() {
        ha = hash_a_step(ha, c);
        hb = hash_b_step(hb, c);
        if c == b'/' {
            if dirs.len() < MAX_DIRS {
                dirs.push(Prefix { len: i as u32 + 1, a: ha, b: hb });
            }
            base_start = i + 1;
        }
    }
    let base = Key::path(KIND_EXECNAME, &path[base_start..], None);
    Hashed { len: path.len() as u32, a: ha, b: hb, dirs, base }
}

struct Hit {
    value: Value,
    step: Step,
    source: u64,
}

impl Model {
    pub fn new(image: &MapImage) -> Model {
        // last writer wins, as when the entries are written into the kernel map in order
        let mut map = HashMap::with_capacity_and_hasher(image.entries.len(), Default::default());
        map.extend(image.entries.iter().map(|e| (e.key, e.value)));
        Model { map, last: Default::default() }
    }

    /// `hash_path(path)`, remembered for the next query of the same path.
    fn hashed(&self, path: &[u8]) -> std::sync::Arc<Hashed> {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((p, h)) = &*last {
            if p == path {
                return h.clone();
            }
        }
        let h = std::sync::Arc::new(hash_path(path));
        *last = Some((path.to_vec(), h.clone()));
        h
    }

    fn get(&self, k: &Key) -> Option<Value> {
        self.map.get(k).copied()
    }

    /// Source hash of the query's source (0 = none).
    fn source(q: &Query) -> u64 {
        if q.source.is_empty() {
            0
        } else {
            source_hash(&q.source)
        }
    }

    pub fn decide(&self, q: &Query) -> Decision {
        match q.op {
            Op::Exec => self.decide_exec(q),
            Op::Socket => self.decide_net(q),
            Op::Capable => self.decide_cap(q),
            _ => self.decide_file(q),
        }
    }

    /// What a real system call gets: every LSM hook the kernel runs for it, in order, each
    /// decided as `decide` decides that hook; the first denial is the call's answer (the kernel
    /// stops there), else the last hook's. An execve opens the file it runs (file_open, with the
    /// caller's executable as the source) before bprm_check_security, which cannot read argv;
    /// a write is an open then a write permission check.
    pub fn decide_operation(&self, q: &Query) -> Operation {
        let hooks = match q.op {
            Op::Exec => {
                let open = Query { op: Op::Open, args: Vec::new(), ..q.clone() };
                vec![(Hook::FileOpen, self.decide(&open)), (Hook::Bprm, self.decide_exec_args(q, false))]
            }
            Op::Write => {
                let h = self.hashed(&q.path);
                let hit = self.lookup_path(&h, Self::source(q), false);
                vec![
                    (Hook::FileOpen, self.file_verdict(q, FileHook::Open, &hit)),
                    (Hook::FilePermission, self.file_verdict(q, FileHook::Permission, &hit)),
                ]
            }
            Op::Open => vec![(Hook::FileOpen, self.decide(q))],
            Op::Socket => vec![(Hook::Socket, self.decide(q))],
            Op::Capable => vec![(Hook::Capable, self.decide(q))],
            op => vec![(Hook::Path(op), self.decide(q))],
        };
        let decision = hooks.iter().find(|(_, d)| d.deny).unwrap_or(hooks.last().expect("one hook at least")).1;
        Operation { decision, hooks }
    }

    /// Directory walk (decide.h armor_walk).
    fn walk(&self, h: &Hashed, src: u64, proc: bool) -> Option<Value> {
        let bit = if proc { EXEC } else { READ };
        let mut remembered = None;
        let mut current = None;
        for d in &h.dirs {
            current = None; // a non-recursive dir matches only the deepest prefix
            let k = Key { kind: KIND_PATH, len: d.len, path_a: d.a, path_b: d.b, source: src };
            let Some(v) = self.get(&k) else { break };
            let m = if proc { v.process } else { v.file };
            if m & DIR != 0 && m & bit != 0 {
                if m & RECURSIVE != 0 {
                    if m & HINT == 0 {
                        return Some(v);
                    }
                    remembered = Some(v);
                } else {
                    current = Some(v);
                }
                continue;
            }
            if proc && src == 0 && m & (DIR | EXEC | HINT) == 0 {
                break;
            }
        }
        remembered.or(current)
    }

    /// Lookup order: exact+source, walk+source, exact, execname (process), walk.
    fn lookup_path(&self, h: &Hashed, src: u64, proc: bool) -> Option<Hit> {
        let bit = if proc { EXEC } else { READ };
        let field = |v: &Value| if proc { v.process } else { v.file };
        let exact = |source| Key { kind: KIND_PATH, len: h.len, path_a: h.a, path_b: h.b, source };
        if src != 0 {
            if let Some(v) = self.get(&exact(src)).filter(|v| field(v) & bit != 0) {
                return Some(Hit { value: v, step: Step::ExactSource, source: src });
            }
            if let Some(v) = self.walk(h, src, proc) {
                return Some(Hit { value: v, step: Step::DirSource, source: src });
            }
        }
        if let Some(v) = self.get(&exact(0)).filter(|v| field(v) & bit != 0) {
            return Some(Hit { value: v, step: Step::Exact, source: 0 });
        }
        if proc {
            if let Some(v) = self.get(&h.base).filter(|v| v.process & EXEC != 0) {
                return Some(Hit { value: v, step: Step::Execname, source: 0 });
            }
        }
        self.walk(h, 0, proc).map(|v| Hit { value: v, step: Step::Dir, source: 0 })
    }

    fn posture(&self, category: u32) -> Option<u16> {
        self.get(&Key::number(KIND_POSTURE, category, None)).map(|v| {
            if v.process == POSTURE_BLOCK {
                POSTURE_BLOCK
            } else {
                POSTURE_AUDIT
            }
        })
    }

    fn unmatched(&self, category: u32) -> Decision {
        match self.posture(category) {
            None => Decision::new(false, false, By::Default, Step::None, u32::MAX),
            Some(p) => Decision::new(p == POSTURE_BLOCK, p == POSTURE_AUDIT, By::Posture, Step::None, u32::MAX),
        }
    }

    fn args_match(&self, q: &Query, h: &Hashed, src: u64) -> bool {
        q.args.iter().all(|arg| {
            let arg = &arg[..arg.len().min(MAX_ARG_LEN)];
            let k = Key { kind: KIND_ARG, len: arg.len() as u32, path_a: h.a, path_b: hash_a(arg), source: src };
            self.map.contains_key(&k)
        })
    }

    fn decide_exec(&self, q: &Query) -> Decision {
        self.decide_exec_args(q, true)
    }

    /// The bprm hook. `args_known`: whether argv is readable (the test-run harness); the live
    /// LSM hook cannot read the new image's argv, so allowedArgs never match there.
    fn decide_exec_args(&self, q: &Query, args_known: bool) -> Decision {
        let h = self.hashed(&q.path);
        let Some(hit) = self.lookup_path(&h, Self::source(q), true) else {
            return self.unmatched(POSTURE_PROCESS);
        };
        let m = hit.value.process;
        let args_ok = args_known && m & ARGSET != 0 && self.args_match(q, &h, hit.source);
        let deny = if args_ok {
            false
        } else if m & PTS != 0 && q.tty {
            true
        } else if m & OWNER != 0 {
            !q.owner || m & ARGSET != 0
        } else {
            m & DENY != 0 && m & PTS == 0
        };
        Decision::new(deny, false, By::Rule, hit.step, hit.value.rule)
    }

    /// One file hook's verdict (decide.h armor_file_verdict).
    fn file_verdict(&self, q: &Query, hook: FileHook, hit: &Option<Hit>) -> Decision {
        let Some(hit) = hit else { return self.unmatched(POSTURE_FILE) };
        let m = hit.value.file;
        let read_only = m & READ != 0 && m & WRITE == 0;
        let deny = if m & OWNER != 0 {
            !q.owner || (hook == FileHook::Permission && read_only)
        } else if hook == FileHook::Open && read_only {
            false
        } else if hook == FileHook::Permission && read_only {
            true
        } else if hook != FileHook::Permission && m & DENY != 0 {
            m & PTS == 0 || q.tty
        } else {
            m & PTS != 0 && q.tty
        };
        Decision::new(deny, false, By::Rule, hit.step, hit.value.rule)
    }

    fn decide_file(&self, q: &Query) -> Decision {
        let h = self.hashed(&q.path);
        let hit = self.lookup_path(&h, Self::source(q), false);
        match q.op {
            Op::Open => self.file_verdict(q, FileHook::Open, &hit),
            Op::Write => {
                // file_open, then file_permission(MAY_WRITE): denied if either denies
                let open = self.file_verdict(q, FileHook::Open, &hit);
                if open.deny {
                    return open;
                }
                self.file_verdict(q, FileHook::Permission, &hit)
            }
            _ => self.file_verdict(q, FileHook::Path, &hit),
        }
    }

    fn decide_net(&self, q: &Query) -> Decision {
        let p = net_protocol(q.sock_type, q.protocol);
        let src = Self::source(q);
        let mut tries = Vec::with_capacity(4);
        if src != 0 {
            tries.push((Key::number(KIND_NET_TYPE, q.sock_type, None), src, Step::TypeSource));
            tries.push((Key::number(KIND_NET_PROTO, p, None), src, Step::ProtoSource));
        }
        tries.push((Key::number(KIND_NET_TYPE, q.sock_type, None), 0, Step::Type));
        tries.push((Key::number(KIND_NET_PROTO, p, None), 0, Step::Proto));
        for (mut k, source, step) in tries {
            k.source = source;
            if let Some(v) = self.get(&k) {
                let m = v.process;
                let deny = if m & DENY != 0 {
                    m & PTS == 0 || q.tty
                } else {
                    m & PTS != 0 && q.tty && self.posture(POSTURE_NETWORK) == Some(POSTURE_BLOCK)
                };
                return Decision::new(deny, false, By::Rule, step, v.rule);
            }
        }
        self.unmatched(POSTURE_NETWORK)
    }

    fn decide_cap(&self, q: &Query) -> Decision {
        let src = Self::source(q);
        let mut k = Key::number(KIND_CAPABILITY, q.capability, None);
        if src != 0 {
            k.source = src;
            if let Some(v) = self.get(&k) {
                return Decision::new(v.process & DENY != 0, false, By::Rule, Step::CapSource, v.rule);
            }
            k.source = 0;
        }
        match self.get(&k) {
            Some(v) => Decision::new(v.process & DENY != 0, false, By::Rule, Step::Cap, v.rule),
            None => self.unmatched(POSTURE_CAPABILITY),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileHook {
    Open,
    Permission,
    Path,
}

/// Socket type/protocol as KubeArmor maps them before the protocol lookup (decide.h armor_proto).
pub fn net_protocol(sock_type: u32, proto: u32) -> u32 {
    match (sock_type, proto) {
        (1, 6 | 0) => 6,
        (2, 17 | 0) => 17,
        (2 | 3, 1 | 58) => proto,
        (1 | 5, 132 | 0) => 132,
        _ => proto,
    }
}

/// The fuzz target keeps one model in a static: it must stay shareable between threads.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Model>();
};

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: Key, process: u16, file: u16, rule: u32) -> Entry {
        Entry { key, value: Value { process, file, rule }, text: String::new() }
    }
    fn path(p: &str) -> Key {
        Key::path(KIND_PATH, p.as_bytes(), None)
    }
    fn q(op: Op, p: &str) -> Query {
        Query { path: p.as_bytes().to_vec(), ..Query::new(op) }
    }

    /// reference §3.11's worked image, in our key layout
    fn worked() -> Model {
        let cat = Some(&b"/bin/cat"[..]);
        let curl = Some(&b"/usr/bin/curl"[..]);
        let entries = vec![
            entry(path("/"), EXEC | RECURSIVE | HINT, READ | HINT | DENY, 0),
            entry(path("/usr/"), EXEC | RECURSIVE | HINT, 0, 0),
            entry(path("/usr/bin"), EXEC | RECURSIVE, 0, 0),
            entry(path("/usr/bin/"), EXEC | DIR | RECURSIVE, 0, 0),
            entry(path("/usr/bin/apt"), EXEC | DENY, 0, 1),
            entry(path("/etc"), 0, READ | DENY, 2),
            entry(path("/etc/"), 0, READ | DIR | DENY, 2),
            entry(Key::path(KIND_PATH, b"/secret.txt", cat), 0, READ | WRITE | OWNER, 3),
            entry(Key::number(KIND_NET_PROTO, 6, curl), DENY, 0, 4),
            entry(Key::number(KIND_CAPABILITY, 13, None), DENY, 0, 5),
            entry(Key::number(KIND_POSTURE, POSTURE_PROCESS, None), POSTURE_BLOCK, 0, u32::MAX),
            entry(Key::number(KIND_POSTURE, POSTURE_FILE, None), POSTURE_BLOCK, 0, u32::MAX),
        ];
        Model::new(&MapImage { target: "t".into(), entries, rules: vec![] })
    }

    #[test]
    fn worked_image_consequences() {
        let m = worked();
        let apt = m.decide(&q(Op::Exec, "/usr/bin/apt"));
        assert!(apt.deny);
        assert_eq!((apt.step, apt.rule), (Step::Exact, Some(1)));
        let ls = m.decide(&q(Op::Exec, "/usr/bin/ls"));
        assert!(!ls.deny);
        assert_eq!(ls.step, Step::Dir);
        let opt = m.decide(&q(Op::Exec, "/opt/x"));
        assert_eq!((opt.deny, opt.by), (true, By::Posture));
        // /etc/ is Block+readOnly (READ|DENY without WRITE): reads pass, writes and unlink fail
        assert!(!m.decide(&q(Op::Open, "/etc/passwd")).deny);
        assert!(m.decide(&q(Op::Write, "/etc/passwd")).deny);
        assert!(m.decide(&q(Op::Unlink, "/etc/passwd")).deny);
        let lib = m.decide(&q(Op::Open, "/lib/libc.so"));
        assert_eq!((lib.deny, lib.by), (true, By::Posture));
    }

    #[test]
    fn source_owner_net_cap() {
        let m = worked();
        let mut s = q(Op::Open, "/secret.txt");
        s.source = b"/bin/cat".to_vec();
        assert!(m.decide(&s).deny, "non-owner denied");
        s.owner = true;
        let d = m.decide(&s);
        assert_eq!((d.deny, d.step), (false, Step::ExactSource));
        let mut n = Query { sock_type: 1, protocol: 0, ..Query::new(Op::Socket) };
        assert_eq!(m.decide(&n).by, By::Default);
        n.source = b"/usr/bin/curl".to_vec();
        let d = m.decide(&n);
        assert_eq!((d.deny, d.step), (true, Step::ProtoSource));
        let c = Query { capability: 13, ..Query::new(Op::Capable) };
        assert!(m.decide(&c).deny);
    }

    #[test]
    fn word_roundtrip() {
        for d in [
            Decision::new(true, false, By::Rule, Step::DirSource, 7),
            Decision::new(false, true, By::Posture, Step::None, u32::MAX),
            Decision::new(false, false, By::Default, Step::None, u32::MAX),
        ] {
            assert_eq!(Decision::from_word(d.to_word()), Some(d));
        }
    }

    #[test]
    fn walk_rules() {
        let e = |p: &str, file: u16| entry(path(p), 0, file, 0);
        // non-recursive /a/ matches children only; recursive /r/ with a hint keeps walking
        let m = Model::new(&MapImage {
            target: "t".into(),
            entries: vec![
                e("/", READ | HINT),
                e("/a/", READ | DIR | DENY),
                e("/r/", READ | DIR | RECURSIVE | HINT),
                e("/r/s/", READ | DIR | DENY),
            ],
            rules: vec![],
        });
        assert!(m.decide(&q(Op::Unlink, "/a/x")).deny);
        assert_eq!(m.decide(&q(Op::Unlink, "/a/b/x")).by, By::Default);
        let d = m.decide(&q(Op::Unlink, "/r/s/x"));
        assert!(!d.deny, "remembered recursive beats the deeper non-recursive");
        assert_eq!(d.step, Step::Dir);
    }
}
