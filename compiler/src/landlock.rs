//! The Landlock ruleset plan: what `armorc compile --target landlock` writes per target and
//! `armor-loader exec --lsm landlock` applies (docs/landlock-plan.md). A plan is a list of
//! Landlock layers (each one `landlock_create_ruleset` + rules + `landlock_restrict_self`), plus
//! the capabilities to drop. Grants that name directories to enumerate (`files_in`, `except`) are
//! expanded by the loader at apply time, inside the target's filesystem. The optional `network`
//! part is the target's socket decisions: Landlock refuses TCP connect and bind where they are
//! refused (ABI 4), the loader's cgroup `sock_create` program refuses creating the sockets.

use serde::{Deserialize, Serialize};

/// The plan format version this build reads and writes.
pub const PLAN_VERSION: u32 = 1;
/// Layers a plan may hold: Landlock stacks at most 16 per process; some are left to the runtime.
pub const MAX_LAYERS: usize = 8;
/// Grants per layer and excluded paths per `except` grant (bounded work for the loader).
pub const MAX_GRANTS: usize = 4096;
/// The first Landlock ABI with network rights (`LANDLOCK_ACCESS_NET_BIND_TCP`, `CONNECT_TCP`).
pub const NET_ABI: u32 = 4;
/// Socket types (SOCK_*) and protocols (IPPROTO_*) a network part may name: those of
/// KubeArmor's `matchProtocols` (docs/landlock-plan.md, "Network").
pub const SOCKET_TYPES: [u32; 7] = [1, 2, 3, 4, 5, 6, 10];
pub const SOCKET_PROTOCOLS: [u32; 5] = [1, 6, 17, 58, 132];
/// SOCK_STREAM and IPPROTO_TCP: the sockets Landlock's network rights control.
pub const SOCK_STREAM: u32 = 1;
pub const IPPROTO_TCP: u32 = 6;

/// A Landlock filesystem access right (`LANDLOCK_ACCESS_FS_*`), by its kernel name in lower case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Right {
    Execute,
    WriteFile,
    ReadFile,
    ReadDir,
    RemoveDir,
    RemoveFile,
    MakeChar,
    MakeDir,
    MakeReg,
    MakeSock,
    MakeFifo,
    MakeBlock,
    MakeSym,
    Refer,
    Truncate,
}

impl Right {
    pub const ALL: [Right; 15] = [
        Right::Execute,
        Right::WriteFile,
        Right::ReadFile,
        Right::ReadDir,
        Right::RemoveDir,
        Right::RemoveFile,
        Right::MakeChar,
        Right::MakeDir,
        Right::MakeReg,
        Right::MakeSock,
        Right::MakeFifo,
        Right::MakeBlock,
        Right::MakeSym,
        Right::Refer,
        Right::Truncate,
    ];

    /// The kernel's bit (`1 << n` in the order of linux/landlock.h).
    pub fn bit(self) -> u64 {
        1 << (Right::ALL.iter().position(|&r| r == self).expect("ALL lists every right") as u64)
    }

    /// The first Landlock ABI version that knows the right.
    pub fn abi(self) -> u32 {
        match self {
            Right::Refer => 2,
            Right::Truncate => 3,
            _ => 1,
        }
    }

    /// Rights a rule on a non-directory may carry (the kernel refuses others there).
    pub fn applies_to_files(self) -> bool {
        matches!(self, Right::Execute | Right::WriteFile | Right::ReadFile | Right::Truncate)
    }

    pub fn name(self) -> &'static str {
        match self {
            Right::Execute => "execute",
            Right::WriteFile => "write_file",
            Right::ReadFile => "read_file",
            Right::ReadDir => "read_dir",
            Right::RemoveDir => "remove_dir",
            Right::RemoveFile => "remove_file",
            Right::MakeChar => "make_char",
            Right::MakeDir => "make_dir",
            Right::MakeReg => "make_reg",
            Right::MakeSock => "make_sock",
            Right::MakeFifo => "make_fifo",
            Right::MakeBlock => "make_block",
            Right::MakeSym => "make_sym",
            Right::Refer => "refer",
            Right::Truncate => "truncate",
        }
    }
}

/// One target's plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub version: u32,
    /// `<namespace>/<workload>/<container>` or `host`.
    pub target: String,
    /// The lowest Landlock ABI that has every right the layers handle (0: nothing to apply).
    pub abi: u32,
    pub layers: Vec<Layer>,
    /// Capabilities removed from the bounding, inheritable and ambient sets before the exec.
    pub drop_capabilities: Vec<DropCapability>,
    /// The target's socket decisions; absent when it refuses no socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// The rules grants and drops name (`rule` fields index it).
    pub rules: Vec<RuleInfo>,
}

/// Which sockets a target may create, as BPF-LSM decides it without `fromSource` entries
/// (bpf/decide.h `armor_decide_net`): the socket's type, else its protocol, else `default`.
/// Enforced by the loader's cgroup `sock_create` program (privileged); where a TCP socket is
/// refused, Landlock also refuses TCP connect and bind (`Network::refuses_tcp`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// SOCK_* numbers, each at most once.
    pub types: Vec<SocketRule>,
    /// IPPROTO_* numbers as the kernel resolves them (a stream socket of protocol 0 is TCP),
    /// each at most once.
    pub protocols: Vec<SocketRule>,
    /// What a socket no entry names gets.
    pub default: Verdict,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketRule {
    pub number: u32,
    pub verdict: Verdict,
    pub rule: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Deny,
}

impl Network {
    /// The entry deciding a socket of `sock_type` and (resolved) `protocol`, if one does.
    pub fn entry(&self, sock_type: u32, protocol: u32) -> Option<&SocketRule> {
        let by_type = self.types.iter().find(|r| r.number == sock_type);
        by_type.or_else(|| self.protocols.iter().find(|r| r.number == protocol))
    }

    /// Whether a socket of `sock_type` and (resolved) `protocol` is refused.
    pub fn refuses(&self, sock_type: u32, protocol: u32) -> bool {
        self.entry(sock_type, protocol).map_or(self.default, |r| r.verdict) == Verdict::Deny
    }

    /// Whether TCP sockets are refused: then Landlock refuses TCP connect and bind too.
    pub fn refuses_tcp(&self) -> bool {
        self.refuses(SOCK_STREAM, IPPROTO_TCP)
    }
}

/// One `landlock_create_ruleset`: the rights it handles are denied except where a grant allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// What the layer is for: `deny execute`, `allow-list process`, ...
    pub name: String,
    pub handled: Vec<Right>,
    pub grants: Vec<Grant>,
}

/// What a layer allows. Paths are absolute, without a trailing `/`, `.` or `..` components.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Grant {
    /// A rule on `path` (a file, or a directory and everything beneath it) when it exists at
    /// apply time; a missing path is reported and skipped.
    Beneath { path: String, access: Vec<Right>, rule: Option<u32> },
    /// A rule on each entry of `dir` that is not a directory, as found at apply time.
    FilesIn { dir: String, access: Vec<Right>, rule: Option<u32> },
    /// Rules on everything that is not on the way to an excluded path: walking from `/` towards
    /// each excluded path, every other entry of each directory passed gets a rule. Entries below
    /// a `shallow` excluded directory that are directories get a rule too (only its files stay
    /// excluded). Symbolic links are never followed or granted.
    Except { access: Vec<Right>, excluded: Vec<Excluded> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Excluded {
    pub path: String,
    pub shallow: bool,
    pub rule: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropCapability {
    /// Lower case, without `cap_` (`net_raw`).
    pub name: String,
    pub number: u32,
    /// The Block rule, or `None` for a capability outside an allow-list.
    pub rule: Option<u32>,
}

/// A policy rule as alerts and answers name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInfo {
    /// `<kind>/<namespace or ->/<name>`
    pub policy: String,
    /// `spec.file.matchPaths[0]`
    pub at: String,
    pub file: String,
    pub line: usize,
    /// `Block`, `Allow` or `Audit`.
    pub action: String,
}

impl Grant {
    pub fn access(&self) -> &[Right] {
        match self {
            Grant::Beneath { access, .. } | Grant::FilesIn { access, .. } | Grant::Except { access, .. } => access,
        }
    }
}

impl Plan {
    /// The plan as written to OUT: pretty JSON with a final newline.
    pub fn encode(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("plans are JSON");
        text.push('\n');
        text
    }

    /// Reads a plan strictly: the version, every path, every rule index and the limits are
    /// checked, so the loader never walks a path it did not mean to.
    pub fn decode(bytes: &[u8]) -> Result<Plan, PlanError> {
        let plan: Plan = serde_json::from_slice(bytes)?;
        if plan.version != PLAN_VERSION {
            return Err(PlanError::Version(plan.version));
        }
        if plan.layers.len() > MAX_LAYERS {
            return Err(PlanError::TooManyLayers(plan.layers.len()));
        }
        let rule_ok = |r: u32| (r as usize) < plan.rules.len();
        let mut abi = 0;
        for layer in &plan.layers {
            if layer.handled.is_empty() {
                return Err(PlanError::NothingHandled { layer: layer.name.clone() });
            }
            abi = layer.handled.iter().map(|r| r.abi()).fold(abi, u32::max);
            if layer.grants.len() > MAX_GRANTS {
                return Err(PlanError::TooManyGrants { layer: layer.name.clone(), grants: layer.grants.len() });
            }
            for grant in &layer.grants {
                if let Some(r) = grant.access().iter().find(|r| !layer.handled.contains(r)) {
                    return Err(PlanError::NotHandled { layer: layer.name.clone(), right: r.name() });
                }
                match grant {
                    Grant::Beneath { path, rule, .. } | Grant::FilesIn { dir: path, rule, .. } => {
                        check_path(path)?;
                        if rule.is_some_and(|r| !rule_ok(r)) {
                            return Err(PlanError::RuleOutOfRange { path: path.clone() });
                        }
                    }
                    Grant::Except { excluded, .. } => {
                        if excluded.is_empty() || excluded.len() > MAX_GRANTS {
                            return Err(PlanError::ExceptSize { layer: layer.name.clone() });
                        }
                        for x in excluded {
                            check_path(&x.path)?;
                            if x.path == "/" {
                                return Err(PlanError::RootExcluded);
                            }
                            if !rule_ok(x.rule) {
                                return Err(PlanError::RuleOutOfRange { path: x.path.clone() });
                            }
                        }
                    }
                }
            }
        }
        if abi != plan.abi {
            return Err(PlanError::Abi { plan: plan.abi, needed: abi });
        }
        if let Some(net) = &plan.network {
            for (list, known, what) in
                [(&net.types, &SOCKET_TYPES[..], "socket type"), (&net.protocols, &SOCKET_PROTOCOLS[..], "protocol")]
            {
                for (i, r) in list.iter().enumerate() {
                    if !known.contains(&r.number) || list[..i].iter().any(|o| o.number == r.number) {
                        return Err(PlanError::BadSocketRule { what, number: r.number });
                    }
                    if !rule_ok(r.rule) {
                        return Err(PlanError::RuleOutOfRange { path: format!("{what} {}", r.number) });
                    }
                }
            }
        }
        for cap in &plan.drop_capabilities {
            if cap.number > 63 || cap.rule.is_some_and(|r| !rule_ok(r)) {
                return Err(PlanError::BadCapability(cap.name.clone()));
            }
        }
        Ok(plan)
    }
}

/// Why `Plan::decode` (or `check_path`) refuses a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("not a Landlock plan: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("Landlock plan version {0} (this build reads {PLAN_VERSION})")]
    Version(u32),
    #[error("{0} layers, more than {MAX_LAYERS}")]
    TooManyLayers(usize),
    #[error("layer `{layer}` handles no right")]
    NothingHandled { layer: String },
    #[error("layer `{layer}` has {grants} grants, more than {MAX_GRANTS}")]
    TooManyGrants { layer: String, grants: usize },
    #[error("layer `{layer}` grants {right} without handling it")]
    NotHandled { layer: String, right: &'static str },
    #[error("{path}: rule index out of range")]
    RuleOutOfRange { path: String },
    #[error("layer `{layer}`: an except grant needs 1..={MAX_GRANTS} paths")]
    ExceptSize { layer: String },
    #[error("`/` cannot be excluded")]
    RootExcluded,
    #[error("abi {plan} but the handled rights need {needed}")]
    Abi { plan: u32, needed: u32 },
    #[error("capability {0}: bad number or rule")]
    BadCapability(String),
    #[error("network: {what} {number} unknown or named twice")]
    BadSocketRule { what: &'static str, number: u32 },
    #[error("bad path in Landlock plan: {0:?}")]
    BadPath(String),
}

/// Plan paths: absolute, no empty, `.` or `..` component, no trailing `/` (but `/` itself), no NUL.
pub fn check_path(path: &str) -> Result<(), PlanError> {
    let ok = path == "/"
        || (path.starts_with('/')
            && !path.ends_with('/')
            && !path.contains('\0')
            && path.len() <= crate::image::MAX_PATH
            && path[1..].split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
    if ok {
        Ok(())
    } else {
        Err(PlanError::BadPath(path.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(network: &str) -> String {
        format!(
            r#"{{"version":1,"target":"t","abi":0,"layers":[],"drop_capabilities":[],"network":{network},
               "rules":[{{"policy":"p","at":"a","file":"f","line":1,"action":"Block"}}]}}"#
        )
    }

    #[test]
    fn network_part_is_checked() {
        let ok = plan(r#"{"types":[{"number":2,"verdict":"deny","rule":0}],"protocols":[],"default":"allow"}"#);
        let net = Plan::decode(ok.as_bytes()).unwrap().network.unwrap();
        assert!(net.refuses(2, 17) && !net.refuses_tcp());
        for (network, why) in [
            (r#"{"types":[{"number":9,"verdict":"deny","rule":0}],"protocols":[],"default":"allow"}"#, "socket type 9"),
            (
                r#"{"types":[],"protocols":[{"number":6,"verdict":"deny","rule":0},{"number":6,"verdict":"allow","rule":0}],"default":"allow"}"#,
                "protocol 6 unknown or named twice",
            ),
            (r#"{"types":[],"protocols":[{"number":6,"verdict":"deny","rule":1}],"default":"allow"}"#, "out of range"),
            (r#"{"types":[],"protocols":[],"default":"maybe"}"#, "unknown variant"),
            (r#"{"types":[],"protocols":[],"default":"deny","tcp":true}"#, "unknown field"),
        ] {
            let e = Plan::decode(plan(network).as_bytes()).unwrap_err().to_string();
            assert!(e.contains(why), "{network}: {e}");
        }
    }
}
