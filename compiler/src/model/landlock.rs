//! What Landlock decides for a real operation with a compiled plan applied (docs/landlock-plan.md,
//! "What the kernel checks, and what the model assumes"). Written from the kernel's documented
//! checks (security/landlock: which right each hook asks for, on which path), not from the
//! lowering: it reads only the plan. The loader's expansion (`runtime::landlock`) and `covers`
//! follow the same four rules of the `except` walk. Sockets: the plan's `network` part, as the
//! loader's cgroup program decides their creation (unless `unprivileged`) and Landlock decides
//! TCP connect and bind (Landlock ABI 4).

use crate::landlock::{Excluded, Grant, Plan, Right, IPPROTO_TCP, SOCK_STREAM};
use crate::model::{net_protocol, Op, Query, SocketCall};

/// The answer for one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub deny: bool,
    /// The layer that refused (index into `plan.layers`), the right it refused, and the path the
    /// kernel checked it on (the file, or its directory for entry operations).
    pub layer: Option<usize>,
    pub right: Option<Right>,
    /// A refused socket operation: its creation (the cgroup program) or a TCP connect or bind
    /// (Landlock).
    pub net: Option<NetCheck>,
    pub checked: String,
    /// The rule behind the refusal: the excluded path's rule, or the capability drop's rule.
    /// `None` for an allow-list layer (no grant covers the path) or an allowed operation.
    pub rule: Option<u32>,
}

impl Answer {
    fn allow() -> Answer {
        Answer { deny: false, layer: None, right: None, net: None, checked: String::new(), rule: None }
    }

    fn net(net: NetCheck, checked: String, rule: Option<u32>) -> Answer {
        Answer { deny: true, layer: None, right: None, net: Some(net), checked, rule }
    }
}

/// What refused a socket operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetCheck {
    /// `socket()`, by the loader's cgroup `sock_create` program.
    Socket,
    /// `connect()` of a TCP socket (`LANDLOCK_ACCESS_NET_CONNECT_TCP`).
    ConnectTcp,
    /// `bind()` of a TCP socket (`LANDLOCK_ACCESS_NET_BIND_TCP`).
    BindTcp,
}

impl NetCheck {
    pub fn name(self) -> &'static str {
        match self {
            NetCheck::Socket => "socket_create",
            NetCheck::ConnectTcp => "connect_tcp",
            NetCheck::BindTcp => "bind_tcp",
        }
    }

    /// The answer's `layer`: what refuses it.
    pub fn by(self) -> &'static str {
        match self {
            NetCheck::Socket => "socket program",
            NetCheck::ConnectTcp | NetCheck::BindTcp => "network tcp",
        }
    }
}

pub struct Model<'a> {
    plan: &'a Plan,
    /// The loader's cgroup socket program is attached (it runs as root).
    sockets: bool,
}

/// `/a/b` -> `/a`; `/a` -> `/`.
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The rights an operation needs and where: (right, path, the path is a directory).
fn needs(q: &Query) -> Vec<(Right, String, bool)> {
    let raw = String::from_utf8_lossy(&q.path);
    let is_dir = raw.len() > 1 && raw.ends_with('/');
    let path = if raw.len() > 1 { raw.trim_end_matches('/').to_string() } else { raw.to_string() };
    let dir = parent(&path).to_string();
    let on_dir = |r: Right| (r, dir.clone(), true);
    match q.op {
        Op::Exec => vec![(Right::Execute, path.clone(), false), (Right::ReadFile, path, false)],
        Op::Open if is_dir => vec![(Right::ReadDir, path, true)],
        Op::Open => vec![(Right::ReadFile, path, false)],
        Op::Write => vec![(Right::WriteFile, path, false)],
        Op::Truncate => vec![(Right::Truncate, path, false)],
        Op::Unlink => vec![on_dir(Right::RemoveFile)],
        Op::Rmdir => vec![on_dir(Right::RemoveDir)],
        Op::Mkdir => vec![on_dir(Right::MakeDir)],
        Op::Mknod | Op::Link => vec![on_dir(Right::MakeReg)],
        Op::Symlink => vec![on_dir(Right::MakeSym)],
        Op::Rename if is_dir => vec![on_dir(Right::RemoveDir), on_dir(Right::MakeDir)],
        Op::Rename => vec![on_dir(Right::RemoveFile), on_dir(Right::MakeReg)],
        // chmod: not controlled; sockets and capabilities: `decide`
        Op::Chmod | Op::Socket | Op::Capable => Vec::new(),
    }
}

/// `a` is a proper ancestor of `b` (both plan paths).
fn above(a: &str, b: &str) -> bool {
    a != b && (a == "/" || (b.starts_with(a) && b.as_bytes()[a.len()] == b'/'))
}

/// Whether an `except` grant covers `path`, walking from `/` as the loader does; `Err(rule)`
/// names the excluded path it is at, below, or on the way to.
fn except_covers(excluded: &[Excluded], path: &str, is_dir: bool) -> Result<(), u32> {
    let on_way_rule = || excluded.iter().find(|x| above(path, &x.path) || x.path == path).map_or(0, |x| x.rule);
    if path == "/" {
        return Err(on_way_rule());
    }
    let mut cur = "/";
    let mut ends = path[1..].match_indices('/').map(|(i, _)| i + 1).chain([path.len()]).peekable();
    while let Some(end) = ends.next() {
        let entry = &path[..end];
        let last = ends.peek().is_none();
        // 1. an excluded path, not shallow: nothing at or below it is granted
        if let Some(x) = excluded.iter().find(|x| !x.shallow && x.path == entry) {
            return Err(x.rule);
        }
        // 2. on the way (or a shallow excluded directory): no rule here, the walk goes on
        if excluded.iter().any(|x| above(entry, &x.path) || (x.shallow && x.path == entry)) {
            cur = entry;
            continue;
        }
        // 3. directly in a shallow excluded directory: only directories are granted
        if let Some(x) = excluded.iter().find(|x| x.shallow && x.path == cur) {
            let entry_is_dir = !last || is_dir;
            return if entry_is_dir { Ok(()) } else { Err(x.rule) };
        }
        // 4. anything else on the way's sides
        return Ok(());
    }
    Err(on_way_rule())
}

/// Whether `grant` gives `right` on `path`, or the rule of the exclusion that keeps it out.
fn covers(grant: &Grant, right: Right, path: &str, is_dir: bool) -> Result<(), Option<u32>> {
    if !grant.access().contains(&right) {
        return Err(None);
    }
    match grant {
        Grant::Beneath { path: p, .. } => (path == p || above(p, path)).then_some(()).ok_or(None),
        Grant::FilesIn { dir, .. } => (!is_dir && path != "/" && parent(path) == dir).then_some(()).ok_or(None),
        Grant::Except { excluded, .. } => except_covers(excluded, path, is_dir).map_err(Some),
    }
}

impl<'a> Model<'a> {
    /// What the loader enforces when it can attach its socket program (as root).
    pub fn new(plan: &'a Plan) -> Model<'a> {
        Model { plan, sockets: true }
    }

    /// What the loader enforces when it cannot (not root): Landlock only, no socket program.
    pub fn unprivileged(plan: &'a Plan) -> Model<'a> {
        Model { plan, sockets: false }
    }

    /// A socket's creation (the cgroup program), then its TCP connect or bind (Landlock). The
    /// socket is an IPv4 or IPv6 one; its protocol is resolved as the kernel does (a stream
    /// socket of protocol 0 is TCP).
    fn decide_socket(&self, q: &Query) -> Answer {
        let Some(net) = &self.plan.network else { return Answer::allow() };
        let protocol = net_protocol(q.sock_type, q.protocol);
        let rule = |t: u32, p: u32| net.entry(t, p).map(|r| r.rule);
        if self.sockets && net.refuses(q.sock_type, protocol) {
            let checked = format!("type {} protocol {protocol}", q.sock_type);
            return Answer::net(NetCheck::Socket, checked, rule(q.sock_type, protocol));
        }
        let tcp = q.sock_type == SOCK_STREAM && protocol == IPPROTO_TCP;
        let (check, port) = match q.call {
            Some(SocketCall::Connect(port)) => (NetCheck::ConnectTcp, port),
            Some(SocketCall::Bind(port)) => (NetCheck::BindTcp, port),
            None => return Answer::allow(),
        };
        if tcp && net.refuses_tcp() {
            return Answer::net(check, format!("port {port}"), rule(SOCK_STREAM, IPPROTO_TCP));
        }
        Answer::allow()
    }

    /// The decision for a real operation: every layer must grant every right the kernel asks for.
    pub fn decide(&self, q: &Query) -> Answer {
        if q.op == Op::Capable {
            return match self.plan.drop_capabilities.iter().find(|c| c.number == q.capability) {
                Some(c) => Answer { deny: true, rule: c.rule, ..Answer::allow() },
                None => Answer::allow(),
            };
        }
        if q.op == Op::Socket {
            return self.decide_socket(q);
        }
        for (right, path, is_dir) in needs(q) {
            for (at, layer) in self.plan.layers.iter().enumerate() {
                if !layer.handled.contains(&right) {
                    continue;
                }
                let mut blame = None;
                let granted = layer.grants.iter().any(|g| match covers(g, right, &path, is_dir) {
                    Ok(()) => true,
                    Err(rule) => {
                        blame = blame.or(rule);
                        false
                    }
                });
                if !granted {
                    return Answer {
                        deny: true,
                        layer: Some(at),
                        right: Some(right),
                        net: None,
                        checked: path,
                        rule: blame,
                    };
                }
            }
        }
        Answer::allow()
    }
}

/// The answer line of `armorc query --enforcer landlock`, fields in the documented order:
/// `{"decision":..,"rule":{"policy","at","file","line"}|null,"layer":..|null,"right":..|null,"checked":..|null}`.
pub fn answer_line(plan: &Plan, a: &Answer) -> String {
    let s = |v: &str| serde_json::Value::from(v).to_string();
    let rule = match a.rule.and_then(|r| plan.rules.get(r as usize)) {
        Some(r) => {
            format!(r#"{{"policy":{},"at":{},"file":{},"line":{}}}"#, s(&r.policy), s(&r.at), s(&r.file), r.line)
        }
        None => "null".into(),
    };
    let or_null = |v: Option<&str>| v.map_or("null".to_string(), s);
    format!(
        r#"{{"decision":"{}","rule":{rule},"layer":{},"right":{},"checked":{}}}"#,
        if a.deny { "deny" } else { "allow" },
        or_null(a.layer.map(|l| plan.layers[l].name.as_str()).or(a.net.map(NetCheck::by))),
        or_null(a.right.map(Right::name).or(a.net.map(NetCheck::name))),
        or_null((!a.checked.is_empty()).then_some(a.checked.as_str()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::landlock::{Layer, PLAN_VERSION};

    fn x(path: &str, shallow: bool, rule: u32) -> Excluded {
        Excluded { path: path.into(), shallow, rule }
    }

    #[test]
    fn except_walk() {
        let ex = [x("/etc/shadow", false, 0), x("/usr/bin", true, 1), x("/usr/bin/sub/deep", false, 2)];
        let c = |p: &str, d: bool| except_covers(&ex, p, d);
        assert_eq!(c("/etc/shadow", false), Err(0));
        assert_eq!(c("/etc/hosts", false), Ok(()));
        assert_eq!(c("/etc", true), Err(0), "on the way: no rule");
        assert_eq!(c("/", true), Err(0));
        assert_eq!(c("/tmp/x", false), Ok(()));
        assert_eq!(c("/usr/lib/x", false), Ok(()));
        assert_eq!(c("/usr/bin/ls", false), Err(1), "a file directly in a shallow directory");
        assert_eq!(c("/usr/bin/dir", true), Ok(()), "a directory in it is granted");
        assert_eq!(c("/usr/bin/dir/f", false), Ok(()));
        assert_eq!(c("/usr/bin/sub/other", false), Ok(()), "sub is on the way to deep: its other entries");
        assert_eq!(c("/usr/bin/sub/deep/f", false), Err(2));
        assert_eq!(c("/usr/bin/sub", true), Err(2), "on the way to deep");
        assert_eq!(c("/etc/shadow2", false), Ok(()), "a name prefix is not a path prefix");
    }

    #[test]
    fn operations_check_the_right_path() {
        let plan = Plan {
            version: PLAN_VERSION,
            target: "t".into(),
            abi: 2,
            layers: vec![Layer {
                name: "allow-list file".into(),
                handled: vec![Right::ReadFile, Right::RemoveFile, Right::Refer],
                grants: vec![
                    Grant::Beneath {
                        path: "/data".into(),
                        access: vec![Right::ReadFile, Right::RemoveFile],
                        rule: None,
                    },
                    Grant::FilesIn { dir: "/etc".into(), access: vec![Right::ReadFile], rule: None },
                ],
            }],
            drop_capabilities: vec![],
            network: None,
            rules: vec![],
        };
        let m = Model::new(&plan);
        let q = |op: Op, p: &str| Query { path: p.as_bytes().to_vec(), ..Query::new(op) };
        assert!(!m.decide(&q(Op::Open, "/data/a/b")).deny);
        assert!(!m.decide(&q(Op::Open, "/etc/hosts")).deny);
        assert!(m.decide(&q(Op::Open, "/etc/ssl/x")).deny, "files_in: only files directly in the dir");
        assert!(!m.decide(&q(Op::Unlink, "/data/a/b")).deny);
        let a = m.decide(&q(Op::Unlink, "/etc/hosts"));
        assert!(a.deny);
        assert_eq!((a.checked.as_str(), a.right), ("/etc", Some(Right::RemoveFile)));
        // execute is not handled here, but the exec's open of the binary asks for read_file
        assert_eq!(m.decide(&q(Op::Exec, "/bin/x")).right, Some(Right::ReadFile));
        assert!(!m.decide(&q(Op::Exec, "/data/x")).deny);
    }

    #[test]
    fn sockets_and_tcp() {
        use crate::landlock::{Network, SocketRule, Verdict};
        let rule = |number, verdict, rule| SocketRule { number, verdict, rule };
        let mut plan = Plan {
            version: PLAN_VERSION,
            target: "t".into(),
            abi: 0,
            layers: vec![],
            drop_capabilities: vec![],
            network: Some(Network {
                types: vec![rule(3, Verdict::Deny, 0)],
                protocols: vec![rule(6, Verdict::Deny, 1), rule(17, Verdict::Deny, 2)],
                default: Verdict::Allow,
            }),
            rules: vec![],
        };
        let sock = |t: u32, p: u32, call: Option<SocketCall>| Query {
            sock_type: t,
            protocol: p,
            call,
            ..Query::new(Op::Socket)
        };
        let (full, landlock_only) = (Model::new(&plan), Model::unprivileged(&plan));
        let a = full.decide(&sock(2, 0, None));
        assert_eq!((a.deny, a.net, a.rule), (true, Some(NetCheck::Socket), Some(2)), "udp: the protocol 0 resolved");
        assert!(!landlock_only.decide(&sock(2, 0, None)).deny, "no socket program: udp allowed");
        assert_eq!(full.decide(&sock(3, 17, None)).rule, Some(0), "the type is looked up first");
        assert!(!landlock_only.decide(&sock(1, 0, None)).deny, "creating a TCP socket");
        let a = landlock_only.decide(&sock(1, 0, Some(SocketCall::Connect(80))));
        assert_eq!((a.deny, a.net, a.checked.as_str(), a.rule), (true, Some(NetCheck::ConnectTcp), "port 80", Some(1)));
        assert_eq!(landlock_only.decide(&sock(1, 6, Some(SocketCall::Bind(0)))).net, Some(NetCheck::BindTcp));
        assert!(!landlock_only.decide(&sock(1, 132, Some(SocketCall::Connect(80)))).deny, "SCTP is not TCP");
        assert!(!landlock_only.decide(&sock(2, 0, Some(SocketCall::Connect(53)))).deny, "UDP connect");
        let line = answer_line(&plan, &landlock_only.decide(&sock(1, 0, Some(SocketCall::Connect(80)))));
        assert!(line.contains(r#""layer":"network tcp","right":"connect_tcp","checked":"port 80""#), "{line}");
        // an allow-list of udp: TCP refused by the default
        plan.network =
            Some(Network { types: vec![], protocols: vec![rule(17, Verdict::Allow, 0)], default: Verdict::Deny });
        let m = Model::unprivileged(&plan);
        assert_eq!(m.decide(&sock(1, 0, Some(SocketCall::Connect(80)))).rule, None);
        assert!(!Model::new(&plan).decide(&sock(2, 17, None)).deny);
        assert!(Model::new(&plan).decide(&sock(3, 1, None)).deny);
    }
}
